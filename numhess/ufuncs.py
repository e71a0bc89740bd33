"""Every NumPy ufunc numhess differentiates, mapped to its opcode (rules: kernels.py)."""
import functools
import math

import numpy as np
import scipy.special as sc

from . import kernels as K
from . import lower as L
from . import special, special_values
from .tracer import Tracer, TraceError, builder_of, concrete_key, lift, value_of

UNARY = {
    np.negative: K.NEG, np.exp: K.EXP, np.exp2: K.EXP2, np.expm1: K.EXPM1, np.log: K.LOG,
    np.log2: K.LOG2, np.log10: K.LOG10, np.log1p: K.LOG1P, np.sqrt: K.SQRT, np.cbrt: K.CBRT,
    np.square: K.SQUARE, np.reciprocal: K.RECIP, np.sin: K.SIN, np.cos: K.COS, np.tan: K.TAN,
    np.arcsin: K.ARCSIN, np.arccos: K.ARCCOS, np.arctan: K.ARCTAN, np.sinh: K.SINH,
    np.cosh: K.COSH, np.tanh: K.TANH, np.arcsinh: K.ARCSINH, np.arccosh: K.ARCCOSH,
    np.arctanh: K.ARCTANH, np.absolute: K.ABS, np.fabs: K.ABS,
    # scipy.special's ufuncs reach __array_ufunc__ as NumPy's do
    sc.expit: K.EXPIT, sc.logit: K.LOGIT, sc.log_expit: K.LOG_EXPIT, sc.erf: K.ERF,
    sc.log_ndtr: K.LOG_NDTR,
    sc.erfc: K.ERFC, sc.gammaln: K.GAMMALN, sc.digamma: K.DIGAMMA, sc.psi: K.DIGAMMA,
    sc.entr: K.ENTR, sc.log1p: K.LOG1P, sc.expm1: K.EXPM1, sc.exp2: K.EXP2, sc.cbrt: K.CBRT,
}
BINARY = {
    np.add: K.ADD, np.subtract: K.SUB, np.multiply: K.MUL, np.true_divide: K.DIV,
    np.power: K.POW, np.float_power: K.POW, np.arctan2: K.ARCTAN2, np.hypot: K.HYPOT,
    np.logaddexp: K.LOGADDEXP, np.logaddexp2: K.LOGADDEXP2, np.maximum: K.MAXIMUM,
    np.minimum: K.MINIMUM, np.fmax: K.FMAX, np.fmin: K.FMIN,
    sc.xlogy: K.XLOGY, sc.xlog1py: K.XLOG1PY, sc.rel_entr: K.REL_ENTR,
    np.remainder: K.REMAINDER, np.fmod: K.FMOD,
}
# The non-differentiable: their results carry no derivative (autograd's nograd_functions).
NOGRAD_UNARY = {
    np.sign: K.SIGN, np.floor: K.FLOOR, np.ceil: K.CEIL, np.rint: K.RINT, np.trunc: K.TRUNC,
    np.fix: K.TRUNC, np.isnan: K.ISNAN, np.isinf: K.ISINF, np.isfinite: K.ISFINITE,
    np.logical_not: K.NOT,
}
NOGRAD_BINARY = {
    np.less: K.LT, np.less_equal: K.LE, np.greater: K.GT, np.greater_equal: K.GE,
    np.equal: K.EQ, np.not_equal: K.NE, np.logical_and: K.AND, np.logical_or: K.OR,
    np.logical_xor: K.XOR, np.floor_divide: K.FLOORDIV,
}
LINEAR = {np.deg2rad: math.pi / 180, np.radians: math.pi / 180,
          np.rad2deg: 180 / math.pi, np.degrees: 180 / math.pi}
# Bitwise operators on booleans are the logical ones.
BOOLEAN = {np.bitwise_and: np.logical_and, np.bitwise_or: np.logical_or,
           np.bitwise_xor: np.logical_xor, np.invert: np.logical_not}
# An operand that is a scalar constant folds into the instruction's float parameter.
SCALAR_RIGHT = {np.add: (K.ADDC, 1.0), np.subtract: (K.ADDC, -1.0), np.multiply: (K.MULC, 1.0),
                np.true_divide: (K.DIVC, 1.0), np.power: (K.POWC, 1.0)}
SCALAR_LEFT = {np.add: K.ADDC, np.subtract: K.RSUBC, np.multiply: K.MULC,
               np.true_divide: K.RDIVC, np.power: K.RPOWC}
