"""A tape's fused regions (fusion.py) compiled, and the sweeps that run them between the
interpreter's stretches: the values of every evaluation, a gradient's reverse sweep, a
Hessian-vector product's two sweeps and a chunked Hessian's.

Compiling a tape's loops takes a second or two, so by default a tape asks for them at
its first gradient, HVP or large Hessian and keeps running the interpreter until they
are compiled on
a background thread (waited for at exit, so they reach the cache); the source of each
is written under Numba's cache directory, named by its hash (the same function at any
size is one file), so another process loads them from Numba's on-disk cache, at once
(milliseconds). NUMHESS_FUSE=now compiles at the first call instead, =off never fuses.
"""
import atexit
import hashlib
import importlib.util
import os
import queue
import sys
import tempfile
import threading
import types
import warnings

import numba
import numpy as np

from . import blas, fusion, threads
from .jit import njit
from . import kernels as K

MODES = ("auto", "now", "off")
MODE = os.environ.get("NUMHESS_FUSE", "auto")
if MODE not in MODES:
    warnings.warn(f"numhess: NUMHESS_FUSE={MODE!r} is not one of {MODES}; using 'auto'",
                  RuntimeWarning)
    MODE = "auto"
# A region is worth a loop of its own from this many elements times instructions: below,
# the extra kernel calls of a split sweep (about half a microsecond each) cost more than
# the passes the loop saves. Rosenbrock (7 instructions), fused against interpreted: at
# n = 300 gradient 6.8 / 5.9 us, HVP 9.6 / 9.5; at 1000 7.6 / 8.4 and 12.1 / 15.0; at
# 10^5 137 / 500 and 218 / 877.
MIN_WORK = 4096
# A Hessian's chunks run through the fused loops from this many active elements times
# directions: the chunk loop is Python's (seeds, results), 5-10 us a chunk more. The
# chained Rosenbrock function (7 instructions, 3 colours): dense at n = 1000 (21,000)
# 100 us interpreted, 109 fused; sparse at 10^4 143 / 115 us, at 10^5 1.94 / 1.10 ms, at
# 10^6 37 / 17 ms.
HESSIAN_MIN_WORK = 100_000
MAX_REGIONS = 16     # the largest, each compiled function costs 0.1-0.3 s
# Instructions over all of a tape's regions: a region's six functions compile in 0.2-0.6
# s an instruction (np.convolve of a traced 500-element kernel, 500 shifted copies, had
# made 16 regions of 64 gathers and products: 14 minutes on the background thread, which
# the process waited for at exit, for a gradient 4.0 -> 1.25 ms)
MAX_INSTRUCTIONS = 32

_C = numba.types.Array(numba.types.float64, 1, "C")
_I = numba.types.Array(numba.types.int64, 1, "C")
_K = numba.types.int64
_P = (_I, numba.types.Array(numba.types.boolean, 1, "C"))    # the packed tape, pact
# (the buffers, then the inputs' values xin and tangents tin: fusion._header)
SIGNATURES = {"values": (_C, _C, *_P, numba.types.boolean, _I),
              "tangent": (_C, _C, _C, _C, *_P, _I), "adjoint": (_C, _C, _C, *_P, _I),
              "second": (_C, _C, _C, _C, _C, _C, *_P, _I),
              "tangent_k": (_C, _C, _C, _C, _K, *_P, _I),
              "second_k": (_C, _C, _C, _C, _C, _C, _K, *_P, _I)}


