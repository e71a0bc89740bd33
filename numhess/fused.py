"""A tape's fused regions (fusion.py) compiled, and the sweeps that run them between the
interpreter's stretches: the values of every evaluation, a gradient's reverse sweep and
a Hessian-vector product's two sweeps.

Compiling a tape's loops takes a second or two, so by default a tape asks for them at
its first gradient or HVP and keeps running the interpreter until they are compiled on
a background thread; the source of each is written under Numba's cache directory, named
by its hash (the same function at any size is one file), so another process loads them
from Numba's on-disk cache. NUMHESS_FUSE=now compiles at the first call instead, =off
never fuses.
"""
import hashlib
import importlib.util
import os
import queue
import sys
import tempfile
import threading
import warnings

import numba
import numpy as np

from . import blas, fusion
from . import kernels as K

MODES = ("auto", "now", "off")
MODE = os.environ.get("NUMHESS_FUSE", "auto")
if MODE not in MODES:
    warnings.warn(f"numhess: NUMHESS_FUSE={MODE!r} is not one of {MODES}; using 'auto'",
                  RuntimeWarning)
    MODE = "auto"
# A region is worth a loop of its own from this many elements times instructions: below,
# the extra kernel calls of a split sweep (about a microsecond each) cost more than the
# passes the loop saves. Rosenbrock (7 instructions): at n = 1000 fused and interpreted
# gradients and HVPs took the same (8.0 and 8.1 us, 15.1 and 14.2), at 10^4 half.
MIN_WORK = 8192

_C = numba.types.Array(numba.types.float64, 1, "C")
_I = numba.types.Array(numba.types.int64, 1, "C")
SIGNATURES = {"values": (_C, numba.types.boolean, _I), "tangent": (_C, _C, _I), "adjoint": (_C, _C, _I),
              "second": (_C, _C, _C, _C, _I)}


class Program:
    """The tape cut into stretches [t0, t1): the interpreter's, or a region's loops with
    its offsets. The first stretch is the interpreter's (it writes the constants) and
    starts at 0, so the reverse sweeps end in it."""

    def __init__(self, tape, regions, module):
        self.stretches, t = [], 0
        for j, r in enumerate(regions):
            self.stretches.append((t, r.t0, None, None))
            steps = tuple(getattr(module, f"{name}_{j}") for name in fusion.STEPS)
            self.stretches.append((r.t0, r.t1, steps, r.offsets))
            t = r.t1
        self.stretches.append((t, K.ALL, None, None))

    def forward(self, tape, vals, ivals, every):
        """The values; with every False only those a gradient or HVP reads (fused.py's
        steps, the interpreter's stretches, the output and the guards)."""
        kern = tape.kernels
        for t0, t1, steps, offs in self.stretches:
            if steps is None:
                _run(kern.forward, tape, vals, ivals, t0, t1)
            else:
                steps[0](vals, every, offs)

    def gradient(self, tape, vals, ivals, adj, g):
        """adj seeded at the output: the inputs' cotangents into g (adj left clear)."""
        kern = tape.kernels
        for t0, t1, steps, offs in reversed(self.stretches):
            if steps is None:
                _run(kern.adjoint, tape, vals, ivals, adj, 1, False, g if t0 == 0 else g[:0],
                     t0, t1)
            else:
                steps[2](vals, adj, offs)

    def hvp(self, tape, vals, ivals, tans, adj, adjt, n):
        """tans seeded at the inputs with the direction, adj at the output with its
        cotangent: the product, from adjt (the three buffers left clear where the
        interpreter's sweeps expect it)."""
        kern = tape.kernels
        for t0, t1, steps, offs in self.stretches:
            if steps is None:
                _run(kern.tangent, tape, vals, ivals, tans, 1, False, t0, t1)
            else:
                steps[1](vals, tans, offs)
        for t0, t1, steps, offs in reversed(self.stretches):
            if steps is None:
                _run(kern.adjoint_tangent, tape, vals, ivals, tans, adj, adjt, 1, t0, t1)
            else:
                steps[3](vals, tans, adj, adjt, offs)
        h = adjt[:n].copy()
        adjt[:n] = 0.0
        adj[:n] = 0.0
        return h


