"""scipy.linalg's common solvers and factorizations for traced values.

SciPy's own convert their operands (`_asarray_validated`) and call LAPACK, which a traced
array refuses. These take SciPy's signatures and write each with np.linalg's traced
primitives, reading only what SciPy's reads (the triangle `lower` names, the band or the
diagonal `assume_a` names, a unit diagonal), so values and derivatives are those of
SciPy's function; plain arrays go to SciPy's own. While a trace runs they are
scipy.linalg's names (scipy_hooks.py).
"""
import numpy as np
import scipy.linalg as sl

from . import linalg
from .tracer import builder_of, lift

__all__ = ["solve", "solve_triangular", "cholesky", "cho_factor", "cho_solve", "inv", "det",
           "eigh", "eigvalsh", "norm", "lstsq", "pinv", "svdvals", "block_diag", "expm",
           "toeplitz", "hankel", "circulant"]
SCIPY = {name: getattr(sl, name) for name in __all__}

# assume_a's names (SciPy's long and short ones) -> the part of `a` SciPy's solver reads
_STRUCTURE = {None: "full", "gen": "full", "general": "full", "banded": "full",
              "sym": "triangle", "symmetric": "triangle", "her": "triangle",
              "hermitian": "triangle", "pos": "positive", "positive definite": "positive",
              "diagonal": "diagonal", "tridiagonal": "tridiagonal",
              "upper triangular": "upper", "lower triangular": "lower"}


def _matrix(bl, a, what):
    a = lift(bl, a)
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise ValueError(f"{what}: expected a square matrix (or a stack of them), got shape "
                         f"{a.shape}")
    return a


def _read(a, assume_a, lower):
    """The matrix SciPy's solver for assume_a sees in a: a band or triangle of it, a
    symmetric matrix mirrored from the triangle `lower` names, or for "pos" the Cholesky
    factor of that one. A banded or general one (or None: SciPy picks a solver from the
    values) is all of a."""
    if assume_a not in _STRUCTURE:
        raise ValueError(f"{assume_a!r} is not a recognized matrix structure; expected one "
                         f"of {', '.join(repr(k) for k in _STRUCTURE if k)}")
    part = _STRUCTURE[assume_a]
    n = a.shape[-1]
    if part == "triangle":
        return linalg._symmetric(a, "L" if lower else "U")
    if part == "positive":     # its Cholesky factor (raising LinAlgError, as SciPy's)
        return np.linalg.cholesky(a, upper=not lower)
    if part == "upper":
        return np.triu(a)
    if part == "lower":
        return np.tril(a)
    if part == "full":
        return a
    i, j = np.indices((n, n))
    return a * (np.abs(i - j) <= (0 if part == "diagonal" else 1))


def _solve(A, b):
    """A^-1 b with SciPy's shapes: a b of one dimension is a vector, others (..., N, NRHS)
    matrices."""
    if np.ndim(b) == 1:
        return np.linalg.solve(A, b[:, None])[..., 0]
    return np.linalg.solve(A, b)


def _cholesky_solve(F, lower, b):
    """A^-1 b for A = F F^T (F lower) or F^T F (F upper): two triangular solves."""
    Ft = np.swapaxes(F, -1, -2)
    first, second = (F, Ft) if lower else (Ft, F)
    return _solve(second, _solve(first, b))


def solve(a, b, lower=False, overwrite_a=False, overwrite_b=False, check_finite=True,
          assume_a=None, transposed=False):
    bl = builder_of(a, b)
    if bl is None:
        return SCIPY["solve"](a, b, lower=lower, overwrite_a=overwrite_a,
                              overwrite_b=overwrite_b, check_finite=check_finite,
                              assume_a=assume_a, transposed=transposed)
    A = _read(_matrix(bl, a, "solve"), assume_a, lower)
    if _STRUCTURE[assume_a] == "positive":   # (symmetric: transposed changes nothing)
        return _cholesky_solve(A, lower, lift(bl, b))
    return _solve(np.swapaxes(A, -1, -2) if transposed else A, lift(bl, b))