class Program:
    """The tape cut into stretches [t0, t1): the interpreter's, or a region's loops with
    its offsets. Each sweep keeps the stretches it has work in (a kernel call costs
    about half a microsecond): the forward sweep the interpreter's with instructions
    (and the first, which writes the constants, when one is read), the tangent sweep
    those with an active instruction whose tangent is read (Tape.tused), the reverse
    sweeps those with an active one."""

    def __init__(self, tape, regions, module):
        # the steps over one direction now, those over k once compiled (widen)
        steps = [types.SimpleNamespace(**{name: _entry(module, name, j)
                                          for name in fusion.STEPS if not name.endswith("_k")})
                 for j in range(len(regions))]
        self.steps = steps

        def cut(end):     # the stretches, each region's ending at end(region)
            stretches, t = [], 0
            for r, s in zip(regions, steps):
                stretches += [(t, r.t0, None, None), (r.t0, end(r), s, r.offsets)]
                t = end(r)
            return stretches + [(t, tape.op.size, None, None)]
        active = tape.sact[tape.out]
        work = lambda t0, t1, steps, _, mask: steps is not None or mask[t0:t1].any()
        every = np.ones_like(active)
        read = tape.cpos.size and (fusion.last_reads(tape)[tape.cpos] >= 0).any()
        # (a region's sum: its own in the reverse sweeps, in the values one if a SUMALL)
        self.values = [s for s in cut(lambda r: r.stop)
                       if s[0] == 0 and read or work(*s, every)]
        # a gradient's or HVP's, without the steps that compute the outputs alone
        last = fusion.last_reads(tape, outputs=False)
        idle = [s for r, s in zip(regions, steps)
                if not fusion.needed_by_derivatives(tape, r, last)]
        self.derivative_values = [s for s in self.values
                                  if not any(s[2] is i for i in idle)]
        self.tangents = [s for s in cut(lambda r: r.t1) if work(*s, active & tape.tused)]
        self.reverse = [s for s in reversed(cut(lambda r: r.end)) if work(*s, active)]
        # Do the reverse sweeps write the inputs' first-order cotangents? The
        # interpreter's do, and so does a region's gather from x (x[:, None] - x[None, :]):
        # an HVP clears them then (left there, they had come back as the next HVP's
        # second-order cotangents, from the pool's shared adjoint buffers: H v + grad)
        gathers = (t for r in regions for t in range(r.t0, r.end) if tape.op[t] == K.GATHER)
        self.clear_input_cotangents = any(s[2] is None for s in self.reverse) or any(
            (tape.ipool[tape.pi[t]:tape.pi[t] + tape.size[tape.out[t]]] < tape.n_in).any()
            for t in gathers)
        self.wide = False     # are the steps over k directions compiled yet?
        # Can a gradient or HVP leave the inputs (x, v) in the caller's arrays, not
        # copied into the buffers? When only the regions' loops read them, as operands
        # (at 10^5 a copy is 11 us of Rosenbrock's 50 us gradient)
        reads = _reads_inputs(tape)
        self.inputs_aside = not (
            any(reads[t0:t1].any() for t0, t1, s, _ in
                self.derivative_values + self.tangents + self.reverse if s is None)
            or any(reads[t] for r in regions for t in range(r.t0, r.t1)
                   if tape.op[t] == K.GATHER)
            or any(tape.off[s] < tape.n_in for s, _ in tape.guards))

    def widen(self, module):
        """The steps over k directions in place (compiled): Hessians may run them."""
        for j, s in enumerate(self.steps):
            for name in fusion.STEPS:
                if name.endswith("_k"):
                    setattr(s, name, _entry(module, name, j))
        self.wide = True

    def forward(self, tape, vals, ivals, every, constants, output, xin):
        """The values; with every False only those a gradient or HVP reads (fused.py's
        steps, the interpreter's stretches, the guards, and with output the outputs);
        with constants, the tape's constants too (the first stretch writes them, kept
        when one is read). xin: the inputs' values (vals[:n_in], or the caller's)."""
        kern = tape.kernels
        for t0, t1, steps, offs in self.values if every or output else \
                self.derivative_values:
            if steps is None:
                if t1 > t0 or constants:
                    _run(kern.direct_forward, tape, 1, vals, ivals, constants and t0 == 0,
                         t0, t1)
            else:
                steps.values(vals, xin, tape.packed, tape.pact, every, offs)

    def gradient(self, tape, vals, ivals, adj, g, xin):
        """adj seeded at the output: the inputs' cotangents into g (adj left clear)."""
        kern = tape.kernels
        for t0, t1, steps, offs in self.reverse:
            if steps is None:
                _run(kern.direct_adjoint, tape, 1, vals, ivals, adj, 1, False, g[:0], t0, t1)
            else:
                steps.adjoint(vals, adj, xin, tape.packed, tape.pact, offs)
        _take(adj, g, adj[:0])

    def hvp(self, tape, vals, ivals, tans, adj, adjt, n, xin, tin):
        """The inputs' values and tangents in xin, tin (the direction; in tans too unless
        inputs_aside), adj seeded at the output with its cotangent: the product, from
        adjt (the three buffers left clear where the interpreter's sweeps expect it)."""
        kern = tape.kernels
        for t0, t1, steps, offs in self.tangents:
            if steps is None:
                _run(kern.direct_tangent, tape, 1, vals, ivals, tans, 1, False, t0, t1)
            else:
                steps.tangent(vals, tans, xin, tin, tape.packed, tape.pact, offs)
        for t0, t1, steps, offs in self.reverse:
            if steps is None:
                _run(kern.direct_adjoint_tangent, tape, 1, vals, ivals, tans, adj, adjt, 1, n,
                     0, t0, t1)
            else:
                steps.second(vals, tans, adj, adjt, xin, tin, tape.packed, tape.pact, offs)
        h = np.empty(n)
        # the regions' elementwise steps leave the inputs' first-order cotangents
        # unwritten (no HVP reads them), so most tapes need nothing cleared there
        _take(adjt, h, adj if self.clear_input_cotangents else adj[:0])
        return h

    def hessian(self, tape, vals, ivals, n, out_off, W, colors, n_dirs, starts, k, bufs, B):
        """kernels._hessian_chunks with these stretches, its chunks shared out among the
        workers (the rows of bufs) on numhess's helper threads (the loops and kernels
        release the GIL)."""
        kern = tape.kernels
        workers = bufs[0].shape[0]
        xin = vals[:tape.n_in]

        def run(w):
            tans, adj, adjt = (b[w] for b in bufs)
            for d0 in starts[w::workers]:
                nv = min(k, n_dirs - d0)
                seeds = tans[:n * k].reshape(n, k)
                seeds[:] = 0.0
                chosen = np.flatnonzero((colors >= d0) & (colors < d0 + nv))
                seeds[chosen, colors[chosen] - d0] = 1.0
                for t0, t1, steps, offs in self.tangents:
                    if steps is None:
                        _run(kern.direct_tangent, tape, k, vals, ivals, tans, k, False, t0, t1)
                    else:
                        steps.tangent_k(vals, tans, xin, seeds.reshape(-1), k, tape.packed,
                                        tape.pact, offs)
                for i in range(W.shape[0]):
                    adj[out_off:out_off + W.shape[1]] = W[i]
                    for t0, t1, steps, offs in self.reverse:
                        if steps is None:
                            _run(kern.direct_adjoint_tangent, tape, k, vals, ivals, tans, adj,
                                 adjt, k, n, 0, t0, t1)
                        else:
                            steps.second_k(vals, tans, adj, adjt, xin, seeds.reshape(-1), k,
                                           tape.packed, tape.pact, offs)
                    B[i, :, d0:d0 + nv] = adjt[:n * k].reshape(n, k)[:, :nv]
                    adjt[:n * k] = 0.0
                    adj[:n] = 0.0
        threads.run_all(run, workers)