POWER_SHORTCUTS = {2.0: K.SQUARE, 0.5: K.SQRT, -1.0: K.RECIP}
# On either side: a tie takes the branch x >= c (relu's derivative at 0 is 1), as abs'(0)
# does, so both are right where a formula is smooth (the softplus max(x, 0) +
# log1p(exp(-|x|)) at 0); two traced operands split a tie evenly
SCALAR_EITHER = {np.maximum: K.MAXC, np.minimum: K.MINC, np.fmax: K.FMAXC, np.fmin: K.FMINC}
REDUCE = {np.add: np.sum, np.multiply: np.prod, np.maximum: np.max, np.minimum: np.min,
          np.logical_and: np.all, np.logical_or: np.any, np.fmax: np.nanmax,
          np.fmin: np.nanmin, np.logaddexp: lambda x, **kw: special.logsumexp(x, **kw),
          np.logaddexp2: lambda x, **kw: special.logsumexp(x * math.log(2), **kw) / math.log(2)}
GENERALIZED = {getattr(np, name): fn for name, fn in {
    "vecdot": lambda a, b, axis: np.sum(a * b, axis=axis),
    "matvec": lambda A, v, _: np.matmul(A, np.expand_dims(v, -1))[..., 0],
    "vecmat": lambda v, A, _: np.matmul(np.expand_dims(v, -2), A)[..., 0, :]}.items()
    if hasattr(np, name)}


def _running(ufunc, identity):
    """ufunc.accumulate for a ufunc NumPy has no cumulative function of (running max)."""
    return lambda x, axis: L.cumulative(lift(builder_of(x), x), axis, ufunc, identity)


ACCUMULATE = {np.add: np.cumsum, np.multiply: np.cumprod,
              np.maximum: _running(np.maximum, -np.inf), np.minimum: _running(np.minimum, np.inf),
              np.logaddexp: _running(np.logaddexp, -np.inf),
              np.logaddexp2: _running(np.logaddexp2, -np.inf)}


def _pseudo_huber(d, r):
    """As SciPy: d^2 expm1(log1p((r / d)^2) / 2), no sqrt(1 + t^2) - 1 to cancel at small
    r / d; inf for d < 0, 0 for d = 0 (there at a safe d)."""
    ds = np.where(d == 0.0, 1.0, d)
    value = ds * ds * np.expm1(0.5 * np.log1p((r / ds) ** 2))
    return np.where(d < 0.0, np.inf, np.where(d == 0.0, 0.0, value))


BETALN_FAR = 100.0  # the series' first term left out, 1/(1680 x^7), is below 1e-17 there


def _betaln(a, b):
    """gammaln(a) + gammaln(b) - gammaln(a + b); with the larger argument and the sum
    past BETALN_FAR, its last two terms as the difference of their Stirling series, the
    logs as log1p (the plain sum cancels two huge terms: 5% off at b = 1e15). Each form
    at a safe point where not taken."""
    first = a <= b      # (a where, not minimum: at a tie that splits the derivative)
    lo, hi = np.where(first, a, b), np.where(first, b, a)
    far = (hi > BETALN_FAR) & (hi + lo > BETALN_FAR)    # both Stirling series' arguments
    h, s = np.where(far, hi, 2.0 * BETALN_FAR), np.where(far, lo, 1.0)
    near_a, near_b = np.where(far, 1.0, a), np.where(far, 1.0, b)
    near = sc.gammaln(near_a) + sc.gammaln(near_b) - sc.gammaln(near_a + near_b)
    # gammaln(h) - gammaln(h + s) = -(h - 1/2) log1p(s / h) - s log(h + s) + s
    #                               + w(h) - w(h + s), w(x) = 1/(12x) - 1/(360x^3) + ...
    w = lambda x: (1.0 / 12.0 - (1.0 / 360.0 - 1.0 / (1260.0 * x * x)) / (x * x)) / x
    tail = (-(h - 0.5) * np.log1p(s / h) - s * np.log(h + s) + s + (w(h) - w(h + s)))
    return np.where(far, sc.gammaln(s) + tail, near)