def _triangle(c, lower, unit_diagonal=False):
    if unit_diagonal:
        eye = np.eye(c.shape[-1])
        return (np.tril(c, -1) if lower else np.triu(c, 1)) + eye
    return np.tril(c) if lower else np.triu(c)


def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False,
                     check_finite=True):
    bl = builder_of(a, b)
    if bl is None:
        return SCIPY["solve_triangular"](a, b, trans=trans, lower=lower,
                                         unit_diagonal=unit_diagonal,
                                         overwrite_b=overwrite_b, check_finite=check_finite)
    if trans not in (0, 1, 2, "N", "T", "C"):
        raise ValueError("Invalid transpose option %r" % (trans,))
    T = _triangle(_matrix(bl, a, "solve_triangular"), lower, unit_diagonal)
    return _solve(T if trans in (0, "N") else np.swapaxes(T, -1, -2), lift(bl, b))


def cholesky(a, lower=False, overwrite_a=False, check_finite=True):
    bl = builder_of(a)
    if bl is None:
        return SCIPY["cholesky"](a, lower=lower, overwrite_a=overwrite_a,
                                 check_finite=check_finite)
    return np.linalg.cholesky(_matrix(bl, a, "cholesky"), upper=not lower)


def cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    """(c, lower): the factor in c's triangle `lower`, a's entries in the other (as
    SciPy's, whose documentation calls them arbitrary)."""
    bl = builder_of(a)
    if bl is None:
        return SCIPY["cho_factor"](a, lower=lower, overwrite_a=overwrite_a,
                                   check_finite=check_finite)
    a = _matrix(bl, a, "cho_factor")
    rest = np.triu(a, 1) if lower else np.tril(a, -1)
    return np.linalg.cholesky(a, upper=not lower) + rest, lower


def cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    """A^-1 b for A = L L^T (L the triangle `lower` of c) or U^T U: two triangular solves."""
    c, lower = c_and_lower
    bl = builder_of(c, b)
    if bl is None:
        return SCIPY["cho_solve"](c_and_lower, b, overwrite_b=overwrite_b,
                                  check_finite=check_finite)
    return _cholesky_solve(_triangle(_matrix(bl, c, "cho_solve"), lower), lower, lift(bl, b))


def inv(a, overwrite_a=False, check_finite=True, *, assume_a=None, lower=False):
    bl = builder_of(a)
    if bl is None:
        return SCIPY["inv"](a, overwrite_a=overwrite_a, check_finite=check_finite,
                            assume_a=assume_a, lower=lower)
    A = _read(_matrix(bl, a, "inv"), assume_a, lower)
    if _STRUCTURE[assume_a] == "positive":
        return _cholesky_solve(A, lower, np.eye(A.shape[-1]))
    return np.linalg.inv(A)


def det(a, overwrite_a=False, check_finite=True):
    bl = builder_of(a)
    if bl is None:
        return SCIPY["det"](a, overwrite_a=overwrite_a, check_finite=check_finite)
    return np.linalg.det(_matrix(bl, a, "det"))


def _symmetric_eigen(name, a, b, lower, subset_by_index, subset_by_value, vectors):
    if b is not None:
        raise NotImplementedError(f"numhess: scipy.linalg.{name} of a generalized problem "
                                  "(b given) on traced values; with b = L L^T (Cholesky), "
                                  "the eigenvalues of L^-1 a L^-T are the same")
    if subset_by_value is not None:
        raise NotImplementedError(f"numhess: scipy.linalg.{name}(subset_by_value=...) on "
                                  "traced values (which eigenvalues lie in the interval "
                                  "is decided by their values); use subset_by_index")
    A = _matrix(builder_of(a), a, name)
    if vectors:
        w, V = np.linalg.eigh(A, UPLO="L" if lower else "U")
    else:
        w, V = np.linalg.eigvalsh(A, UPLO="L" if lower else "U"), None
    if subset_by_index is not None:
        lo, hi = (int(i) for i in subset_by_index)
        if not 0 <= lo <= hi < A.shape[-1]:
            raise ValueError("Requested eigenvalue indices are not valid. Valid range is "
                             f"[0, {A.shape[-1] - 1}] and start <= end, but start={lo}, "
                             f"end={hi} is given")
        w = w[..., lo:hi + 1]
        V = None if V is None else V[..., lo:hi + 1]
    return w if V is None else (w, V)


