"""NumPy functions built from the traced primitives: integration and polynomials,
convolutions, weighted and NaN-skipping reductions, order statistics, interpolation.

NumPy's own versions convert their arguments with ``np.asarray`` (which would drop the
derivative), so these are written again from operations numhess traces. They follow
NumPy's semantics (shapes, axes, modes) and refuse what they do not cover.
"""
import numpy as np
import scipy.special

from . import lower as L
from .numpy_api import _refuse, _t, implements
from .tracer import Tracer, builder_of, lift, positions


def _along(a, axis, index):
    """a[..., index, ...] with the index on `axis`."""
    key = [slice(None)] * np.ndim(a)
    key[axis] = index
    return a[tuple(key)]


# ---------------------------------------------------------------- calculus, polynomials
def _trapezoid(y, x=None, dx=1.0, axis=-1):
    y = _t(y, x)
    if x is None:
        d = dx
    else:
        d = np.diff(x) if np.ndim(x) == 1 else np.diff(x, axis=axis)
        if np.ndim(x) == 1 and y.ndim > 1:
            shape = [1] * y.ndim
            shape[axis] = -1
            d = np.reshape(d, shape)
    avg = (_along(y, axis, slice(1, None)) + _along(y, axis, slice(None, -1))) / 2.0
    return np.sum(d * avg, axis=axis)


for _name in ("trapezoid", "trapz"):       # trapz: NumPy < 2.0, and deprecated after
    if hasattr(np, _name):
        implements(getattr(np, _name))(_trapezoid)


@implements(np.polyval)
def _polyval(p, x):
    """Horner's rule, as NumPy evaluates it; p (highest power first) or x traced."""
    if isinstance(p, Tracer) and p.ndim != 1:
        raise ValueError("numhess: np.polyval needs a 1-D coefficient array")
    y = np.zeros_like(x, dtype=float)
    for i in range(len(p)):
        y = y * x + p[i]
    return y


@implements(np.cross)
def _cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """Cross products of 2- and 3-vectors along the last (or the given) axes."""
    if axis is not None:
        axisa = axisb = axisc = axis
    bl = builder_of(a, b)
    a = np.moveaxis(lift(bl, a), axisa, -1)
    b = np.moveaxis(lift(bl, b), axisb, -1)
    if a.shape[-1] not in (2, 3) or b.shape[-1] not in (2, 3):
        raise ValueError("incompatible dimensions for cross product\n"
                         "(dimension must be 2 or 3)")
    a0, a1, b0, b1 = a[..., 0], a[..., 1], b[..., 0], b[..., 1]
    z = a0 * b1 - a1 * b0
    if a.shape[-1] == 2 and b.shape[-1] == 2:
        return z
    a2 = a[..., 2] if a.shape[-1] == 3 else 0.0
    b2 = b[..., 2] if b.shape[-1] == 3 else 0.0
    parts = (a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, z)
    shape = np.broadcast_shapes(*(np.shape(c) for c in parts))
    c = np.stack([np.broadcast_to(c, shape) for c in parts], axis=-1)
    return np.moveaxis(c, -1, axisc)


# ---------------------------------------------------------------- convolutions
SHIFTED_MAX = 4     # a shorter sequence's length up to which a convolution is shifted sums


