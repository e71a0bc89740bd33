"""The Tracer: a concrete value at the trace point plus the tape slot that computes it.

Plain ``np.*`` calls reach numhess through NumPy's ``__array_ufunc__`` and
``__array_function__`` protocols; operators and methods route through the same calls.
"""
import numpy as np


class TraceError(TypeError):
    """An operation that would silently cut the derivative."""


class Tracer:
    __slots__ = ("b", "slot", "value")
    __array_priority__ = 1000

    def __init__(self, b, slot, value):
        self.b, self.slot, self.value = b, slot, np.asarray(value)

    # -- what NumPy asks about an array
    shape = property(lambda s: s.value.shape)
    ndim = property(lambda s: s.value.ndim)
    size = property(lambda s: s.value.size)
    dtype = property(lambda s: s.value.dtype)
    active = property(lambda s: s.b.active[s.slot])
    T = property(lambda s: np.transpose(s))
    mT = property(lambda s: np.swapaxes(s, -1, -2))
    real = property(lambda s: s)

    def __repr__(self):
        return f"Tracer(shape={self.shape}, value={self.value!r})"

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of unsized object")
        return self.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(self.shape[0]))

    @property
    def __array__(self):
        # A 0-d Tracer is an opaque object to NumPy, so np.array([t0, t1]) makes an object
        # array numhess packs into one slot. A larger one must not become a constant.
        if self.ndim == 0:
            raise AttributeError("__array__")
        def refuse(*args, **kwargs):
            raise TraceError(
                "numhess: converting a traced array to a NumPy array (np.asarray, np.array, "
                "np.ascontiguousarray, ...) would drop its derivative. Use the array as it "
                "is, or np.stack / np.concatenate to combine traced arrays.")
        return refuse

    # -- values that would leave the tape
    def _cut(self, *args):
        raise TraceError(
            "numhess: float(), int(), .item(), math.* on a traced value, or writing it into a "
            "NumPy array (out = np.zeros(n); out[i] = ...), would cut the derivative. Use "
            "NumPy functions (np.exp, np.sqrt, ...), and build arrays with np.zeros_like(x) "
            "(then assign into it), np.array([...]) or np.stack.")

    __float__ = __int__ = __complex__ = __index__ = item = tolist = _cut

    def __bool__(self):
        """Python control flow: record a guard on the outcome, then answer it."""
        if self.size != 1:
            raise ValueError("The truth value of an array with more than one element is "
                             "ambiguous. Use a.any() or a.all()")
        t = self if self.dtype == np.bool_ else np.not_equal(self, 0.0)
        self.b.guard(t.slot, t.value)
        return bool(t.value.ravel()[0])

    # -- indexing
    def __getitem__(self, key):
        from .lower import restructure
        key = concrete_key(self.b, key)
        return restructure(self, lambda p: p[key])

    def __setitem__(self, key, value):
        from .lower import setitem
        new = setitem(self, concrete_key(self.b, key), value)
        self.slot, self.value = new.slot, new.value

    # -- the NumPy protocols
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        from .ufuncs import apply_ufunc
        return apply_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        from .numpy_api import HANDLED
        impl = HANDLED.get(func)
        if impl is None:
            name = getattr(func, "__module__", "numpy").replace("numpy._core", "numpy")
            raise NotImplementedError(
                f"numhess does not support {name}.{func.__name__} on traced values")
        return impl(*args, **kwargs)

    # -- methods, all through the NumPy functions
    def __pos__(self): return self
    def copy(self, order="C"): return Tracer(self.b, self.slot, self.value.copy())
    def astype(self, dtype, *args, **kwargs):
        if np.dtype(dtype).kind == "c":
            raise TypeError("numhess: complex values are not supported")
        if np.dtype(dtype).kind == "f":
            return self if self.dtype.kind == "f" else np.multiply(self, 1.0)
        raise TraceError(f"numhess: casting a traced value to {np.dtype(dtype)} would cut "
                         "the derivative")
    def reshape(self, *shape, order="C"):
        return np.reshape(self, shape[0] if len(shape) == 1 else shape)
    def transpose(self, *axes):
        return np.transpose(self, axes[0] if len(axes) == 1 else (axes or None))
    def ravel(self, order="C"): return np.ravel(self)
    flatten = ravel
    def conj(self): return self
    conjugate = conj