def _run(kernel, tape, *args):
    if tape.blas_work:
        return blas.sweep(kernel, tape, 1, *args)
    return kernel(tape.packed, *args)


# ----------------------------------------------------------------- when to compile
_lock = threading.Lock()
_jobs = queue.SimpleQueue()
_worker = []


def program(tape):
    """The tape's compiled program, or None: then, the first time, its compile is asked
    for (MODE)."""
    if tape.fused is not None or tape.fusion is not None or MODE == "off":
        return tape.fused
    with _lock:
        if tape.fusion is not None:
            return tape.fused
        regions = [r for r in fusion.regions(tape) if r.n * (r.t1 - r.t0) >= MIN_WORK]
        tape.fusion = bool(regions)
        if not regions:
            return None
        if MODE == "now":
            _compile(tape, regions)
            return tape.fused
        if not _worker:
            _worker.append(threading.Thread(target=_serve, daemon=True, name="numhess-fuse"))
            _worker[0].start()
        done = threading.Event()
        tape.fusion = done
        _jobs.put((tape, regions, done))
    return None


def wait(tape):
    """Until the tape's background compile (if any) has finished."""
    if isinstance(tape.fusion, threading.Event):
        tape.fusion.wait()


def _serve():
    while True:
        tape, regions, done = _jobs.get()
        try:
            _compile(tape, regions)
        except Exception as err:      # the interpreter goes on; say why
            warnings.warn(f"numhess: fusing a tape's elementwise loops failed ({err!r}); "
                          "its sweeps stay interpreted", RuntimeWarning)
        finally:
            done.set()


def _after_fork():
    global _jobs, _lock, _load_lock
    _jobs, _lock, _load_lock = queue.SimpleQueue(), threading.Lock(), threading.Lock()
    _worker.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


# ----------------------------------------------------------------- compiling
def _compile(tape, regions):
    text = fusion.PRELUDE + "\n".join(fusion.source(tape, r, f"_{j}")
                                      for j, r in enumerate(regions))
    module = _load(text)
    for j in range(len(regions)):
        for name in fusion.STEPS:
            getattr(module, f"{name}_{j}").compile(SIGNATURES[name])
    tape.fused = Program(tape, regions, module)


_KERNELS_HASH = []


def _key(text):
    """The module's name: its source's hash, and the kernels' (whose helpers it inlines:
    Numba's cache would not see them change)."""
    if not _KERNELS_HASH:
        with open(K.__file__, "rb") as f:
            _KERNELS_HASH.append(hashlib.sha256(f.read()).digest())
    return "numhess_fused_" + hashlib.sha256(_KERNELS_HASH[0] + text.encode()).hexdigest()[:24]


def _directory():
    base = numba.config.CACHE_DIR or os.path.join(
        os.path.expanduser(os.environ.get("XDG_CACHE_HOME", "~/.cache")), "numhess")
    for d in (os.path.join(base, "fused"), os.path.join(tempfile.gettempdir(),
                                                        f"numhess-fused-{os.getuid()}")):
        try:
            os.makedirs(d, exist_ok=True)
            if os.access(d, os.W_OK):
                return d
        except OSError:
            pass
    return tempfile.mkdtemp(prefix="numhess-fused-")


_load_lock = threading.Lock()


def _load(text):
    """The module of the source text, written into the cache directory and imported
    once per process (two threads asking for one source get one module)."""
    name = _key(text)
    with _load_lock:
        if name in sys.modules:
            return sys.modules[name]
        path = os.path.join(_directory(), name + ".py")
        if not os.path.exists(path):    # (rewritten, its mtime would void Numba's cache)
            tmp = f"{path}.{os.getpid()}.{threading.get_ident()}"
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, path)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module   # (Numba's cache finds the module's functions by name)
        return module