@implements(np.convolve)
def _convolve(a, v, mode="full"):
    """The discrete linear convolution of two 1-D sequences: the shorter one's entries
    scale shifted copies of the longer one (a sum of len(shorter) traced terms), or,
    when the longer holds no variable (data) and the shorter is long, the product of
    the longer one's (n + m - 1, m) Toeplitz matrix, one gather, with the shorter: a
    traced 500-element kernel's 1500 instructions had taken 4 ms a gradient, and 14
    minutes to compile fused."""
    bl = builder_of(a, v)
    a, v = lift(bl, a), lift(bl, v)
    if a.ndim != 1 or v.ndim != 1:
        raise ValueError("object too deep for desired array")
    if a.size == 0 or v.size == 0:
        raise ValueError("v cannot be empty" if v.size == 0 else "a cannot be empty")
    long, short = (a, v) if a.size >= v.size else (v, a)
    n, m = long.size, short.size
    if m > SHIFTED_MAX and not long.active:
        rows = np.arange(n + m - 1)[:, None] - np.arange(m)      # long[i - j], 0 outside
        full = np.pad(long, (m - 1, m - 1))[rows + (m - 1)] @ short
    else:
        full = short[0] * np.pad(long, (0, m - 1))
        for j in range(1, m):
            full = full + short[j] * np.pad(long, (j, m - 1 - j))
    if mode == "full":
        return full
    if mode == "same":
        start = (m - 1) // 2
        return full[start:start + n]
    if mode == "valid":
        return full[m - 1:n]
    raise ValueError(f"mode must be one of 'full', 'same', or 'valid' (got {mode!r})")


@implements(np.correlate)
def _correlate(a, v, mode="valid"):
    bl = builder_of(a, v)
    a, v = lift(bl, a), lift(bl, v)
    if a.size < v.size:             # NumPy's correlate of a shorter a: reversed roles
        return _convolve(v, a[::-1], mode)[::-1]
    return _convolve(a, v[::-1], mode)


# ---------------------------------------------------------------- linear algebra
@implements(np.linalg.matrix_power)
def _matrix_power(a, n):
    a = _t(a)
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError("exponent must be an integer")
    if a.ndim < 2 or a.shape[-1] != a.shape[-2]:
        raise np.linalg.LinAlgError("Last 2 dimensions of the array must be square")
    if n == 0:
        return np.broadcast_to(np.eye(a.shape[-1]), a.shape).copy()
    if n < 0:
        a, n = np.linalg.inv(a), -n
    result, power = None, a
    while n:                         # binary powering, as NumPy
        if n & 1:
            result = power if result is None else result @ power
        n >>= 1
        if n:
            power = power @ power
    return result


# ---------------------------------------------------------------- reductions
@implements(np.average)
def _average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    a = _t(a, weights)
    if weights is None:
        avg = np.mean(a, axis=axis, keepdims=keepdims)
        return (avg, np.full(np.shape(avg), a.size / max(np.size(avg), 1))) if returned \
            else avg
    w = lift(a.b, weights)
    if w.shape != a.shape:
        if axis is None:
            raise TypeError("Axis must be specified when shapes of a and weights differ.")
        if w.ndim != 1 or w.shape[0] != a.shape[axis]:
            raise ValueError("Shape of weights must be consistent with shape of a along "
                             "specified axis.")
        shape = [1] * a.ndim
        shape[axis] = -1
        w = np.broadcast_to(np.reshape(w, shape), a.shape)
    scale = np.sum(w, axis=axis, keepdims=keepdims)
    avg = np.sum(a * w, axis=axis, keepdims=keepdims) / scale
    return (avg, np.broadcast_to(scale, np.shape(avg))) if returned else avg


def _nan_to(a, fill):
    a = _t(a)
    return np.where(np.isnan(a), fill, a)


@implements(np.nansum)
def _nansum(a, axis=None, dtype=None, out=None, keepdims=False, **kw):
    return np.sum(_nan_to(a, 0.0), axis=axis, keepdims=keepdims, **kw)


@implements(np.nanprod)
def _nanprod(a, axis=None, dtype=None, out=None, keepdims=False, **kw):
    return np.prod(_nan_to(a, 1.0), axis=axis, keepdims=keepdims, **kw)


@implements(np.nanmean)
def _nanmean(a, axis=None, dtype=None, out=None, keepdims=False, **kw):
    _refuse("nanmean", out, kw)
    a = _t(a)
    nan = np.isnan(a)
    a.b.guard(nan.slot, nan.value)       # the counts below are this trace's
    count = np.sum(~nan.value, axis=axis, keepdims=keepdims)
    return np.sum(np.where(nan, 0.0, a), axis=axis, keepdims=keepdims) / count


