"""Concurrency and long-running use: one transformed function shared by threads, thread and
process pools (fork, forkserver, spawn), and no growth in memory over many calls.

The functions live in tests/workers.py so that spawned workers can import them.
"""
import concurrent.futures as cf
import gc
import multiprocessing as mp
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import numhess as nh
import workers

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _assert_hessians(results, xs):
    for H, x in zip(results, xs):
        np.testing.assert_allclose(H, workers.energy_hessian_reference(x), rtol=1e-12,
                                   atol=1e-12)


# ---------------------------------------------------------------- threads
def test_one_hessian_object_called_from_many_threads_at_once():
    H = nh.hessian(workers.energy)
    g = nh.grad(workers.energy)
    hv = nh.hvp(workers.energy)
    # both branches of the guard, and two input sizes: threads retrace and replay at once
    xs = workers.points(40, 9, seed=1) + workers.points(40, 5, seed=2)
    start = threading.Barrier(8)
    out = {}
    errors = []

    def work(t):
        try:
            start.wait()
            for i in range(t, len(xs), 8):
                x = xs[i]
                out[i] = H(x), g(x), hv(x, np.ones_like(x))
        except Exception as err:     # pragma: no cover
            errors.append(err)
    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(out) == len(xs)
    for i, x in enumerate(xs):
        Href = workers.energy_hessian_reference(x)
        np.testing.assert_allclose(out[i][0], Href, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(out[i][2], Href @ np.ones_like(x), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(out[i][1], nh.grad(workers.energy)(x), rtol=1e-14)


def test_a_constraint_shared_by_threads():
    """Solves in threads may share one constraint: its kept replays are updated under a
    lock (another thread's eviction between two steps had raised KeyError)."""
    con = nh.constraint(lambda x: np.stack([np.prod(x), np.sum(x ** 2)]), [25, 40],
                        [np.inf, 40])
    con.fun(np.ones(4))

    def work(seed):
        rng = np.random.default_rng(seed)
        for _ in range(3000):
            x = rng.uniform(1, 5, 4)
            np.testing.assert_allclose(con.jac(x), [np.prod(x) / x, 2 * x], rtol=1e-13)
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)       # switch threads often: the race's window is small
    try:
        with cf.ThreadPoolExecutor(4) as pool:
            list(pool.map(work, range(4)))
    finally:
        sys.setswitchinterval(interval)


def test_inside_a_thread_pool_executor():
    H = nh.hessian(workers.energy)
    xs = workers.points(64, 8, seed=3)
    with cf.ThreadPoolExecutor(max_workers=6) as ex:
        results = list(ex.map(H, xs))
    _assert_hessians(results, xs)


def test_threads_through_the_parallel_driver(monkeypatch):
    # make the prange driver run for a small problem, then call it from several threads
    import numba
    from numhess import drivers, supports
    monkeypatch.setattr(supports, "MIN_N", 10 ** 9)     # the chunked sweeps, always
    xs = workers.points(6, 60, seed=4)
    serial = [nh.hessian(workers.dense)(x) for x in xs]
    monkeypatch.setattr(drivers, "PARALLEL_MIN_WORK", 1)
    H = nh.hessian(workers.dense)      # plans are kept with the tape: a fresh one
    with cf.ThreadPoolExecutor(max_workers=3) as ex:
        parallel = list(ex.map(H, xs))
    assert numba.threading_layer()     # a parallel region has run
    for a, b in zip(parallel, serial):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_recycled_value_buffers(monkeypatch):
    """Value buffers of large tapes are reused between calls (RECYCLE_MIN lowered so these
    small ones are): never while a result of the call that filled one is held, and never
    by two threads at once."""
    from numhess import traced
    monkeypatch.setattr(traced, "RECYCLE_MIN", 1)
    tf = traced.TracedFunction(lambda x: np.sum(np.sin(x) * x ** 2))
    x1, x2 = workers.points(2, 9, seed=6)
    held = tf.evaluate((x1,))
    before = held.vals.copy()
    other = tf.evaluate((x2,))
    assert other.vals is not held.vals
    np.testing.assert_array_equal(held.vals, before)      # untouched by the second call
    spare = id(other.vals)
    del held, other
    again = tf.evaluate((x1,))
    assert id(again.vals) == spare        # dropped, then handed out again
    np.testing.assert_array_equal(again.vals, before)
    H = nh.hessian(workers.energy)
    xs = workers.points(64, 9, seed=7)
    with cf.ThreadPoolExecutor(max_workers=6) as ex:
        results = list(ex.map(H, xs))
    _assert_hessians(results, xs)


def test_recycled_value_buffers_keep_their_constants(monkeypatch):
    """A recycled value buffer keeps the constants its first forward sweep wrote, and
    the calls after it do not write them again (nothing else writes there)."""
    from numhess import traced
    monkeypatch.setattr(traced, "RECYCLE_MIN", 1)
    w = np.linspace(1.0, 2.0, 9)
    f = lambda x: np.sum(np.sin(x) * w) + x @ (w * x)
    g, H = nh.grad(f), nh.hessian(f)
    for x in workers.points(3, 9, seed=8):
        for _ in range(2):
            np.testing.assert_allclose(g(x), np.cos(x) * w + 2 * w * x, rtol=1e-13)
            np.testing.assert_allclose(H(x), np.diag(2 * w - np.sin(x) * w), rtol=1e-13,
                                       atol=1e-13)
    (entries,) = g.traced.cache.values()
    tape, calls = entries[0].tape, []
    real = tape.run_forward
    monkeypatch.setattr(tape, "run_forward",
                        lambda *a: calls.append(a[3]) or real(*a))
    g(x)
    assert calls == [False]     # the spare, with its constants
    np.testing.assert_array_equal(entries[0].spare[tape.cpos], tape.fpool)


# ---------------------------------------------------------------- processes
@pytest.mark.slow
@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_process_pool(method):
    if method not in mp.get_all_start_methods():
        pytest.skip(f"{method} is not available here")
    xs = workers.points(4, 7, seed=5)
    with cf.ProcessPoolExecutor(2, mp_context=mp.get_context(method)) as ex:
        results = list(ex.map(workers.hessian_in_worker, xs, timeout=300))
    _assert_hessians(results, xs)


FORK_SCRIPT = """
import concurrent.futures as cf, multiprocessing as mp, sys
import numpy as np
sys.path.insert(0, {here!r})
import workers
from numhess import drivers
xs = workers.points(4, 7, seed=6)
dense_xs = workers.points(2, 40, seed=7)
workers.ENERGY_HESSIAN(xs[0])     # the parent has traced and compiled (serial) before it forks
drivers.PARALLEL_MIN_WORK = 1     # the workers run the prange driver
if {parallel_first}:              # and so has the parent, before it forks
    workers.DENSE_HESSIAN(np.linspace(-1, 1, 50))
with cf.ProcessPoolExecutor(2, mp_context=mp.get_context("fork")) as ex:
    results = list(ex.map(workers.hessian_in_worker, xs, timeout=120))
    dense = list(ex.map(workers.dense_hessian_in_worker, dense_xs, timeout=120))
for H, x in zip(results, xs):
    np.testing.assert_allclose(H, workers.energy_hessian_reference(x), rtol=1e-12, atol=1e-12)
for H, x in zip(dense, dense_xs):
    np.testing.assert_allclose(H, workers.DENSE_HESSIAN(x), rtol=1e-12, atol=1e-12)
print("fork ok")
"""


def _fork_pool(parallel_first):
    """A fork pool in a fresh interpreter: whether forking is safe depends on what this
    process's threading layer has done before, so the test process itself is no place."""
    script = FORK_SCRIPT.format(here=HERE, parallel_first=parallel_first)
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], capture_output=True,
                       text=True, timeout=600, env=env)
    assert r.returncode == 0 and "fork ok" in r.stdout, r.stdout + r.stderr


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="no fork here")
def test_fork_pool():
    _fork_pool(parallel_first=False)


