"""np.linalg factorizations: values from LAPACK, derivatives exact to second order.

The ``LAPACK`` instruction recomputes a factorization at every replay but carries no
derivative. Each function here adds a correction whose value is exactly zero and whose
first and second derivatives are the factorization's:

- ``delta(c) = c - stop(c)`` is zero with c's derivatives, so ``v0 + delta(c)`` has
  LAPACK's value v0 and the derivatives of any composition c that equals the
  factorization as a function: Cholesky of A^T A for ``qr``, inv(A^T A) A^T for ``pinv``.
- ``eigh`` has no such composition. Its correction is second-order perturbation theory
  in the eigenbasis: with B = V0^T delta(A) V0 and G[k, i] = 1 / (w_i - w_k),
  w_i = w0_i + B_ii + sum_k G_ki B_ki^2 and v_i = V0 (e_i + c1_i + c2_i). A polynomial
  of degree two in a zero-valued B has exactly its Taylor terms as derivatives.
  Eigenvalues that coincide have no derivatives of their own there: numhess warns and
  guards that point (a replay that lands on one traces again, and warns again).
- Singular values are square roots of the eigenvalues of A^T A (or A A^T), the root
  taken by its Taylor terms at LAPACK's values; the nuclear norm is a spectral sum,
  whose second-order terms stay exact at repeated singular values.
"""
import warnings

import numpy as np

from . import kernels as K
from . import lower as L
from .linalg import _square, _stacked, _symmetric
from .tracer import Tracer, builder_of, lift, positions

_NO = object()      # an argument not given


def stop(t):
    """t's value, without its derivatives (a copy replayed as an inactive instruction)."""
    b = t.b
    return Tracer(b, b.emit(K.GATHER, t.value, ints=positions(t).ravel(), active=False),
                  t.value)


def delta(t):
    """Zero, with t's first and second derivatives."""
    return t - stop(t)


def _taylor(f0, f1, f2, d):
    """f(w) to second order at w0, for d = delta(w): f0 + f1 d + f2 d^2 / 2."""
    return f0 + f1 * d + (0.5 * f2) * (d * d)


def _mT(t):
    return np.swapaxes(t, -1, -2)


def _lapack(kind, M, out_size, rcond=0.0):
    """The LAPACK instruction on the stacked (B, m, n) M, its value computed by the very
    kernel that replays it (so a replay at the trace point gives the traced values)."""
    B, m, n = M.shape
    ints = np.array([kind, B, m, n], dtype=np.int64)
    vals = np.concatenate([M.value.ravel(), np.empty(out_size)])
    K._lapack_forward(vals, ints, 0, 0, M.size, rcond)
    return L._new(M.b, K.LAPACK, vals[M.size:], (M,), ints=ints, fp=rcond, active=False)


def _split(packed, shapes):
    out, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        out.append(np.reshape(packed[start:start + size], shape))
        start += size
    return out


# ---------------------------------------------------------------- eigh
TIE_GAP = 4.0 * np.finfo(float).eps    # times n max |w|: eigenvalues apart by less tie


def _eigenbasis(S, what=None):
    """LAPACK's eigenvalues w0 (B, n) and eigenvectors V0 (B, n, n) of the stacked
    symmetric S, B = V0^T delta(S) V0, and G (the reciprocal gaps, 0 where they vanish:
    within TIE_GAP of each other). Unless `what` is None, repeated eigenvalues warn and
    are guarded."""
    M, nb, n = _stacked(S)
    w0, V0 = _split(_lapack(K.EIGH, M, nb * n * (n + 1)), [(nb, n), (nb, n, n)])
    gap = w0[:, None, :] - w0[:, :, None]                  # gap[s, k, i] = w_i - w_k
    # eigenvalues as close as LAPACK's rounding are ties: 1 / gap there is rounding
    # noise times 10^16 (a kernel matrix's 16 eigenvalues 1e-17 apart made eigh's
    # gradient of a GP likelihood 6x off)
    tie = TIE_GAP * n * np.max(np.abs(w0), axis=-1)
    apart = np.abs(gap) > np.reshape(tie, (nb, 1, 1))
    if what is not None:
        distinct = np.logical_or(apart, np.eye(n, dtype=bool))
        S.b.guard(distinct.slot, distinct.value)
        if not np.all(distinct.value):
            vectors = "; derivatives through their eigenvectors are unreliable there, " \
                "first ones too (np.linalg.solve, slogdet or eigvalsh have none of this)" \
                if what == "eigh" else ""
            warnings.warn(f"numhess: {what} of a matrix with repeated eigenvalues (or "
                          "within rounding of each other): they have no derivatives of "
                          "their own there (second derivatives leave out the coupling of "
                          f"the repeated ones){vectors}", RuntimeWarning, stacklevel=4)
    G = np.where(apart, 1.0 / np.where(apart, gap, 1.0), 0.0)
    B = _mT(V0) @ delta(M) @ V0
    return w0, V0, B, G