@implements(np.nan_to_num)
def _nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    big = np.finfo(np.float64).max
    x = _t(x)
    x = np.where(np.isnan(x), nan, x)
    x = np.where(x == np.inf, big if posinf is None else posinf, x)
    return np.where(x == -np.inf, -big if neginf is None else neginf, x)


def _nan_extreme(a, axis, keepdims, kw, reduce, fill):
    """nanmax and nanmin: NaN for a slice of NaNs alone, as NumPy's (not the fill)."""
    a = _t(a)
    r = reduce(_nan_to(a, fill), axis=axis, keepdims=keepdims, **kw)
    return np.where(np.all(np.isnan(a), axis=axis, keepdims=keepdims), np.nan, r)


@implements(np.nanmax)
def _nanmax(a, axis=None, out=None, keepdims=False, **kw):
    return _nan_extreme(a, axis, keepdims, kw, np.max, -np.inf)


@implements(np.nanmin)
def _nanmin(a, axis=None, out=None, keepdims=False, **kw):
    return _nan_extreme(a, axis, keepdims, kw, np.min, np.inf)


@implements(np.ptp)
def _ptp(a, axis=None, out=None, keepdims=False):
    return np.max(a, axis=axis, keepdims=keepdims) - np.min(a, axis=axis, keepdims=keepdims)


# ---------------------------------------------------------------- order statistics
def _sorted_along_last(a, axis):
    """a sorted along `axis` moved last (all of a, raveled, for None), and a's ndim."""
    a = _t(a)
    if axis is None:
        return np.sort(np.reshape(a, -1)), a.ndim
    if np.ndim(axis) != 0:
        raise NotImplementedError("numhess: median/quantile over several axes at once")
    return np.sort(np.moveaxis(a, axis, -1), axis=-1), a.ndim


def _nan_where_nan(r, s, q_last=False):
    """r, NaN in each slice of the sorted s holding a NaN (sorted last), as NumPy's
    statistics give (the middle of [1, 2, nan] had been 2); q_last: r has the q axis
    last."""
    nan = np.isnan(s[..., -1])
    return np.where(nan[..., None] if q_last else nan, np.nan, r)


def _keep(r, ndim, axis, keepdims):
    """One statistic per slice, with the reduced axis (all ndim of them for None) kept
    where keepdims asks."""
    if not keepdims:
        return r
    return np.reshape(r, (1,) * ndim) if axis is None else np.expand_dims(r, axis)


@implements(np.quantile)
def _quantile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
              keepdims=False, **kw):
    """Quantiles by linear interpolation between the sorted values (NumPy's default)."""
    if method != "linear":
        raise NotImplementedError(f"numhess: np.quantile with method={method!r} (only "
                                  "'linear', the default)")
    if isinstance(q, Tracer):
        raise NotImplementedError("numhess: np.quantile of traced quantile levels q")
    qs = np.asarray(q, dtype=float)
    if np.any((qs < 0) | (qs > 1)):
        raise ValueError("Quantiles must be in the range [0, 1]")
    if qs.ndim > 1 or qs.ndim and keepdims:
        raise NotImplementedError("numhess: np.quantile of a q with more than one axis, "
                                  "or of several q with keepdims=True")
    s, ndim = _sorted_along_last(a, axis)
    n = s.shape[-1]
    pos = qs * (n - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    frac = pos - lo
    r = _nan_where_nan(s[..., lo] * (1.0 - frac) + s[..., hi] * frac, s, qs.ndim)
    return np.moveaxis(r, -1, 0) if qs.ndim else _keep(r, ndim, axis, keepdims)


@implements(np.percentile)
def _percentile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
                keepdims=False, **kw):
    if isinstance(q, Tracer):
        raise NotImplementedError("numhess: np.percentile of traced percentiles q")
    return _quantile(a, np.asarray(q, dtype=float) / 100.0, axis=axis, method=method,
                     keepdims=keepdims)