@pytest.mark.skipif("fork" not in mp.get_all_start_methods(), reason="no fork here")
def test_fork_pool_after_the_parallel_driver_ran():
    _fork_pool(parallel_first=True)


# ---------------------------------------------------------------- memory
def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_no_memory_growth_over_100000_calls_at_new_points():
    f = workers.guarded     # two tapes, one per branch, both kept in the cache
    H, g, hv = nh.hessian(f), nh.grad(f), nh.hvp(f)
    rng = np.random.default_rng(7)
    xs = rng.uniform(-1, 1, (100_000, 6))
    v = np.ones(6)

    def run(batch):
        for i, x in enumerate(batch):
            H(x)
            if i % 8 == 0:
                g(x)
                hv(x, v)
    run(xs[:2000])                        # warm up: both branches traced, buffers made
    gc.collect()
    blocks0, rss0 = sys.getallocatedblocks(), _rss_bytes()
    run(xs[2000:])
    gc.collect()
    blocks1, rss1 = sys.getallocatedblocks(), _rss_bytes()
    # Python objects (sys.getallocatedblocks) and everything else, NumPy and Numba buffers
    # included (the resident set): a leak of 100 bytes a call would show as 9.8 MB
    assert blocks1 - blocks0 < 2000, f"{blocks1 - blocks0} more Python blocks"
    assert rss1 - rss0 < 8 * 2 ** 20, f"RSS grew by {(rss1 - rss0) / 2 ** 20:.1f} MiB"
    assert H.traced.n_traces <= 2