def _reads_inputs(tape):
    """Per instruction: does it read a position of the inputs (an operand among them, or
    a source of a gather)?"""
    off = np.append(tape.off, tape.total)     # (slot -1: no operand)
    reads = np.zeros(tape.op.size, np.bool_)
    for s in (tape.a, tape.b, tape.c):
        reads |= (s >= 0) & (off[s] < tape.n_in)
    for t in np.flatnonzero(tape.op == K.GATHER):
        reads[t] = fusion._positions(tape, t).min(initial=tape.n_in) < tape.n_in
    return reads


def _run(kernel, tape, k, *args):
    """An interpreter's stretch: kernel(tape.packed, *args) over k directions."""
    if tape.blas_work:
        return blas.sweep(kernel, tape, k, *args)
    return kernel(tape.packed, *args)


@njit(cache=True, nogil=True)
def _take(a, out, b):
    """out = a[:m], then a[:m] and b[:m] cleared (m = out.size; b may be empty): the
    inputs' cotangents out of the buffers (at n = 10^5 NumPy's slices took 26 us for a
    gradient, 38 for an HVP; these loops 15 and 24)."""
    m = out.size
    for i in range(m):
        out[i] = a[i]
        a[i] = 0.0
    for i in range(min(m, b.size)):
        b[i] = 0.0


def _entry(module, name, j):
    """Region j's step `name`, compiled, called without Numba's dispatch (jit.direct
    says why; the steps take numhess's own buffers only)."""
    return getattr(module, f"{name}_{j}").overloads[SIGNATURES[name]].entry_point


# ----------------------------------------------------------------- when to compile
_lock = threading.Lock()
_jobs = queue.SimpleQueue()
_worker = []
_pending = []       # the background compiles' events, waited for at exit


