"""Hessians of cotangent-weighted outputs, dense or sparse, compressed by the tape's
colouring whenever its pattern is sparse enough to pay."""
import os
import warnings

import numpy as np
import scipy.sparse as sp

from . import drivers, supports
from .sparse import colored_pattern

COLORING_MIN_N = 32      # below this, n basis sweeps cost less than finding the pattern
SMALL_N = min(COLORING_MIN_N, supports.MIN_N)
ONE = np.ones((1, 1))    # the cotangent of a scalar output


def cotangents(rep, w=None):
    """The rows W of cotangents: one unit row per output element (w=None), or w itself."""
    m = rep.entry.out_size
    if w is None or type(w) is float and w == 1.0 and m == 1:
        return ONE if m == 1 else np.eye(m)
    w = np.broadcast_to(np.asarray(w, dtype=np.float64), (m,))
    return drivers.kernel_array(w[None, :])     # (a broadcast is read-only)


FITS_CHECKED = 2 ** 23   # elements: smaller Hessians skip the free-memory query (two syscalls)


def _check_fits(n_hessians, n, sparse):
    need = 8 * n_hessians * n * n
    try:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return
    if need > free:
        use = ("Its pattern is dense, or too large to find: every pair of inputs may "
               "interact (a value of all of x, such as np.max(x) or np.mean(x), in a "
               "nonlinear term makes it so). Use"
               if sparse else "Use hessian(f, sparse=True) for a sparse matrix, or")
        raise MemoryError(
            f"numhess: the dense Hessian ({n_hessians} x {n} x {n}) needs {need / 2 ** 30:.1f} "
            f"GiB and {free / 2 ** 30:.1f} GiB are free. {use} hvp(f) for Hessian-vector "
            "products without the matrix.")


def dense(rep, W, chunk_size=None, sparse=False):
    """The (len(W), n, n) Hessians of <W[i], f> (for hessian(f, sparse=True) when
    sparse: its pattern was dense)."""
    n = rep.tape.n_in
    if W.shape[0] * n * n >= FITS_CHECKED:
        _check_fits(W.shape[0], n, sparse)
    if n < SMALL_N:     # no colouring nor supports pays: basis sweeps
        return drivers.hessian(rep, W, chunk_size)
    cp = colored_pattern(rep.entry) if n >= COLORING_MIN_N else None
    if cp is None or 2 * cp.ncolors > n:
        plan = supports.plan(rep) if W.shape[0] == 1 and chunk_size is None else None
        if plan is not None:
            return supports.hessian(rep, plan, W[0])[None]
        return drivers.hessian(rep, W, chunk_size)
    B = drivers.hessian(rep, W, chunk_size, cp.colors, cp.ncolors)
    H = np.zeros((W.shape[0], n, n))
    for i in range(W.shape[0]):
        cp.recover_dense(B[i], H[i])
    return H


def weighted(rep, w=1.0, chunk_size=None):
    """d^2 <w, f> / dx^2 as an (n, n) array; w is a scalar or one weight per output."""
    return dense(rep, cotangents(rep, w), chunk_size)[0]


def sparse_csr(rep, w=1.0, chunk_size=None, warned=None):
    """d^2 <w, f> / dx^2 as a CSR matrix; computed densely (with one warning per list
    `warned`) when the pattern is dense."""
    W = cotangents(rep, w)
    cp = colored_pattern(rep.entry)
    if cp is None or cp.ncolors >= rep.tape.n_in:
        if warned is not None and not warned and rep.tape.n_in > 1:   # (one: nothing to save)
            warned.append(True)
            warnings.warn("numhess: this Hessian is dense; sparse=True computes it densely "
                          "and saves nothing", stacklevel=4)
        return sp.csr_matrix(dense(rep, W, chunk_size, sparse=True)[0])
    return cp.recover_csr(drivers.hessian(rep, W, chunk_size, cp.colors, cp.ncolors)[0])
