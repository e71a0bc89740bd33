"""Helper threads kept for work numhess splits itself (the support sweeps' chunks): a
thread started and joined per call cost 125 us, a hand-off to a waiting one 15 us.

The work must release the GIL to run in parallel (the Numba kernels do). Helpers are
daemon threads, started when first needed; a forked child has none of its parent's
threads, so it forgets them and starts its own.
"""
import os
import queue
import threading

_jobs = queue.SimpleQueue()
_lock = threading.Lock()
_helpers = []


def _serve():
    while True:
        run, w, done = _jobs.get()
        try:
            run(w)
            err = None
        except BaseException as e:      # handed to the caller, raised in its thread
            err = e
        # dropped before the caller goes on: kept until the next job, the closure held
        # its buffers (a support sweep's Hessian, cotangents and values: 43 MB at 333 atoms)
        run = None
        done.put(err)
        err = None


def _forget():
    global _jobs, _helpers
    _jobs, _helpers = queue.SimpleQueue(), []


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget)


def run_all(run, count):
    """run(0), ..., run(count - 1): this thread runs run(0), helpers the others. An
    exception in any is raised here, after all have finished."""
    if count > 1:
        with _lock:
            while len(_helpers) < count - 1:
                t = threading.Thread(target=_serve, daemon=True, name="numhess-helper")
                t.start()
                _helpers.append(t)
    done = queue.SimpleQueue()
    for w in range(1, count):
        _jobs.put((run, w, done))
    errors = []
    try:
        run(0)
    except BaseException as err:
        errors.append(err)
    for _ in range(1, count):
        err = done.get()
        if err is not None:
            errors.append(err)
    if errors:
        raise errors[0]