# Ufuncs written with the ones above.
COMPOSITE = {np.heaviside: lambda x1, x2: np.where(x1 < 0, 0.0, np.where(x1 > 0, 1.0, x2)),
             np.copysign: lambda x1, x2: np.where(_signbit(x2), -np.abs(x1), np.abs(x1)),
             np.signbit: lambda x: _signbit(x),
             np.conjugate: lambda x: x.copy(),      # real values only: a new array
             np.divmod: lambda a, b: (np.floor_divide(a, b), np.remainder(a, b)),
             sc.ndtr: lambda x: 0.5 * sc.erfc(x * -math.sqrt(0.5)),     # as SciPy computes it
             sc.gamma: lambda x: _gamma_sign(x) * np.exp(sc.gammaln(x)),
             sc.poch: lambda a, m: _poch(a, m),
             sc.rgamma: lambda x: _gamma_sign(x) * np.exp(-sc.gammaln(x)),
             sc.gammasgn: lambda x: _gamma_sign(x),
             sc.loggamma: lambda x: np.where(x >= 0, sc.gammaln(x), np.nan),  # real x
             sc.beta: lambda a, b: _gamma_sign(a) * _gamma_sign(b) * _gamma_sign(a + b)
             * np.exp(_betaln(a, b)),
             sc.binom: lambda n, k: 1.0 / ((n + 1.0) * sc.beta(n - k + 1.0, k + 1.0)),
             sc.boxcox: lambda x, lmbda: _expm1_over(lmbda, np.log(x)),
             sc.boxcox1p: lambda x, lmbda: _expm1_over(lmbda, np.log1p(x)),
             sc.inv_boxcox: lambda y, lmbda: np.exp(_log1p_over(lmbda, y)),
             sc.inv_boxcox1p: lambda y, lmbda: np.expm1(_log1p_over(lmbda, y)),
             sc.exprel: lambda x: _expm1_over(x, 1.0),
             sc.powm1: lambda x, y: np.expm1(y * np.log(x)),
             sc.cosm1: lambda x: -2.0 * np.sin(0.5 * x) ** 2,
             sc.exp10: lambda x: 10.0 ** x,
             sc.betaln: _betaln,
             sc.kl_div: lambda x, y: sc.rel_entr(x, y) - x + y,
             sc.huber: lambda d, r: np.where(
                 d < 0, np.inf, np.where(np.abs(r) <= d, 0.5 * r * r, d * (np.abs(r) - 0.5 * d))),
             sc.pseudo_huber: _pseudo_huber}


SERIES_MAX = 1e-4   # |u| below which expm1(u) / u and log1p(u) / u are their series (to u^3:
# the next term is below 1e-17 there)


def _over(f, c1, c2, c3, lmbda, t):
    """f(lmbda t) / lmbda, t at lmbda = 0, for f of series u (1 + c1 u + c2 u^2 + c3 u^3
    + ...) (expm1: Box-Cox's transform; log1p: its inverse's), exact to second order in
    lmbda there too: the series where lmbda t is small, the quotient elsewhere (at a safe
    lmbda where not taken: its partials would be NaN at 0)."""
    u = lmbda * t
    near = np.abs(u) < SERIES_MAX
    safe = np.where(near, 1.0, lmbda)
    return np.where(near, t * (1.0 + u * (c1 + u * (c2 + u * c3))), f(safe * t) / safe)


_expm1_over = functools.partial(_over, np.expm1, 0.5, 1.0 / 6.0, 1.0 / 24.0)
_log1p_over = functools.partial(_over, np.log1p, -0.5, 1.0 / 3.0, -0.25)


def _poch(a, m):
    """Pochhammer's (a)_m = gamma(a + m) / gamma(a), without gamma's overflow; for
    positive a and m, log gamma(a + m) - log gamma(a) as gammaln(m) - betaln(a, m), whose
    Stirling difference keeps the digits the plain difference cancels at large a (1e12:
    0.1% off, and t.logpdf's gradient in a large df of the wrong sign). Each form at a
    safe point where not taken."""
    positive = (a > 0) & (m > 0)
    ap, mp = np.where(positive, a, 1.0), np.where(positive, m, 1.0)
    an, s = np.where(positive, 1.0, a), np.where(positive, 0.0, m)
    log_ratio = np.where(positive, sc.gammaln(mp) - _betaln(ap, mp),
                         sc.gammaln(an + s) - sc.gammaln(an))
    return np.where(positive, 1.0, _gamma_sign(a + m) * _gamma_sign(a)) * np.exp(log_ratio)


def _gamma_sign(x):
    """The sign of gamma(x), which alternates between the poles below 0."""
    return np.where(x > 0, 1.0, np.cos(np.pi * np.floor(x)))


def _signbit(x):
    """np.signbit, -0.0 included, as comparisons numhess traces."""
    return (x < 0) | ((x == 0) & (np.divide(1.0, x) < 0)) if isinstance(x, Tracer) else \
        np.signbit(x)


def _scalar(x):
    """A real scalar constant as a float, else None."""
    if isinstance(x, Tracer) or np.ndim(x) != 0:
        return None
    if isinstance(x, (bool, np.bool_)):
        return None
    v = np.asarray(x)
    if v.dtype.kind not in "iuf":
        return None
    return float(v)