@implements(np.median)
def _median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    s, ndim = _sorted_along_last(a, axis)
    n = s.shape[-1]
    if n == 0:
        raise ValueError("numhess: the median of an empty array")
    mid = s[..., n // 2] if n % 2 else (s[..., n // 2 - 1] + s[..., n // 2]) / 2.0
    return _keep(_nan_where_nan(mid, s), ndim, axis, keepdims)


# ---------------------------------------------------------------- elementwise
SINC_SERIES = 1e-3    # |pi x| below this, sinc by its Taylor series (error < 1e-20)


@implements(np.sinc)
def _sinc(x):
    """sin(pi x) / (pi x), 1 at 0. Near 0 its series, so derivatives there are right."""
    y = np.pi * _t(x)
    small = np.abs(y) < SINC_SERIES           # traced: recomputed at every point
    safe = np.where(small, 1.0, y)                # no 0/0 in the branch not taken
    y2 = y * y
    return np.where(small, 1.0 - y2 / 6.0 + y2 * y2 / 120.0, np.sin(safe) / safe)


@implements(np.i0)
def _i0(x):
    """The modified Bessel function I0, as scipy.special.i0 (NumPy's own is a Python
    function of its Chebyshev series)."""
    return scipy.special.i0(_t(x))


# ---------------------------------------------------------------- interpolation
@implements(np.interp)
def _interp(x, xp, fp, left=None, right=None, period=None):
    """Piecewise-linear interpolation; x and fp may be traced, the knots xp may not. The
    interval of each traced x is guarded (a new one retraces)."""
    if isinstance(xp, Tracer) or period is not None:
        raise NotImplementedError("numhess: np.interp with traced knots xp or period=")
    bl = builder_of(x, fp, left, right)
    xp = np.asarray(xp, dtype=float)
    fp = lift(bl, fp)
    if xp.ndim != 1 or fp.ndim != 1 or xp.size != fp.size or xp.size == 0:
        raise ValueError("fp and xp are not of the same length." if xp.size != fp.size
                         else "array of sample points is empty")
    xv = x.value if isinstance(x, Tracer) else np.asarray(x, dtype=float)
    i = np.clip(np.searchsorted(xp, xv, side="right") - 1, 0, max(xp.size - 2, 0))
    below, above = xv < xp[0], xv > xp[-1]
    if isinstance(x, Tracer):        # each x's cell, or its side outside, is guarded
        lo = np.where(below, -np.inf, np.where(above, xp[-1], xp[i]))
        hi = np.where(below, xp[0], np.where(above, np.inf, xp[np.minimum(i + 1, xp.size - 1)]))
        # (true at the trace point: a NaN's cell, recorded false, had let a later x of
        # another cell replay it)
        inside = (x >= lo) & (x <= hi) | np.isnan(x)
        x.b.guard(inside.slot, inside.value)
    if xp.size == 1:
        y = fp[i] + 0.0 * x
    else:
        x0, x1 = xp[i], xp[i + 1]
        t = (x - x0) / (x1 - x0)
        y = fp[i] * (1.0 - t) + fp[i + 1] * t
    y = np.where(below, fp[0] if left is None else left, y)
    return np.where(above, fp[-1] if right is None else right, y)


# ---------------------------------------------------------------- comparisons
@implements(np.isclose)
def _isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """NumPy's test, as traced booleans (no derivative): |a - b| <= atol + rtol |b| where
    both are finite, equality where not, and NaN == NaN with equal_nan."""
    bl = builder_of(a, b)
    a, b = lift(bl, a), lift(bl, b)
    finite = np.isfinite(a) & np.isfinite(b)
    close = (finite & (np.abs(a - b) <= atol + rtol * np.abs(b))) | (~finite & (a == b))
    return close | (np.isnan(a) & np.isnan(b)) if equal_nan else close


@implements(np.allclose)
def _allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    return bool(np.all(_isclose(a, b, rtol, atol, equal_nan)))    # guarded, like an `if`


# ---------------------------------------------------------------- building arrays
@implements(np.fill_diagonal)
def _fill_diagonal(a, val, wrap=False):
    """In place, as NumPy: the traced array a holds the new diagonal from now on."""
    if not isinstance(a, Tracer):
        raise TypeError("numhess: np.fill_diagonal of a traced value into a NumPy array "
                        "would cut the derivative; fill an array made with np.zeros_like")
    if a.ndim < 2:
        raise ValueError("array must be at least 2-d")
    if a.ndim == 2:
        step, end = a.shape[1] + 1, None if wrap else a.shape[1] * a.shape[1]
    else:
        if len(set(a.shape)) != 1:
            raise ValueError("All dimensions of input must be of equal length")
        step, end = 1 + int(np.cumprod(a.shape[:-1]).sum()), None
    flat = np.arange(a.size)[:end:step]
    a[np.unravel_index(flat, a.shape)] = val


@implements(np.meshgrid)
def _meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    if indexing not in ("xy", "ij"):
        raise ValueError("Valid values for `indexing` are 'xy' and 'ij'.")
    ones = (1,) * len(xi)
    out = [np.reshape(x, ones[:i] + (-1,) + ones[i + 1:]) for i, x in enumerate(xi)]
    if indexing == "xy" and len(xi) > 1:
        out[0] = np.reshape(out[0], (1, -1) + ones[2:])
        out[1] = np.reshape(out[1], (-1, 1) + ones[2:])
    if not sparse:
        shape = np.broadcast_shapes(*(np.shape(o) for o in out))
        out = [np.broadcast_to(o, shape) for o in out]
    return tuple(out)


@implements(np.dstack)
def _dstack(tup):
    return np.concatenate([np.atleast_3d(a) for a in tup], axis=2)


@implements(np.block)
def _block(arrays):
    """Nested lists joined innermost-last along the last axes, as NumPy's block."""
    def depth(x):
        if isinstance(x, tuple):
            raise TypeError("numhess: np.block takes nested lists, not tuples")
        if not isinstance(x, list):
            return 0
        if not x:
            raise ValueError("List at arrays cannot be empty")
        ds = {depth(e) for e in x}
        if len(ds) != 1:
            raise ValueError("List depths are mismatched")
        return ds.pop() + 1

    def leaves(x):
        return [l for e in x for l in leaves(e)] if isinstance(x, list) else [x]

    d = depth(arrays)
    nd = max([d] + [np.ndim(l) for l in leaves(arrays)])

    def join(x, level):
        if not isinstance(x, list):
            return np.reshape(x, (1,) * (nd - np.ndim(x)) + np.shape(x))
        return np.concatenate([join(e, level + 1) for e in x], axis=level - d)
    return join(arrays, 0)


@implements(np.linalg.multi_dot)
def _multi_dot(arrays, *, out=None):
    if out is not None:
        raise NotImplementedError("numhess: multi_dot with out= on traced values")
    result = arrays[0]
    for a in arrays[1:]:
        result = result @ a
    return result


@implements(np.insert)
def _insert(arr, obj, values, axis=None):
    b = builder_of(arr, values)
    t, v = lift(b, arr), lift(b, values)
    return L.gather(b, np.insert(positions(t), obj, positions(v), axis), t.active or v.active)


@implements(np.linspace)
def _linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0, **kw):
    """Traced end points: start + (stop - start) times NumPy's own fractions."""
    b = builder_of(start, stop)
    start, stop = lift(b, start), lift(b, stop)
    delta = stop - start
    frac = np.linspace(0.0, 1.0, num, endpoint)
    y = start + frac.reshape((-1,) + (1,) * delta.ndim) * delta
    y = np.moveaxis(y, 0, axis) if axis != 0 else y
    if not retstep:
        return y
    div = num - 1 if endpoint else num
    return y, delta / div if div > 0 else delta * np.nan


