"""One BLAS thread inside numhess's sweeps.

Numba's `np.dot` and `np.linalg` call BLAS and LAPACK through `scipy.linalg.cython_blas`
and `cython_lapack`, so the library behind them is the one SciPy links (in SciPy's wheels
its own `libscipy_openblas`, apart from NumPy's). OpenBLAS wakes its worker threads for
every product large enough; inside a sweep that is many products, each waiting on a
scheduler slice when the machine is busy. Measured on the shared 2-core machine: the
1000-variable logistic-regression HVP took 48 ms with SciPy's default two threads and
1.1 ms with one, its Hessian 224 ms and 114 ms. So every sweep of a tape with BLAS or
LAPACK calls that OpenBLAS could thread runs with one BLAS thread, and the caller's
setting is restored after.

OpenBLAS's thread count is one process-wide number (`openblas_set_num_threads_local` is
not thread-local in its pthreads builds), so concurrent sweeps share one limit: the first
to enter saves the count and sets 1, the last to leave restores it. While any numhess sweep
with products runs, BLAS calls of other threads run on one thread too. With another BLAS
behind SciPy (MKL, Accelerate) or an OpenMP build of OpenBLAS, nothing is changed.
"""
import contextlib
import ctypes
import os
import threading


def _openblas():
    """(get, set) of the thread count of the OpenBLAS behind scipy.linalg.cython_blas, or
    None. Looking the names up through cython_blas's own handle finds the library it links,
    whatever its file is called (dlsym searches a library's dependencies too)."""
    try:
        import scipy.linalg.cython_blas as cython_blas
        lib = ctypes.CDLL(cython_blas.__file__)
    except (ImportError, OSError):
        return None
    for prefix in ("scipy_", ""):   # scipy-openblas wheels prefix every symbol
        try:
            get = getattr(lib, prefix + "openblas_get_num_threads")
            set_ = getattr(lib, prefix + "openblas_set_num_threads")
            parallel = getattr(lib, prefix + "openblas_get_parallel")
        except AttributeError:
            continue
        # 1: its own pthreads pool, one process-wide count. 0 runs single-threaded
        # anyway; 2 (OpenMP) keeps a count per calling thread, which the shared
        # save-and-restore below would mix up.
        if parallel() != 1:
            return None
        get.restype, get.argtypes = ctypes.c_int, []
        set_.restype, set_.argtypes = None, [ctypes.c_int]
        return get, set_
    return None


class OneThread:
    """Context manager: BLAS at one thread while at least one thread is inside it."""

    def __init__(self, controls):
        self.controls = controls
        self.lock = threading.Lock()
        self.inside = 0        # threads inside
        self.saved = 1         # the count found by the first one in

    def __enter__(self):
        if self.controls is None:
            return
        with self.lock:
            if self.inside == 0:
                get, set_ = self.controls
                self.saved = get()
                if self.saved != 1:
                    set_(1)
            self.inside += 1

    def __exit__(self, *exc):
        if self.controls is None:
            return
        with self.lock:
            self.inside -= 1
            if self.inside == 0 and self.saved != 1:
                self.controls[1](self.saved)

    def after_fork(self):
        """In a child forked while another thread was inside: no sweep runs here, so
        restore the count and start afresh (the lock may have been copied held)."""
        if self.inside and self.controls is not None and self.saved != 1:
            self.controls[1](self.saved)
        self.lock, self.inside = threading.Lock(), 0


one_thread = OneThread(_openblas())
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=one_thread.after_fork)


def threads():
    """The BLAS thread count numhess's kernels would use now (None when unknown)."""
    return None if one_thread.controls is None else one_thread.controls[0]()


# OpenBLAS runs a product on one thread anyway below m n k = 65536 x 4 (gemm) or
# m n = 2304 x 4 (gemv, which gemm forwards single-column products to): below this
# much work per call the limit would cost a microsecond and change nothing. Not so its
# getrs (a SOLVE), which splits the right-hand sides over threads at any size: on a
# busy machine the gradient of a 3-variable normal's log-density over 30 points took
# 24 ms a call so, 20 us held (Tape.solves).
THREADED_WORK = 4096


def may_thread(tape, k):
    """Could OpenBLAS thread a call of the tape's sweeps over k directions?"""
    return tape.solves or tape.blas_work * k >= THREADED_WORK


_NOTHING = contextlib.nullcontext()


# A tape whose largest call is this large (the factorization of a matrix of about 460
# rows) runs it long enough for OpenBLAS's threads to pay for their wake-ups: a sweep on
# one thread of the caller's keeps them. Alternating held and free at n = 700 (a
# Gaussian-process kernel matrix): slogdet's gradient 45 -> 38 ms, its HVP 105 -> 76 ms;
# at n = 2000 789 -> 528 ms and 1.89 -> 1.20 s; at n = 300 the two were even.
THREADS_PAY = 1e8


def held(tape, k):
    """A context holding OpenBLAS to one thread when the tape's products over k directions
    are large enough for it to thread them (for sweeps run on threads of numhess's own)."""
    return one_thread if may_thread(tape, k) else _NOTHING


def sweep(kernel, tape, k, *args):
    """kernel(tape.packed, *args) over k directions on the caller's thread, on one BLAS
    thread when the tape's products are large enough for OpenBLAS to thread them and not
    so large that its threads pay."""
    if may_thread(tape, k) and tape.blas_work < THREADS_PAY:
        with one_thread:
            return kernel(tape.packed, *args)
    return kernel(tape.packed, *args)
