"""scipy.stats' distributions on traced values: the univariate ones' logpdf, pdf, cdf,
logcdf, sf, logsf (continuous) and logpmf, pmf (discrete), and multivariate_normal's
logpdf and pdf.

SciPy's methods convert their arguments and place each result where the arguments are
valid. These compute the distribution's own formula (its `_logpdf`, `_cdf`, ...: NumPy
and scipy.special ufuncs, which trace) on the standardized x, and make SciPy's choices
with np.where: the limits outside the support, NaN where a parameter is invalid or x is
NaN. While a trace runs they are rv_continuous', rv_discrete's and multivariate_normal's
methods (scipy_hooks.py, once scipy.stats is imported); plain arguments go to SciPy's.
"""
import functools

import numpy as np

from .tracer import builder_of, value_of

# method -> (the distribution's formula of the standardized x, the value below and above
# the support, whether the support is SciPy's _support_mask (else the open one), the
# scale's part)
_CONTINUOUS = {
    "logpdf": (lambda d, z, a: d._logpdf(z, *a), -np.inf, -np.inf, True, "log"),
    "pdf": (lambda d, z, a: np.exp(d._logpdf(z, *a)), 0.0, 0.0, True, "divide"),
    "cdf": (lambda d, z, a: d._cdf(z, *a), 0.0, 1.0, False, None),
    "logcdf": (lambda d, z, a: d._logcdf(z, *a), -np.inf, 0.0, False, None),
    "sf": (lambda d, z, a: d._sf(z, *a), 1.0, 0.0, False, None),
    "logsf": (lambda d, z, a: d._logsf(z, *a), 0.0, -np.inf, False, None),
}
_DISCRETE = {
    "logpmf": (lambda d, k, a: d._logpmf(k, *a), -np.inf),
    # (exp of the log: some _pmf are SciPy's compiled ufuncs, nbinom's)
    "pmf": (lambda d, k, a: np.exp(d._logpmf(k, *a)), 0.0),
}


def _traced(*args, **kwds):
    return builder_of(*args, *kwds.values()) is not None


def _array(v):
    """v as an array SciPy would take (a list of numbers), a traced one as it is."""
    return v if builder_of(v) is not None else np.asarray(v, dtype=float)


def _valid(d, args):
    """The distribution's _argcheck; SciPy's default (every shape positive) written
    here, whose own converts a traced shape array with a name numhess cannot swap."""
    if getattr(type(d)._argcheck, "__qualname__", "") == "rv_generic._argcheck":
        return functools.reduce(np.logical_and, [np.greater(a, 0) for a in args], True)
    return d._argcheck(*args)


def _safe(a, b):
    """A point inside the support [a, b], where the formula is taken where x is not: its
    partials there meet zero cotangents (outside, they had made NaN gradients of values
    that are constants there, a zero-inflated gamma's)."""
    return np.where(np.isfinite(a), np.where(np.isfinite(b), 0.5 * (a + b), a + 1.0),
                    np.where(np.isfinite(b), b - 1.0, 0.0))


def _continuous(name, original):
    formula, below, above, closed, scaled = _CONTINUOUS[name]

    def method(self, x, *args, **kwds):
        if not _traced(x, *args, **kwds):
            return original(self, x, *args, **kwds)
        args, loc, scale = self._parse_args(*args, **kwds)
        z = (_array(x) - loc) / scale
        a, b = self._get_support(*args)
        inside = (self._support_mask if closed else self._open_support_mask)(z, *args)
        y = formula(self, np.where(inside, z, _safe(a, b)), args)
        if scaled == "log":
            y = y - np.log(scale)
        elif scaled == "divide":
            y = y / scale
        y = np.where(inside, y, np.where(z >= b, above, below))
        valid = np.logical_and(np.logical_and(_valid(self, args), scale > 0), ~np.isnan(z))
        return np.where(valid, y, np.nan)
    method.__name__ = name
    return method


def _discrete(name, original):
    formula, outside = _DISCRETE[name]

    def method(self, k, *args, **kwds):
        if not _traced(k, *args, **kwds):
            return original(self, k, *args, **kwds)
        args, loc, _ = self._parse_args(*args, **kwds)
        k = _array(k) - loc
        a, b = self._get_support(*args)
        inside = np.logical_and(np.logical_and(k >= a, k <= b), self._nonzero(k, *args))
        y = np.where(inside, formula(self, np.where(inside, k, _safe(a, b)), args), outside)
        return np.where(np.logical_and(_valid(self, args), ~np.isnan(k)), y, np.nan)
    method.__name__ = name
    return method