if hasattr(np, "cumulative_sum"):     # NumPy 2.1
    @implements(np.cumulative_sum)
    def _cumulative_sum(x, axis=None, dtype=None, out=None, include_initial=False):
        return _cumulative(np.cumsum, 0.0, x, axis, out, include_initial)

    @implements(np.cumulative_prod)
    def _cumulative_prod(x, axis=None, dtype=None, out=None, include_initial=False):
        return _cumulative(np.cumprod, 1.0, x, axis, out, include_initial)


def _cumulative(cum, identity, x, axis, out, include_initial):
    _refuse(cum.__name__, out, {})
    t = _t(x)
    if axis is None:
        if t.ndim > 1:
            raise ValueError("axis must be specified for multi-dimensional arrays")
        axis = 0
    r = cum(t, axis=axis)
    if not include_initial:
        return r
    shape = list(t.shape)
    shape[axis] = 1
    return np.concatenate([np.full(shape, identity), r], axis=axis)


# ---------------------------------------------------------------- finite differences
@implements(np.gradient)
def _gradient(f, *varargs, axis=None, edge_order=1):
    """Second-order central differences inside, one-sided at the edges (edge_order 1 or,
    for uniform spacing, 2), along each axis; spacings are constants (scalars, or 1-D
    coordinates)."""
    f = _t(f, *varargs)
    axes = tuple(range(f.ndim)) if axis is None else \
        tuple(a % f.ndim for a in ((axis,) if np.ndim(axis) == 0 else axis))
    if any(isinstance(v, Tracer) for v in varargs):
        raise NotImplementedError("numhess: np.gradient with traced spacings")
    if not varargs:
        spacing = [1.0] * len(axes)
    elif len(varargs) == 1:
        spacing = list(varargs) * len(axes)
    elif len(varargs) == len(axes):
        spacing = list(varargs)
    else:
        raise TypeError("invalid number of arguments")
    out = []
    for ax, h in zip(axes, spacing):
        n = f.shape[ax]
        if n < edge_order + 1:
            raise ValueError("Shape of array too small to calculate a numerical gradient, "
                             "at least (edge_order + 1) elements are required.")
        s = lambda a, b: _along(f, ax, slice(a, b))
        shape = [1] * f.ndim
        shape[ax] = -1
        if np.ndim(h) == 0:
            inner = (s(2, None) - s(None, -2)) / (2.0 * h)
            if edge_order == 1:
                first, last = (s(1, 2) - s(0, 1)) / h, (s(-1, None) - s(-2, -1)) / h
            else:
                first = (-1.5 * s(0, 1) + 2.0 * s(1, 2) - 0.5 * s(2, 3)) / h
                last = (0.5 * s(-3, -2) - 2.0 * s(-2, -1) + 1.5 * s(-1, None)) / h
        else:
            if edge_order != 1:
                raise NotImplementedError("numhess: np.gradient with coordinates and "
                                          "edge_order=2")
            dx = np.diff(np.asarray(h, dtype=float))
            d1, d2 = dx[:-1].reshape(shape), dx[1:].reshape(shape)
            inner = (-d2 / (d1 * (d1 + d2)) * s(None, -2) + (d2 - d1) / (d1 * d2) * s(1, -1)
                     + d1 / (d2 * (d1 + d2)) * s(2, None))
            first = (s(1, 2) - s(0, 1)) / dx[0]
            last = (s(-1, None) - s(-2, -1)) / dx[-1]
        out.append(np.concatenate([first, inner, last], axis=ax))
    return out[0] if len(out) == 1 else tuple(out)


