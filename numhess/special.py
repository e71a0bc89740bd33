"""scipy.special's Python-level functions, for traced values.

scipy.special's ufuncs (``expit``, ``erf``, ``gammaln``, ``xlogy``, ...) reach numhess
through ``__array_ufunc__`` like NumPy's own, so call them as they are. ``logsumexp``,
``softmax`` and ``log_softmax`` are plain Python functions that first convert their input
with ``np.asarray``, which would drop the derivative; these have the same signatures
and call SciPy's on plain arrays. While numhess traces a function, ``scipy.special``'s
names are these (so ``scipy.special.logsumexp(x)`` in f works); a name imported from
scipy.special beforehand is SciPy's, which raises ``TraceError``: import these instead.

    from numhess.special import logsumexp, softmax, log_softmax
"""
import numpy as np
import scipy.special as sc

from .tracer import builder_of, lift

__all__ = ["logsumexp", "softmax", "log_softmax"]
# SciPy's own (conversions.py swaps these names in scipy.special while a trace runs)
SCIPY = {name: getattr(sc, name) for name in __all__}


def _shifted_max(x, axis):
    """The max over axis (keepdims), 0 where it is not finite (as SciPy shifts)."""
    m = np.max(x, axis=axis, keepdims=True)
    return np.where(np.isfinite(m), m, 0.0)


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """log(sum(b * exp(a))) over axis, as scipy.special.logsumexp."""
    bl = builder_of(a, b)
    if bl is None:
        return SCIPY["logsumexp"](a, axis=axis, b=b, keepdims=keepdims,
                                  return_sign=return_sign)
    a = lift(bl, a)
    if b is not None:
        b = lift(bl, b)
        shape = np.broadcast_shapes(a.shape, b.shape)
        a, b = np.broadcast_to(a, shape), np.broadcast_to(b, shape)
    if a.ndim == 0:
        a = np.reshape(a, (1,))
        b = None if b is None else np.reshape(b, (1,))
    axis = tuple(range(a.ndim)) if axis is None else axis
    m = _shifted_max(a, axis)
    e = np.exp(a - m)
    if b is not None:
        e = b * e
    s = np.sum(e, axis=axis, keepdims=True)
    sgn = None
    if return_sign:
        sgn, s = np.sign(s), np.abs(s)
    out = np.log(s) + m              # NaN where a weighted sum is negative, as SciPy's
    if not keepdims:
        out = np.squeeze(out, axis=axis)
        sgn = None if sgn is None else np.squeeze(sgn, axis=axis)
    return (out, sgn) if return_sign else out


def softmax(x, axis=None):
    """exp(x) / sum(exp(x)) over axis, as scipy.special.softmax."""
    bl = builder_of(x)
    if bl is None:
        return SCIPY["softmax"](x, axis=axis)
    x = lift(bl, x)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis=None):
    """x - logsumexp(x) over axis, as scipy.special.log_softmax."""
    bl = builder_of(x)
    if bl is None:
        return SCIPY["log_softmax"](x, axis=axis)
    x = lift(bl, x)
    t = x - _shifted_max(x, axis)
    return t - np.log(np.sum(np.exp(t), axis=axis, keepdims=True))