def _mvn_logpdf(x, mean, cov):
    """log N(x; mean, cov) with SciPy's shapes (x's last axis the components, a vector x
    of a one-dimensional distribution many points; the result squeezed), from the
    Cholesky factor of cov (a scalar or a vector: a diagonal)."""
    dim = np.size(mean) if mean is not None else (np.shape(cov)[0] if np.ndim(cov) else 1)
    if np.ndim(x) < 2:
        x = np.reshape(x, (-1, 1) if dim == 1 else (1, -1))
    r = x - (0.0 if mean is None else np.reshape(mean, (dim,)))
    if np.ndim(cov) < 2:
        var = np.broadcast_to(cov, (dim,))
        maha = np.sum(r ** 2 / var, axis=-1)
        logdet = np.sum(np.log(var))
    else:
        L = np.linalg.cholesky(cov)
        z = np.linalg.solve(L, np.reshape(r, (-1, dim)).T)
        maha = np.reshape(np.sum(z ** 2, axis=0), np.shape(r)[:-1])
        logdet = 2.0 * np.sum(np.log(np.diagonal(L)))
    return np.squeeze(-0.5 * (dim * np.log(2 * np.pi) + logdet + maha))


def _mvn(name, original):
    def method(self, x, mean=None, cov=1, allow_singular=False):
        if not _traced(x, mean, cov):
            return original(self, x, mean, cov, allow_singular)
        if not isinstance(cov, (int, float, np.ndarray, list, tuple)) and \
                builder_of(cov) is None:
            raise NotImplementedError("numhess: multivariate_normal with a Covariance "
                                      "object on traced values; pass the matrix")
        out = _mvn_logpdf(x, mean, cov)
        return out if name == "logpdf" else np.exp(out)
    method.__name__ = name
    return method


def _apply_where(original):
    """array_api_extra's apply_where (f1 where cond holds, else f2 or fill_value), which
    the distributions' formulas call. SciPy's evaluates each branch at the elements it
    takes; on traced values, while cond takes one branch everywhere, that branch alone,
    guarded like an `if`; else both over every element and np.where between them, each
    evaluated elsewhere at the arguments of an element it took in the trace (constants):
    there its partials are finite and np.where gives it no cotangent (a branch's own
    partials, infinite at the other's elements, had made cauchy.logpdf's derivatives NaN
    at x == loc: its log|x| branch)."""
    def apply_where(cond, args, f1, f2=None, /, *, fill_value=None, xp=None):
        args = args if isinstance(args, tuple) else (args,)
        if builder_of(cond, *args) is None:
            return original(cond, args, f1, f2, fill_value=fill_value, xp=xp)
        shape = np.broadcast_shapes(np.shape(cond), *(np.shape(a) for a in args))
        args = [np.broadcast_to(a, shape) for a in args]
        if bool(np.all(cond)):
            return f1(*args)
        if not bool(np.any(cond)):
            return f2(*args) if f2 is not None else fill_value + np.zeros(shape)
        took = np.broadcast_to(value_of(cond).astype(bool), shape).reshape(-1)
        in1, in2 = int(np.argmax(took)), int(np.argmin(took))   # an element each took
        at = [value_of(a).reshape(-1) for a in args]
        taken = f1(*(np.where(cond, a, v[in1]) for a, v in zip(args, at)))
        other = f2(*(np.where(cond, v[in2], a) for a, v in zip(args, at))) \
            if f2 is not None else fill_value
        return np.where(cond, taken, other)
    return apply_where


def stand_ins():
    """(class or module, name, SciPy's, numhess's) for scipy.stats (imported)."""
    import scipy.stats as st
    try:        # SciPy's private copy of array-api-extra (SciPy >= 1.15)
        import scipy._lib.array_api_extra as xpx
        found = [(xpx, "apply_where", _apply_where)] if hasattr(xpx, "apply_where") else []
    except ImportError:
        found = []
    mvn = type(st.multivariate_normal)
    found += [(st.rv_continuous, n, lambda o, n=n: _continuous(n, o)) for n in _CONTINUOUS]
    found += [(st.rv_discrete, n, lambda o, n=n: _discrete(n, o)) for n in _DISCRETE]
    found += [(mvn, n, lambda o, n=n: _mvn(n, o)) for n in ("logpdf", "pdf")]
    return [(owner, n, getattr(owner, n), wrap(getattr(owner, n)))
            for owner, n, wrap in found]