def _into(ufunc, inputs, out, where):
    """ufunc(*inputs, out=out, where=where): computed only where the mask holds (as
    NumPy does, so a division guarded by where=b != 0 never divides by zero, in value or
    derivative), written into out, a traced array (np.zeros_like(x), say)."""
    if isinstance(out, tuple):
        if len(out) != 1:
            raise NotImplementedError(f"numhess: {_name(ufunc)} with several out= arrays")
        out = out[0]
    shape = np.broadcast_shapes(*(np.shape(value_of(x)) for x in (*inputs, where)))
    b = builder_of(*inputs, where, out)
    if out is None:     # NumPy leaves the unselected entries unspecified: zeros here
        out = lift(b, np.zeros(shape))
    elif not isinstance(out, Tracer):
        if any(x is out for x in inputs):       # what `a += t` and `a[i] += t` call
            raise TraceError(
                f"numhess: a += t or a[i] += t ({_name(ufunc)}(a, t, out=a)) writes traced "
                "values into a NumPy array a, which would drop their derivative; make a "
                "from a traced array, np.zeros_like(x, shape=a.shape) (x traced), into "
                "which both work, or write a = a + t")
        raise TraceError(f"numhess: {_name(ufunc)}(..., out=) writes traced values into a "
                         "NumPy array; make out with np.zeros_like(x, shape=...) (x traced)")
    inputs = [lift(b, x) for x in inputs]   # (a constant indexed by a traced mask: traced)
    if ufunc.signature is not None:      # matmul and kin: no elementwise selection
        if where is not True:
            raise NotImplementedError(f"numhess: {_name(ufunc)} with where=")
        out[...] = ufunc(*inputs)
        return out
    mask = np.logical_and(where, np.ones(shape, bool))     # broadcast, kept boolean
    out[mask] = ufunc(*(np.broadcast_to(x, shape)[mask] for x in inputs))
    return out


def apply_ufunc(ufunc, method, inputs, kwargs):
    if method == "reduce" and ufunc in REDUCE:     # where=, initial=, out= as np.sum's
        kwargs = {"axis": 0, **kwargs}
        kwargs.pop("dtype", None)
        return REDUCE[ufunc](inputs[0], **kwargs)
    out, where = kwargs.pop("out", None), kwargs.pop("where", True)
    if out is not None or where is not True:
        if method != "__call__" or ufunc.nout != 1:
            raise NotImplementedError(f"numhess: {_name(ufunc)}.{method} with out= or "
                                      "where= on traced values")
        return _into(ufunc, inputs, out, where)
    if method == "accumulate" and ufunc in ACCUMULATE:
        return ACCUMULATE[ufunc](inputs[0], axis=kwargs.get("axis", 0))
    if method == "at" and ufunc in (np.add, np.subtract):
        return _accumulate_at(ufunc, *inputs)
    if method == "reduceat" and ufunc in REDUCE:
        return _reduceat(ufunc, *inputs, **kwargs)
    if method == "outer" and ufunc.nin == 2:
        a, b = inputs
        nb = np.ndim(value_of(b))
        return ufunc(np.reshape(a, np.shape(value_of(a)) + (1,) * nb), b)
    if method != "__call__":
        raise NotImplementedError(f"numhess does not support {_name(ufunc)}.{method} "
                                  "on traced values")
    if ufunc is np.matmul:
        return L.matmul(*inputs)
    if ufunc in GENERALIZED:            # NumPy 2's vecdot, matvec, vecmat (real values)
        axis = kwargs.pop("axis", -1) if ufunc is getattr(np, "vecdot", None) else -1
        if kwargs:
            raise NotImplementedError(f"numhess: {_name(ufunc)} with {', '.join(kwargs)}=")
        return GENERALIZED[ufunc](*inputs, axis)
    if ufunc in COMPOSITE:
        return COMPOSITE[ufunc](*inputs)
    b = builder_of(*inputs)
    inputs = [lift(b, x) if isinstance(x, (np.ndarray, list, tuple)) and
              builder_of(x) is not None else x for x in inputs]
    if ufunc in BOOLEAN and all(value_of(x).dtype == np.bool_ for x in inputs):
        ufunc = BOOLEAN[ufunc]
    values = [value_of(x) for x in inputs]
    for v in values:
        if v.dtype.kind == "c":
            raise TypeError("numhess: complex values are not supported")
    if ufunc in special_values.FUNCTIONS:
        return special_values.apply(ufunc, inputs)
    with np.errstate(all="ignore"):
        value = ufunc(*values)
    if ufunc is np.positive:
        return inputs[0].copy()
    if ufunc in UNARY:
        return L.unary(UNARY[ufunc], inputs[0], value)
    if ufunc in NOGRAD_UNARY:
        return L.unary(NOGRAD_UNARY[ufunc], inputs[0], value, differentiable=False)
    if ufunc in LINEAR:
        return L.unary(K.MULC, inputs[0], value, p=LINEAR[ufunc])
    if ufunc in BINARY:
        x, y = inputs
        cy, cx = _scalar(y), _scalar(x)
        if ufunc in SCALAR_RIGHT and cy is not None:
            if ufunc is np.power and cy in POWER_SHORTCUTS:   # NumPy takes these too
                return L.unary(POWER_SHORTCUTS[cy], x, value)
            op, sign = SCALAR_RIGHT[ufunc]
            return L.unary(op, x, value, p=sign * cy)
        if ufunc in SCALAR_LEFT and cx is not None:
            return L.unary(SCALAR_LEFT[ufunc], y, value, p=cx)
        if ufunc in SCALAR_EITHER and (cx is None) != (cy is None):
            t, c = (x, cy) if cx is None else (y, cx)
            return L.unary(SCALAR_EITHER[ufunc], t, value, p=c)
        return L.binary(BINARY[ufunc], x, y, value)
    if ufunc in NOGRAD_BINARY:
        return L.binary(NOGRAD_BINARY[ufunc], inputs[0], inputs[1], value,
                        differentiable=False)
    raise NotImplementedError(f"numhess does not support {_name(ufunc)} on traced values")