def _eigh(S, vectors, what):
    n = S.shape[-1]
    if S.size == 0:
        w = lift(S.b, np.zeros(S.shape[:-1]))
        return w, lift(S.b, np.zeros(S.shape))
    w0, V0, B, G = _eigenbasis(S, what)
    C1 = G * B                                              # first-order coefficients
    dB = np.diagonal(B, axis1=-2, axis2=-1)
    w = w0 + dB + np.sum(B * C1, axis=-2)
    if not vectors:
        return np.reshape(w, S.shape[:-1]), None
    C2 = G * (B @ C1) - G * C1 * dB[:, None, :] \
        - 0.5 * np.eye(n) * np.sum(C1 * C1, axis=-2)[:, None, :]
    V = V0 + V0 @ (C1 + C2)
    return np.reshape(w, S.shape[:-1]), np.reshape(V, S.shape)


def eigh(a, UPLO="L"):
    w, V = _eigh(_symmetric(_square(a), UPLO), True, "eigh")
    return _result("EighResult", w, V)


def _result(name, *parts):
    """NumPy's named result tuple when it has one."""
    cls = getattr(getattr(np.linalg, "_linalg", None), name, None)
    return cls(*parts) if cls is not None else tuple(parts)


def eigvalsh(a, UPLO="L"):
    return _eigh(_symmetric(_square(a), UPLO), False, "eigvalsh")[0]


# ---------------------------------------------------------------- singular values
def _gram(M):
    """A^T A or A A^T, whichever is smaller."""
    return _mT(M) @ M if M.shape[-2] >= M.shape[-1] else M @ _mT(M)


def _matrices(a):
    """a as a stacked (B, m, n) Tracer, with B, m, n."""
    t = lift(builder_of(a), a)
    if t.ndim < 2:
        raise np.linalg.LinAlgError(f"{np.ndim(t)}-dimensional array given. Array must be "
                                    "at least two-dimensional")
    m, n = t.shape[-2:]
    nb = int(np.prod(t.shape[:-2]))
    return np.reshape(t, (nb, m, n)), nb, m, n


def svdvals(a):
    """Singular values, descending, of the stacked (..., m, n) a."""
    M, nb, m, n = _matrices(a)
    r = min(m, n)
    batch = a.shape[:-2]
    if M.size == 0 or r == 0:
        return lift(M.b, np.zeros(batch + (r,)))
    s0 = _lapack(K.SVALS, M, nb * r).reshape((nb, r))
    w = _eigh(_gram(M), False, "singular values")[0][:, ::-1]     # s^2, descending
    f1, f2 = _sqrt_derivatives(s0)
    return np.reshape(_taylor(s0, f1, f2, delta(w)), batch + (r,))


def _sqrt_derivatives(s0):
    """sqrt' and sqrt'' at w = s0^2; 0 at s0 = 0, where a singular value is not
    differentiable (as abs at 0)."""
    pos = s0 > 0.0
    safe = np.where(pos, s0, 1.0)
    f1 = np.where(pos, 0.5 / safe, 0.0)
    return f1, -f1 / (2.0 * safe * safe)


def nuclear_norm(a):
    """Sum of the singular values of the stacked a: sum_i sqrt(w_i) over the eigenvalues
    w of the Gram matrix, second-order terms by divided differences of sqrt', which stay
    finite where singular values repeat."""
    M, nb, m, n = _matrices(a)
    batch = a.shape[:-2]
    if M.size == 0:
        return lift(M.b, np.zeros(batch))
    r = min(m, n)
    s0 = _lapack(K.SVALS, M, nb * r).reshape((nb, r))[:, ::-1]   # ascending, as eigh
    B = _eigenbasis(_gram(M))[2]
    f1 = _sqrt_derivatives(s0)[0]
    # (sqrt'(w_i) - sqrt'(w_k)) / (w_i - w_k), and sqrt''(w_i) where they meet
    si, sk = s0[:, :, None], s0[:, None, :]
    ok = (si > 0.0) & (sk > 0.0)
    dd = np.where(ok, -0.5 / np.where(ok, si * sk * (si + sk), 1.0), 0.0)
    total = np.sum(s0, axis=-1) + np.sum(f1 * np.diagonal(B, axis1=-2, axis2=-1), axis=-1) \
        + 0.5 * np.sum(dd * B * B, axis=(-2, -1))
    return np.reshape(total, batch)