def program(tape):
    """The tape's compiled program, or None: then, the first time, its compile is asked
    for: at once when MODE is "now" or this source compiled before (its loops load from
    Numba's cache in milliseconds), else on the background thread. (Once asked,
    tape.fusion is not None and tape.fused is the answer: the drivers read it so.)"""
    if tape.fused is not None or tape.fusion is not None or MODE == "off":
        return tape.fused
    with _lock:
        if tape.fusion is not None:
            return tape.fused
        regions = _chosen(fusion.regions(tape, MIN_WORK))
        tape.fusion = bool(regions)
        if not regions:
            return None
        text = _text(regions, tape)
        if MODE == "now" or os.path.exists(_path(text) + ".done"):
            _compile_or_warn(tape, regions, text)
            return tape.fused
        if not _worker:
            _worker.append(threading.Thread(target=_serve, daemon=True, name="numhess-fuse"))
            _worker[0].start()
            atexit.register(wait_all)
        done = threading.Event()
        tape.fusion = done
        _pending.append(done)
        _jobs.put((tape, regions, text, done))
    return None


def _chosen(regions):
    """The regions of the most work (elements x instructions), at most MAX_REGIONS of
    them and MAX_INSTRUCTIONS in all, in tape order."""
    chosen, length = [], 0
    for r in sorted(regions, key=lambda r: -r.n * (r.t1 - r.t0)):
        if len(chosen) < MAX_REGIONS and length + r.t1 - r.t0 <= MAX_INSTRUCTIONS:
            chosen.append(r)
            length += r.t1 - r.t0
    return sorted(chosen, key=lambda r: r.t0)


def wait(tape):
    """Until the tape's background compile (if any) has finished."""
    if isinstance(tape.fusion, threading.Event):
        tape.fusion.wait()


def wait_all():
    """Until every background compile asked for has finished: at exit (a daemon thread
    would be killed before Numba's cache is written, and the next process compile them
    again), and before code that records warnings in another thread (Numba's compiler
    enters warnings.catch_warnings, whose state is the process's before Python 3.14: its
    exit can drop a recorder entered meanwhile, pytest.warns's)."""
    for done in list(_pending):
        done.wait()


def _serve():
    while True:
        tape, regions, text, done = _jobs.get()
        try:
            _compile_or_warn(tape, regions, text)
        finally:
            done.set()
            _pending.remove(done)


def _compile_or_warn(tape, regions, text):
    try:
        _compile(tape, regions, text)
    except Exception as err:      # the interpreter goes on; say why
        warnings.warn(f"numhess: fusing a tape's elementwise loops failed ({err!r}); "
                      "its sweeps stay interpreted", RuntimeWarning)


def _after_fork():
    global _jobs, _lock, _load_lock
    _jobs, _lock, _load_lock = queue.SimpleQueue(), threading.Lock(), threading.Lock()
    _worker.clear()
    _pending.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


# ----------------------------------------------------------------- compiling
def _text(regions, tape):
    return fusion.PRELUDE + "\n".join(fusion.source(tape, r, f"_{j}")
                                      for j, r in enumerate(regions))


def _compile(tape, regions, text):
    """The program in place once the steps of one direction are compiled (those of
    gradients and HVPs, 60% of the time), then those of k directions (Hessians'); a
    program without them is not run for Hessians (Program.wide)."""
    module = _load(text)

    def compile_steps(wide):
        for j in range(len(regions)):
            for name in fusion.STEPS:
                if name.endswith("_k") == wide:
                    getattr(module, f"{name}_{j}").compile(SIGNATURES[name])
    compile_steps(False)
    program = tape.fused = Program(tape, regions, module)
    compile_steps(True)
    program.widen(module)
    try:
        open(_path(text) + ".done", "w").close()     # compiled, so in Numba's cache
    except OSError:
        pass


_KERNELS_HASH = []


def _key(text):
    """The module's name: its source's hash, and the kernels' (whose helpers it inlines:
    Numba's cache would not see them change)."""
    if not _KERNELS_HASH:
        with open(K.__file__, "rb") as f:
            _KERNELS_HASH.append(hashlib.sha256(f.read()).digest())
    return "numhess_fused_" + hashlib.sha256(_KERNELS_HASH[0] + text.encode()).hexdigest()[:24]


_DIRECTORY = []


def _path(text):
    """Where the module of this source lives (without ".py")."""
    if not _DIRECTORY:
        _DIRECTORY.append(_directory())
    return os.path.join(_DIRECTORY[0], _key(text))


def _directory():
    """Where the sources go: beside Numba's cache, else the user's cache directory, else
    a temporary one (then each process compiles its own)."""
    base = numba.config.CACHE_DIR or os.path.join(
        os.path.expanduser(os.environ.get("XDG_CACHE_HOME", "~/.cache")), "numhess")
    user = getattr(os, "getuid", int)()       # (no uid on Windows)
    for d in (os.path.join(base, "fused"),
              os.path.join(tempfile.gettempdir(), f"numhess-fused-{user}")):
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
        path = _path(text) + ".py"
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