def eigh(a, b=None, *, lower=True, eigvals_only=False, overwrite_a=False, overwrite_b=False,
         type=1, check_finite=True, subset_by_index=None, subset_by_value=None, driver=None):
    if builder_of(a, b) is None:
        return SCIPY["eigh"](a, b, lower=lower, eigvals_only=eigvals_only,
                             overwrite_a=overwrite_a, overwrite_b=overwrite_b, type=type,
                             check_finite=check_finite, subset_by_index=subset_by_index,
                             subset_by_value=subset_by_value, driver=driver)
    return _symmetric_eigen("eigh", a, b, lower, subset_by_index, subset_by_value,
                            not eigvals_only)


def eigvalsh(a, b=None, *, lower=True, overwrite_a=False, overwrite_b=False, type=1,
             check_finite=True, subset_by_index=None, subset_by_value=None, driver=None):
    if builder_of(a, b) is None:
        return SCIPY["eigvalsh"](a, b, lower=lower, overwrite_a=overwrite_a,
                                 overwrite_b=overwrite_b, type=type,
                                 check_finite=check_finite, subset_by_index=subset_by_index,
                                 subset_by_value=subset_by_value, driver=driver)
    return _symmetric_eigen("eigvalsh", a, b, lower, subset_by_index, subset_by_value, False)


def norm(a, ord=None, axis=None, keepdims=False, check_finite=True):
    if builder_of(a) is None:
        return SCIPY["norm"](a, ord=ord, axis=axis, keepdims=keepdims,
                             check_finite=check_finite)
    return np.linalg.norm(a, ord=ord, axis=axis, keepdims=keepdims)


def lstsq(a, b, cond=None, overwrite_a=False, overwrite_b=False, check_finite=True,
          lapack_driver=None):
    if builder_of(a, b) is None:
        return SCIPY["lstsq"](a, b, cond=cond, overwrite_a=overwrite_a,
                              overwrite_b=overwrite_b, check_finite=check_finite,
                              lapack_driver=lapack_driver)
    x, residues, rank, s = np.linalg.lstsq(a, b, rcond=cond)
    if np.ndim(b) == 1 and np.shape(residues) == (1,):
        residues = residues[0]          # SciPy's scalar for one right-hand side
    return x, residues, rank, s


def pinv(a, *, atol=None, rtol=None, return_rank=False, check_finite=True):
    if builder_of(a) is None:
        return SCIPY["pinv"](a, atol=atol, rtol=rtol, return_rank=return_rank,
                             check_finite=check_finite)
    if atol:
        raise NotImplementedError("numhess: scipy.linalg.pinv(atol=...) on traced values; "
                                  "rtol is supported")
    p = np.linalg.pinv(a) if rtol is None else np.linalg.pinv(a, rtol=rtol)
    if not return_rank:
        return p
    s = np.linalg.svd(a.value, compute_uv=False)
    cut = (max(a.shape[-2:]) * np.finfo(float).eps if rtol is None else rtol) * s.max()
    return p, int(np.sum(s > cut))


def svdvals(a, overwrite_a=False, check_finite=True):
    if builder_of(a) is None:
        return SCIPY["svdvals"](a, overwrite_a=overwrite_a, check_finite=check_finite)
    return np.linalg.svd(a, compute_uv=False)


def block_diag(*arrs):
    """The arrays (scalars are 1 x 1, vectors 1 x n) on the diagonal of a zero matrix."""
    bl = builder_of(*arrs)
    if bl is None:
        return SCIPY["block_diag"](*arrs)
    blocks = [np.atleast_2d(lift(bl, a)) for a in arrs]
    if any(b.ndim > 2 for b in blocks):
        raise ValueError("arguments in the following positions have dimension greater "
                         f"than 2: {[i for i, b in enumerate(blocks) if b.ndim > 2]}")
    cols = [b.shape[1] for b in blocks]
    rows = []
    for i, b in enumerate(blocks):
        rows.append([b if j == i else np.zeros((b.shape[0], c)) for j, c in enumerate(cols)])
    return np.block(rows)