# ---------------------------------------------------------------- qr
def _full_rank(M, rcond, what):
    """Refuse a matrix whose rank is short at the trace point (by NumPy's cutoff):
    the factorization has no derivative there."""
    s = np.linalg.svd(M.value, compute_uv=False)
    if np.any(s[:, -1] <= rcond * s[:, 0]):
        raise np.linalg.LinAlgError(f"numhess: {what}: its derivative is not defined "
                                    "there")


def qr(a, mode="reduced"):
    if mode not in ("reduced", "complete", "r", "raw"):
        raise ValueError(f"Unrecognized mode '{mode}'")
    M, nb, m, n = _matrices(a)
    if mode == "raw" or (mode == "complete" and m > n):
        raise NotImplementedError(f"numhess: np.linalg.qr(mode={mode!r}) of a tall matrix "
                                  "(its extra columns are not functions of a: use "
                                  "mode='reduced')")
    r = min(m, n)
    batch = a.shape[:-2]
    if M.size == 0:
        Q, R = lift(M.b, np.zeros(batch + (m, r))), lift(M.b, np.zeros(batch + (r, n)))
        return R if mode == "r" else _result("QRResult", Q, R)
    _full_rank(M, max(m, n) * np.finfo(float).eps, "qr of a rank-deficient matrix")
    Q0, R0 = _split(_lapack(K.QR, M, nb * r * (m + n)), [(nb, m, r), (nb, r, n)])
    sign = np.sign(np.diagonal(R0, axis1=-2, axis2=-1))
    A1 = M if m >= n else M[:, :, :m]      # Q Rc[:, :m] = A1: Q is A1's alone
    if m < n:
        _full_rank(A1, m * np.finfo(float).eps,
                   "qr of a wide matrix whose first columns are rank-deficient")
    Lc = np.linalg.cholesky(_mT(A1) @ A1)       # R = Lc^T up to the signs of its rows
    Qc = A1 @ _mT(np.linalg.inv(Lc))
    Rc = _mT(Lc) if m >= n else _mT(Qc) @ M
    Q = np.reshape(Q0 + delta(Qc) * sign[:, None, :], batch + (m, r))
    R = np.reshape(R0 + sign[:, :, None] * delta(Rc), batch + (r, n))
    if mode == "r":
        return R
    return _result("QRResult", Q, R)


# ---------------------------------------------------------------- pinv, lstsq
def _pinv_rcond(m, n, rcond, rtol):
    """NumPy's cutoff of pinv, relative to the largest singular value."""
    if rcond is not None:
        if rtol is not _NO:
            raise ValueError("`rtol` and `rcond` can't be both set.")
        return float(rcond)
    if rtol is _NO:
        return 1e-15
    return max(m, n) * np.finfo(float).eps if rtol is None else float(rtol)


def pinv(a, rcond=None, hermitian=False, *, rtol=_NO):
    """The pseudo-inverse of a full-rank a (its derivative is not defined where the rank
    drops): LAPACK's value, the derivatives of inv(A^T A) A^T (or A^T inv(A A^T)). With
    hermitian, of the symmetric matrix with a's lower triangle (NumPy's eigh reads that)."""
    if hermitian:
        a = _symmetric(_square(a), "L")
    M, nb, m, n = _matrices(a)
    batch = a.shape[:-2]
    if M.size == 0:
        return lift(M.b, np.zeros(batch + (n, m)))
    rc = _pinv_rcond(m, n, rcond, rtol)
    _full_rank(M, rc, "pinv of a rank-deficient matrix")
    P0 = _lapack(K.PINV, M, nb * n * m, rc).reshape((nb, n, m))
    Pc = np.linalg.inv(_mT(M) @ M) @ _mT(M) if m >= n else _mT(M) @ np.linalg.inv(M @ _mT(M))
    return np.reshape(P0 + delta(Pc), batch + (n, m))


def lstsq(a, b, rcond=None):
    """x = pinv(a) @ b for a full-rank a, with NumPy's residuals, rank and singular values."""
    t = lift(builder_of(a, b), a)
    if t.ndim != 2:
        raise np.linalg.LinAlgError(f"{t.ndim}-dimensional array given. Array must be "
                                    "two-dimensional")
    rhs = lift(t.b, b)
    m, n = t.shape
    if rhs.shape[0] != m:
        raise np.linalg.LinAlgError("Incompatible dimensions")
    x = pinv(t, rcond=max(m, n) * np.finfo(float).eps if rcond is None else rcond) @ rhs
    if m > n:
        res = np.sum((t @ x - rhs) ** 2, axis=0)
        res = np.reshape(res, (1,)) if rhs.ndim == 1 else res
    else:
        res = lift(t.b, np.zeros(0))
    return x, res, min(m, n), svdvals(t)
