"""np.linalg on traced values.

Primitives (rules in kernels.py): ``inv`` (``INV``: dX = -X dA X), ``solve(a, b)`` (``LU``
factors, then ``SOLVE``, whose rules solve with them), ``slogdet`` (``LOGABSDET``, gradient
X^T, and ``SIGNDET``, no derivative) and ``cholesky`` (``CHOL`` of the matrix symmetrized
from a's lower triangle).
``det`` of a small matrix (n <= 4) runs Gaussian elimination with partial pivoting, a
composition of elementwise arithmetic, gathers and reductions; the pivot order is read
from the values at the trace point and guarded (as ``if x > y:`` is), so a point that
pivots differently traces again. Where a pivot is exactly zero (a singular matrix whose
column has nothing left to eliminate), elimination has lost the derivatives through that
column's other entries: det is then the sum over permutations of signed products, a
polynomial, exact to second order everywhere. Larger ones are sign * exp(log|det|), from
the slogdet primitives (derivatives NaN at singular matrices). Stacked matrices
(``(..., n, n)``) are supported as NumPy supports them.
"""
import itertools

import numpy as np
import scipy.linalg

from . import kernels as K
from . import lower as L
from .tracer import Tracer, builder_of, lift, positions

try:
    from numpy.linalg._linalg import SlogdetResult
except ImportError:                                     # pragma: no cover
    SlogdetResult = None


def _square(a, b=None):
    t = lift(builder_of(a, b), a)
    if t.ndim < 2:
        raise np.linalg.LinAlgError(f"{t.ndim}-dimensional array given. Array must be at "
                                    "least two-dimensional")
    if t.shape[-1] != t.shape[-2]:
        raise np.linalg.LinAlgError("Last 2 dimensions of the array must be square")
    return t


def _eliminate(M, n):
    """Gaussian elimination with partial pivoting of the stacked (B, n, n) M, traced or a
    NumPy array (the same arithmetic: the same pivots): returns the pivots (B, n) and the
    parity of the row permutation (a (B,) array of +-1). A traced M's pivot choices are
    guarded. A zero pivot makes the determinant 0, as NumPy's (derivatives through the
    column's other entries lost: det takes _leibniz there)."""
    traced = isinstance(M, Tracer)
    B = M.shape[0]
    batch = np.arange(B)
    parity = np.ones(B)
    pivots = []
    for k in range(n):
        column = (M.value if traced else M)[:, k:, k]
        p = k + np.argmax(np.abs(column), axis=1)
        swap = np.flatnonzero(p != k)
        if swap.size:
            order = np.tile(np.arange(n), (B, 1))
            order[swap, k], order[swap, p[swap]] = p[swap], k
            M = M[batch[:, None], order]
            parity[swap] *= -1.0
        piv = M[:, k, k]
        nonzero = np.not_equal(piv, 0.0)
        if traced:      # the pivot is the largest in its column, and non-zero
            if k < n - 1:
                mags = np.abs(M[:, k:, k])
                ok = np.less_equal(mags, mags[:, :1])
                M.b.guard(ok.slot, ok.value)
            M.b.guard(nonzero.slot, nonzero.value)
        pivots.append(piv)
        if not np.all(nonzero.value if traced else nonzero):
            piv = np.where(nonzero, piv, 1.0)   # the column is zero: nothing to eliminate
        if k == n - 1:
            break
        r = M[:, k, :]
        mask = np.ones(n)
        mask[:k + 1] = 0.0
        f = M[:, :, k] / piv[:, None] * mask
        M = M - f[:, :, None] * r[:, None, :]
    return np.stack(pivots, axis=1), parity


def _stacked(t):
    """t (..., n, n) as (B, n, n), with B and n."""
    n = t.shape[-1]
    B = int(np.prod(t.shape[:-2]))
    return np.reshape(t, (B, n, n)), B, n


ELIMINATE_MAX = 4     # det by elimination up to this n; sign * exp(log|det|) above


def det(a):
    t = _square(a)
    batch = t.shape[:-2]
    if t.shape[-1] == 0 or t.size == 0:
        return lift(t.b, np.ones(batch))
    if t.shape[-1] > ELIMINATE_MAX:     # a tape of size n^2, not n^3
        sign, logabs = slogdet(t)
        return sign * np.exp(logabs)
    M, B, n = _stacked(t)
    if np.any(_eliminate(M.value, n)[0] == 0.0):
        return np.reshape(_leibniz(M, n), batch)     # exact at any point: not guarded
    piv, parity = _eliminate(M, n)
    return np.reshape(np.prod(piv, axis=1) * parity, batch)