def _method(name):
    fn = getattr(np, name)
    return lambda self, *args, **kwargs: fn(self, *args, **kwargs)


for _name in ("sum", "mean", "prod", "max", "min", "var", "std", "cumsum", "cumprod", "all",
              "any", "argmax", "argmin", "argsort", "swapaxes", "squeeze", "dot", "clip",
              "round", "diagonal", "trace", "repeat", "take", "nonzero"):
    setattr(Tracer, _name, _method(_name))


def _sort_in_place(self, axis=-1, kind=None, order=None):
    s = np.sort(self, axis=axis)
    self.slot, self.value = s.slot, s.value


Tracer.sort = _sort_in_place

# Operators become ufunc calls, so one table (ufuncs.py) holds every elementwise rule.
_BINARY_OPERATORS = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
    "pow": np.power, "matmul": np.matmul, "floordiv": np.floor_divide, "mod": np.remainder,
    "and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor,
}
for _name, _uf in _BINARY_OPERATORS.items():
    setattr(Tracer, f"__{_name}__", lambda s, o, _uf=_uf: _uf(s, o))
    setattr(Tracer, f"__r{_name}__", lambda s, o, _uf=_uf: _uf(o, s))
for _name, _uf in {"lt": np.less, "le": np.less_equal, "gt": np.greater,
                   "ge": np.greater_equal, "eq": np.equal, "ne": np.not_equal}.items():
    setattr(Tracer, f"__{_name}__", lambda s, o, _uf=_uf: _uf(s, o))
Tracer.__neg__ = lambda s: np.negative(s)
Tracer.__abs__ = lambda s: np.absolute(s)
Tracer.__invert__ = lambda s: np.invert(s)
Tracer.__hash__ = None

# NumPy's object-dtype loops call a method named after the ufunc on each element.
for _name in ("exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "cbrt",
              "square", "reciprocal", "sin", "cos", "tan", "arcsin", "arccos", "arctan",
              "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "sign", "floor",
              "ceil", "rint", "trunc", "absolute", "fabs", "negative", "deg2rad",
              "rad2deg", "radians", "degrees"):
    setattr(Tracer, _name, lambda s, _uf=getattr(np, _name): _uf(s))


# ---------------------------------------------------------------- helpers
def builder_of(*xs):
    for x in xs:
        if isinstance(x, Tracer):
            return x.b
        if isinstance(x, np.ndarray) and x.dtype == object:
            for e in x.flat:
                if isinstance(e, Tracer):
                    return e.b
        if isinstance(x, (list, tuple)):
            b = builder_of(*x)
            if b is not None:
                return b
    return None


def lift(b, v):
    """Any array-like as a Tracer of the trace `b` (constants become constant slots)."""
    if isinstance(v, Tracer):
        if v.b is not b:
            raise TraceError("numhess: a traced value from another trace was used (was a "
                             "traced array stored outside the function and reused?)")
        return v
    if isinstance(v, np.ndarray) and v.dtype == object or (
            isinstance(v, (list, tuple)) and builder_of(v) is not None):
        from .lower import pack
        arr = np.empty(np.shape(v) if isinstance(v, np.ndarray) else len(v), dtype=object)
        arr[...] = v if isinstance(v, np.ndarray) else list(v)
        return pack(b, arr)
    arr = np.asarray(v)
    if arr.dtype.kind == "c":
        raise TypeError("numhess: complex values are not supported")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"numhess: cannot use a value of dtype {arr.dtype} in a traced "
                        "computation")
    value = arr if arr.dtype == np.bool_ else arr.astype(np.float64)
    return Tracer(b, b.constant(value), value)


def positions(t):
    """The buffer position of every element of t, shaped like t."""
    o = t.b.off[t.slot]
    return np.arange(o, o + t.size, dtype=np.int64).reshape(t.shape)


def concrete_key(b, key):
    """An index with Tracers in it, made concrete: a traced mask or index is guarded."""
    if isinstance(key, tuple):
        return tuple(concrete_key(b, k) for k in key)
    if isinstance(key, list) and builder_of(key) is not None:
        key = lift(b, key)
    if isinstance(key, Tracer):
        if key.dtype != np.bool_:
            raise TraceError("numhess: indexing with a traced float array; use integer or "
                             "boolean indices")
        key.b.guard(key.slot, key.value)   # a different mask means a different shape
        return key.value
    return key