def test_the_tape_cache_is_bounded():
    # every sign pattern of x is a different traced mask, so a different tape
    def f(x):
        return np.sum(x[x > 0] ** 3) + np.sum(x ** 2)
    g = nh.grad(f)
    tf = g.traced
    rng = np.random.default_rng(8)
    for x in rng.uniform(-1, 1, (600, 10)):
        np.testing.assert_allclose(g(x), 3 * x ** 2 * (x > 0) + 2 * x)
    assert tf.n_traces > tf.maxsize
    assert sum(len(v) for v in tf.cache.values()) <= tf.maxsize


def _calls(n):
    f = lambda x: np.sum(np.sin(x) * x ** 2) + x[0] * x[-1]
    x, v = np.linspace(0.1, 1.0, n), np.cos(np.arange(n))
    return {"grad": lambda g=nh.grad(f): g(x), "hvp": lambda h=nh.hvp(f): h(x, v),
            "hessian": lambda H=nh.hessian(f): H(x),
            "jacrev": lambda J=nh.jacrev(lambda x: np.sin(x[:3]) * x[-1]): J(x)}


@pytest.mark.parametrize("n", [5, 5000])      # work buffers fresh, and from the pool
@pytest.mark.parametrize("name", ["grad", "hvp", "hessian", "jacrev"])
def test_an_interrupted_call_keeps_no_work_buffer(name, n, monkeypatch):
    """A call interrupted after its sweep (a KeyboardInterrupt before the driver has
    cleaned its buffers) gives them back to no one: the next call is still right."""
    from numhess import kernels as K
    call = _calls(n)[name]
    want = call()
    sweeps = []

    def interrupting(kernel):    # the forward sweep runs; the next one is interrupted
        def run(*args):
            kernel(*args)
            sweeps.append(kernel)
            if len(sweeps) == 2:
                raise KeyboardInterrupt
        return run
    for kernels in (K.LEAN, K.PLAIN, K.FULL):
        for kname, kernel in vars(kernels).items():
            monkeypatch.setattr(kernels, kname, interrupting(kernel))
    with pytest.raises(KeyboardInterrupt):
        call()
    monkeypatch.undo()
    np.testing.assert_allclose(call(), want, rtol=1e-13, atol=1e-13)


def test_helper_threads_run_raise_and_survive_a_fork():
    from numhess import threads
    got = [None] * 3
    threads.run_all(lambda w: got.__setitem__(w, w * w), 3)
    assert got == [0, 1, 4]

    def fail(w):
        if w == 1:
            raise KeyError("helper")
    with pytest.raises(KeyError, match="helper"):
        threads.run_all(fail, 2)
    script = textwrap.dedent("""
        import multiprocessing as mp
        from numhess import threads
        def square(q):
            got = [0, 0]
            threads.run_all(lambda w: got.__setitem__(w, w + 1), 2)   # new helpers
            q.put(got)
        threads.run_all(lambda w: None, 2)         # the parent has a helper when it forks
        ctx = mp.get_context("fork")
        q = ctx.Queue()
        p = ctx.Process(target=square, args=(q,))
        p.start()
        print(q.get(timeout=60))
        p.join()
    """)
    if "fork" in mp.get_all_start_methods():
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           timeout=120, env=env)
        assert r.returncode == 0 and "[1, 2]" in r.stdout, r.stdout + r.stderr