def _leibniz(M, n):
    """det of the stacked (B, n, n) M as the sum of sign(p) prod_i M[i, p(i)] over the
    n! permutations p (24 at n = 4)."""
    perms = np.array(list(itertools.permutations(range(n))))
    signs = np.array([(-1.0) ** sum(p[i] > p[j] for i in range(n) for j in range(i + 1, n))
                      for p in perms])
    return np.sum(np.prod(M[:, np.arange(n), perms], axis=2) * signs, axis=1)


def slogdet(a):
    t = _square(a)
    batch = t.shape[:-2]
    if t.shape[-1] == 0 or t.size == 0:
        return _slogdet_result(lift(t.b, np.ones(batch)), lift(t.b, np.zeros(batch)))
    M, B, n = _stacked(t)
    sign, logabs = np.linalg.slogdet(M.value)
    ints = [B, n]
    s = L._new(t.b, K.SIGNDET, sign.astype(float), (M,), ints=ints, active=False)
    la = L._new(t.b, K.LOGABSDET, logabs.astype(float), (M,), ints=ints)
    return _slogdet_result(L.reshape(s, batch), L.reshape(la, batch))


def _slogdet_result(sign, logabs):
    return SlogdetResult(sign, logabs) if SlogdetResult is not None else (sign, logabs)


def inv(a):
    t = _square(a)
    if t.size == 0:
        return lift(t.b, np.zeros(t.shape))
    M, B, n = _stacked(t)
    value = np.linalg.inv(M.value)           # raises LinAlgError when singular, as NumPy
    return L.reshape(L._new(t.b, K.INV, value, (M,), ints=[B, n]), t.shape)


def solve(a, b):
    """a^-1 b with NumPy 2's shapes (a 1-d b is a vector, stacks broadcast): LAPACK's LU
    factors of a (the primitive LU, never active) and SOLVE, whose rules solve with them."""
    t = _square(a, b)
    rhs = lift(t.b, b)
    n = t.shape[-1]
    if rhs.shape[0 if rhs.ndim == 1 else -2] != n:
        raise ValueError("solve: Input operand 1 has a mismatch in its core dimension 0")
    value = np.linalg.solve(t.value, rhs.value)   # NumPy's errors (a singular a raises)
    if value.size == 0:
        return lift(t.b, value)
    if rhs.ndim == 1:
        rhs = L.reshape(rhs, (n, 1))
    m = rhs.shape[-1]
    batch = np.broadcast_shapes(t.shape[:-2], rhs.shape[:-2])
    nb = int(np.prod(batch))
    A = np.reshape(L.broadcast_to(t, batch + (n, n)), (nb, n, n))
    B = np.reshape(L.broadcast_to(rhs, batch + (n, m)), (nb, n, m))
    factors = np.empty((nb, n * n + n))
    for s, As in enumerate(A.value):     # the kernel's layout: getrf's factors of As.T
        lu, piv = scipy.linalg.lu_factor(As.T, check_finite=False)
        factors[s] = np.concatenate([lu.ravel(order="F"), piv + 1.0])
    lu = L._new(t.b, K.LU, factors, (A,), ints=[nb, n], active=False)
    X = L._new(t.b, K.SOLVE, value.reshape(nb, n, m), (A, B, lu), ints=[nb, n, m])
    return L.reshape(X, value.shape)


def cholesky(a, upper=False):
    """The lower factor L (L @ L.T == a) from a's lower triangle, or with upper its
    transpose from a's upper triangle, as NumPy's: the primitive CHOL of the symmetric
    matrix with that triangle."""
    t = _square(a)
    if t.shape[-1] == 0 or t.size == 0:
        return lift(t.b, np.zeros(t.shape))
    M, B, n = _stacked(_symmetric(t, "U" if upper else "L"))
    value = np.linalg.cholesky(M.value)      # raises LinAlgError, as NumPy
    r = L.reshape(L._new(t.b, K.CHOL, value, (M,), ints=[B, n]), t.shape)
    return np.swapaxes(r, -1, -2) if upper else r


def _symmetric(t, UPLO):
    """The symmetric matrices that NumPy's cholesky and eigh read: t's lower triangle
    (UPLO "L") or upper one ("U") mirrored."""
    if UPLO not in ("L", "U", "l", "u"):
        raise ValueError("UPLO argument must be 'L' or 'U'")
    n = t.shape[-1]
    pos = positions(t)
    keep = np.tril(np.ones((n, n), dtype=bool))
    if UPLO in ("U", "u"):
        keep = keep.T
    return L.gather(t.b, np.where(keep, pos, np.swapaxes(pos, -1, -2)), t.active)