@implements(np.vander)
def _vander(x, N=None, increasing=False):
    x = _t(x)
    if x.ndim != 1:
        raise ValueError("x must be a one-dimensional array or sequence.")
    n = x.size if N is None else N
    powers = range(n) if increasing else range(n - 1, -1, -1)
    # x**0 as ones: the power rule's 0 * x^-1 would be NaN at x = 0
    cols = [np.ones_like(x.value) if k == 0 else x if k == 1 else x ** k for k in powers]
    return np.stack([np.broadcast_to(c, x.shape) for c in cols], axis=1) if cols else \
        np.zeros((x.size, 0))


# ---------------------------------------------------------------- choosing by condition
@implements(np.select)
def _select(condlist, choicelist, default=0):
    if len(condlist) != len(choicelist):
        raise ValueError("list of cases must be same length as list of conditions")
    result = default
    for cond, choice in zip(condlist[::-1], choicelist[::-1]):    # the first true wins
        result = np.where(cond, choice, result)
    return result


@implements(np.piecewise)
def _piecewise(x, condlist, funclist, *args, **kw):
    """Each function on the elements its condition selects (masks are guarded, as any
    traced boolean index); one extra function takes the elements no condition selects."""
    x = _t(x)
    if not isinstance(condlist, (list, tuple)):      # one condition array
        condlist = [condlist]
    conds = [c.value if isinstance(c, Tracer) else np.asarray(c, dtype=bool)
             for c in condlist]
    if len(funclist) == len(conds) + 1:
        conds.append(~np.any(conds, axis=0))
    elif len(funclist) != len(conds):
        raise ValueError(f"with {len(conds)} condition(s), either {len(conds)} or "
                         f"{len(conds) + 1} functions are expected")
    for c in condlist:
        if isinstance(c, Tracer):
            x.b.guard(c.slot, c.value)
    y = np.zeros_like(x)
    for cond, func in zip(conds, funclist):
        if not np.any(cond):
            continue
        y[cond] = func(x[cond], *args, **kw) if callable(func) else func
    return y