def _accumulate_at(ufunc, a, indices, b):
    """np.add.at / np.subtract.at into a traced array: every b at its index, repeated
    indices accumulating (finite-element assembly), as one SCATTER added to a."""
    if not isinstance(a, Tracer):
        raise TraceError(f"numhess: {_name(ufunc)}.at of traced values into a NumPy array "
                         "would cut the derivative; accumulate into an array made with "
                         "np.zeros_like(x)")
    pos = np.arange(a.size).reshape(a.shape)[concrete_key(a.b, indices)]
    b = L.broadcast_to(lift(a.b, b), pos.shape)
    added = L.scatter_sum(L.reshape(b if ufunc is np.add else -b, (-1,)), pos.ravel(), a.size)
    a._write(a + L.reshape(added, a.shape))


def _reduceat(ufunc, a, indices, axis=0, dtype=None):
    """ufunc.reduceat: the reduction of a[indices[i]:indices[i + 1]] along axis, or
    a[indices[i]] where the next index is not larger (as NumPy's); for add, one gather
    and one SCATTER by segment, for the others a reduction per segment."""
    a = lift(builder_of(a), a)
    axis = np.lib.array_utils.normalize_axis_index(axis, a.ndim)
    idx, n = np.asarray(indices), a.shape[axis]
    if idx.ndim != 1 or idx.dtype.kind not in "iuf":       # (floats truncated, as NumPy)
        raise TypeError(f"{_name(ufunc)}.reduceat: indices must be a 1-D integer array")
    idx = idx.astype(np.intp)
    if idx.size == 0:
        return lift(a.b, np.zeros(a.shape[:axis] + (0,) + a.shape[axis + 1:]))
    bad = idx[(idx < 0) | (idx >= n)]
    if bad.size:
        raise IndexError(f"index {bad[0]} out-of-bounds in {_name(ufunc)}.reduceat [0, {n})")
    ends = np.append(idx[1:], n)
    rows = [np.arange(lo, hi) if lo < hi else np.array([lo]) for lo, hi in zip(idx, ends)]
    moved = np.moveaxis(a, axis, 0)
    if ufunc is np.add:
        rest = int(np.prod(moved.shape[1:]))
        segment = np.repeat(np.arange(idx.size), [r.size for r in rows])
        groups = (segment[:, None] * rest + np.arange(rest)).ravel()
        summed = L.scatter_sum(moved[np.concatenate(rows)], groups, idx.size * rest)
        out = L.reshape(summed, (idx.size,) + moved.shape[1:])
    else:
        out = np.stack([REDUCE[ufunc](moved[r[0]:r[-1] + 1], axis=0) for r in rows])
    return np.moveaxis(out, 0, axis)


def _name(ufunc):
    """np.sin, scipy.special.gamma, or the ufunc's own name (np.frompyfunc, numba)."""
    if getattr(np, ufunc.__name__, None) is ufunc:
        return f"np.{ufunc.__name__}"
    if getattr(sc, ufunc.__name__, None) is ufunc:
        return f"scipy.special.{ufunc.__name__}"
    return f"the ufunc {ufunc.__name__!r}"