# Higham's degree-13 Pade approximant of exp (SIAM J. Matrix Anal. Appl. 26, 2005), and the
# 1-norm up to which it is accurate to double precision
_PADE13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0,
           1187353796428800.0, 129060195264000.0, 10559470521600.0, 670442572800.0,
           33522128640.0, 1323241920.0, 40840800.0, 960960.0, 16380.0, 182.0, 1.0)
_THETA13 = 5.371920351148152


def expm(A):
    """exp(A) by scaling and squaring the degree-13 Pade approximant, as SciPy's (which
    also takes lower degrees for small norms): exp(A) = r(A / 2^s)^(2^s). s is chosen
    from A's 1-norm at the trace point, and a replay whose norm needs more squarings
    traces again (a guard)."""
    bl = builder_of(A)
    if bl is None:
        return SCIPY["expm"](A)
    A = _matrix(bl, A, "expm")
    if A.shape[-1] == 0:
        return lift(bl, np.zeros(A.shape))
    norm1 = np.max(np.sum(np.abs(A), axis=-2))
    grow = norm1.value / _THETA13      # (NaN or inf: no squaring, NaN results as SciPy's)
    s = max(0, int(np.ceil(np.log2(grow)))) if 1 < grow < np.inf else 0
    # (true at the trace point, NaN or inf: recorded false there, it had let a later norm
    # needing squarings replay none)
    fits = np.less_equal(norm1, _THETA13 * 2.0 ** s) | ~np.isfinite(norm1)
    bl.guard(fits.slot, fits.value)
    A = A * 2.0 ** -s
    b = _PADE13
    eye = np.eye(A.shape[-1])
    A2 = A @ A
    A4 = A2 @ A2
    A6 = A4 @ A2
    U = A @ (A6 @ (b[13] * A6 + b[11] * A4 + b[9] * A2)
             + b[7] * A6 + b[5] * A4 + b[3] * A2 + b[1] * eye)
    V = A6 @ (b[12] * A6 + b[10] * A4 + b[8] * A2) + b[6] * A6 + b[4] * A4 + b[2] * A2 \
        + b[0] * eye
    R = np.linalg.solve(V - U, V + U)
    for _ in range(s):
        R = R @ R
    return R


def _entries(bl, what, c, r, default):
    """c and r (default(c) when None) as traced vectors, and c's length."""
    c = lift(bl, c)
    r = default(c) if r is None else lift(bl, r)
    if c.ndim != 1 or r.ndim != 1:
        raise NotImplementedError(f"numhess: scipy.linalg.{what} of arrays of more than one "
                                  "dimension (a batch) on traced values")
    return np.concatenate([c, r[1:]]), c.shape[0], r.shape[0]


def toeplitz(c, r=None):
    """T[i, j] = c[i - j] below the diagonal and on it, r[j - i] above."""
    bl = builder_of(c, r)
    if bl is None:
        return SCIPY["toeplitz"](c, r)
    v, m, n = _entries(bl, "toeplitz", c, r, lambda c: c)
    i, j = np.indices((m, n))
    return v[np.where(i >= j, i - j, m - 1 + j - i)]


def hankel(c, r=None):
    """H[i, j] = c[i + j] while i + j < len(c), then r[i + j - len(c) + 1]."""
    bl = builder_of(c, r)
    if bl is None:
        return SCIPY["hankel"](c, r)
    v, m, n = _entries(bl, "hankel", c, r, lambda c: np.zeros(c.shape))
    i, j = np.indices((m, n))
    return v[i + j]


def circulant(c):
    """C[i, j] = c[(i - j) mod n]."""
    bl = builder_of(c)
    if bl is None:
        return SCIPY["circulant"](c)
    c = lift(bl, c)
    if c.ndim != 1:
        raise NotImplementedError("numhess: scipy.linalg.circulant of arrays of more than "
                                  "one dimension (a batch) on traced values")
    i, j = np.indices((c.shape[0],) * 2)
    return c[(i - j) % c.shape[0]]