@implements(np.apply_along_axis)
def _apply_along_axis(func1d, axis, arr, *args, **kwargs):
    """func1d on each 1-D slice along axis, the results stacked where that axis was (as
    NumPy's, whose loop writes them into an ndarray)."""
    t = _t(arr)
    axis = np.lib.array_utils.normalize_axis_index(axis, t.ndim)
    moved = np.moveaxis(t, axis, -1)
    outer = moved.shape[:-1]
    if 0 in outer:
        raise ValueError("Cannot apply_along_axis when any iteration dimensions are 0")
    results = [lift(t.b, func1d(moved[i], *args, **kwargs)) for i in np.ndindex(*outer)]
    out = np.reshape(np.stack(results), outer + results[0].shape)
    # the results' own axes go where axis was
    return np.moveaxis(out, tuple(range(len(outer), out.ndim)),
                       tuple(range(axis, axis + results[0].ndim)))


def vectorized(vec, args, kwargs):
    """np.vectorize(pyfunc)(*args) on traced arguments: pyfunc called on each element (0-d
    traced values, so its `if`s are guarded), the results stacked in the broadcast shape;
    a tuple of results for a pyfunc returning tuples. The arguments `excluded` names
    are passed as they are."""
    if vec.signature is not None:
        raise NotImplementedError("numhess: np.vectorize with a signature on traced values")
    bl = builder_of(*args, *kwargs.values())

    def as_array(a):
        return lift(bl, a) if builder_of(a) is not None else np.asarray(a)
    varying = {i: as_array(a) for i, a in enumerate(args) if i not in vec.excluded}
    named = {k: as_array(a) for k, a in kwargs.items() if k not in vec.excluded}
    shape = np.broadcast_shapes(*(np.shape(a) for a in (*varying.values(), *named.values())))
    varying = {i: np.broadcast_to(a, shape) for i, a in varying.items()}
    named = {k: np.broadcast_to(a, shape) for k, a in named.items()}
    results = []
    for idx in np.ndindex(*shape):
        call = [varying[i][idx] if i in varying else a for i, a in enumerate(args)]
        keywords = {k: named[k][idx] if k in named else a for k, a in kwargs.items()}
        results.append(vec.pyfunc(*call, **keywords))
    if not results:
        if not vec.otypes:
            raise ValueError("cannot call `vectorize` on size 0 inputs unless `otypes` is "
                             "set")
        return lift(bl, np.zeros(shape))
    if isinstance(results[0], tuple):
        return tuple(np.reshape(np.stack([lift(bl, r[j]) for r in results]), shape)
                     for j in range(len(results[0])))
    return np.reshape(np.stack([lift(bl, r) for r in results]), shape)


# ---------------------------------------------------------------- covariance
@implements(np.cov)
def _cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None,
         *, dtype=None):
    if fweights is not None or aweights is not None:
        raise NotImplementedError("numhess: np.cov with fweights or aweights")
    X = np.atleast_2d(_t(m, y))
    if not rowvar and X.shape[0] != 1:
        X = X.T
    if y is not None:
        Y = np.atleast_2d(y)
        X = np.concatenate([X, Y if rowvar or Y.shape[0] == 1 else Y.T], axis=0)
    ddof = (0 if bias else 1) if ddof is None else ddof
    X = X - np.mean(X, axis=1, keepdims=True)
    c = X @ X.T / (X.shape[1] - ddof)
    return np.squeeze(c)


@implements(np.corrcoef)
def _corrcoef(x, y=None, rowvar=True, *, dtype=None):
    c = _cov(x, y, rowvar)
    if np.ndim(c) == 0:
        return c / c
    d = np.sqrt(np.diagonal(c))
    return np.clip(c / d[:, None] / d[None, :], -1.0, 1.0)


@implements(np.linalg.cond)
def _cond(x, p=None):
    """The condition number: by singular values for p = None, 2, -2, else
    norm(x, p) * norm(inv(x), p), as NumPy."""
    x = _t(x)
    if p is None or p == 2 or p == -2:
        s = np.linalg.svdvals(x)
        ratio = s[..., 0] / s[..., -1]
        return ratio if p != -2 else 1.0 / ratio
    return np.linalg.norm(x, p, axis=(-2, -1)) * np.linalg.norm(np.linalg.inv(x), p,
                                                                 axis=(-2, -1))


@implements(np.digitize)
def _digitize(x, bins, right=False):
    """The bin of each x (constant bins, increasing or decreasing), guarded as
    searchsorted is."""
    bins = np.asarray(bins)
    if bins.size > 1 and bins[0] > bins[-1]:      # decreasing: count from the end
        return bins.size - np.searchsorted(bins[::-1], x, side="left" if right else "right")
    return np.searchsorted(bins, x, side="left" if right else "right")


@implements(np.searchsorted)
def _searchsorted(a, v, side="left", sorter=None):
    """Insertion indices of traced values v into a constant sorted a: integers (no
    derivative), guarded like an `if`, so a v crossing an entry of a traces again."""
    if isinstance(a, Tracer):
        raise NotImplementedError("numhess: np.searchsorted into a traced array")
    a = np.asarray(a if sorter is None else np.take(a, sorter))
    v = _t(v)
    # a's entries before each v's insertion point; a NaN v goes after every number of a
    # (and its NaNs too, side "right"), as NumPy sorts NaN last
    nan = np.isnan(v[..., None])
    below = (v[..., None] >= a) | nan if side == "right" else \
        (v[..., None] > a) | nan & ~np.isnan(a)
    v.b.guard(below.slot, below.value)
    return np.sum(below.value, axis=-1)
