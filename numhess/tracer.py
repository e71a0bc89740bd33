"""The Tracer: a concrete value at the trace point plus the tape slot that computes it.

Plain ``np.*`` calls reach numhess through NumPy's ``__array_ufunc__`` and
``__array_function__`` protocols; operators and methods route through the same calls.
"""
import dis
import sys
import types

import numpy as np


class TraceError(TypeError):
    """An operation that would silently cut the derivative."""


class Tracer:
    """A traced array. Like NumPy's, it may be a view: `base` is then the array whose
    memory it shares and `map` (an index array with NumPy's own strides) says which of the
    base's elements it shows. Writes through a view reach the base, and a view re-reads its
    base after the base was written (`writes` counts a base's writes, `ver` is the count a
    view last read).

    A write gathers lazily: the array keeps the buffer positions its elements are read
    from (`pending`, with its activity) and its values, and makes the gather only when
    its slot is asked for. Elements read before that are read from where they were
    written, so a loop writing y[i] one by one (reading y[i - 1]) records one gather at
    the end; each write's gather of the whole array had made it n^2 (n = 5000: 4 GB)."""
    __slots__ = ("b", "_slot", "_value", "pending", "base", "map", "ver", "writes",
                 "readonly")
    __array_priority__ = 1000

    def __init__(self, b, slot, value, pending=None):
        self.b, self._slot, self._value = b, slot, np.asarray(value)
        self.pending = pending      # (positions, active) of a gather not yet made
        self.base = self.map = None
        self.ver = self.writes = 0
        self.readonly = False

    def _sync(self):
        base = self.base
        if base is not None and self.ver != base.writes:
            pos = positions(base).ravel()[self.map]
            self._value, self.pending = self.b.buf[pos.ravel()].reshape(pos.shape), (
                pos, base.active)
            self.ver = base.writes

    @property
    def slot(self):
        self._sync()
        if self.pending is not None:
            pos, active = self.pending
            self._slot, self.pending = self.b.gather(pos, active), None
        return self._slot

    @property
    def value(self):
        self._sync()
        return self._value

    @property
    def active(self):
        self._sync()
        return self.pending[1] if self.pending is not None else self.b.active[self._slot]

    def _write(self, new):
        """Hold new's values from now on, as a write into this array's memory would."""
        if self.readonly:
            raise ValueError("assignment destination is read-only")
        base = self.base
        if base is None:
            self._slot, self._value, self.pending = new._slot, new._value, new.pending
            self.writes += 1
            return
        pos = positions(base).ravel()
        pos[self.map.ravel()] = positions(new).ravel()
        base._value = self.b.buf[pos].reshape(base.shape)
        base.pending = (pos.reshape(base.shape), base.active or new.active)
        base.writes += 1
        self._slot, self._value, self.pending = new._slot, new._value, new.pending
        self.ver = base.writes

    # -- what NumPy asks about an array
    shape = property(lambda s: s.value.shape)
    ndim = property(lambda s: s.value.ndim)
    size = property(lambda s: s.value.size)
    dtype = property(lambda s: s.value.dtype)
    T = property(lambda s: np.transpose(s))
    mT = property(lambda s: np.swapaxes(s, -1, -2))
    real = property(lambda s: s)
    imag = property(lambda s: np.zeros(s.shape))      # (a real array's: zeros)
    device = "cpu"      # NumPy's (SciPy's array-API helpers ask, scipy.stats' apply_where)

    def __array_namespace__(self, api_version=None):
        """NumPy, whose functions numhess traces: SciPy's array-API code asks
        (scipy.integrate.cumulative_trapezoid had raised 'not a supported array type')."""
        return np

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
        if not self.active and self.dtype.kind in "biu":
            # a mask or indices, no derivative to drop (pairs[r2 < 1.0]: a cutoff)
            def value(dtype=None, copy=None):
                self.b.guard(self.slot, self.value)     # guarded like an `if`
                return np.asarray(self.value, dtype=dtype)
            return value

        def refuse(*args, **kwargs):
            if _storing(sys._getframe(1)):
                raise TraceError(
                    "numhess: writing a traced array into a NumPy array (out = np.zeros(n); "
                    "out[i:j] = ..., L[np.tril_indices(d)] = ...) would drop its derivative. "
                    "Make the array from the traced one, np.zeros_like(x, shape=(d, d)), "
                    "then assign into it, or build it with np.concatenate / np.stack."
                    + converter_hint())
            hint = _scipy_hint() or converter_hint()
            error = TraceError(
                "numhess: converting a traced array to a NumPy array would drop its "
                "derivative: np.asarray with an integer dtype or bound by name (from numpy "
                "import asarray), a NumPy array's method given a traced argument (A.dot(x): "
                "write A @ x), np.r_ or np.c_ (write np.concatenate, np.column_stack), a "
                "list of traced arrays given to a NumPy function (np.sum([a, b]): NumPy "
                "converts the list itself), or a library that converts its input. Use the "
                "array as it is, or np.stack / np.concatenate to combine traced arrays."
                + hint)
            error.names_converter = bool(hint)   # (traced.py surfaces it)
            # the call that asked (frame and instruction): compiled code raising its own
            # error in place of this one (scipy.signal.lfilter's) leaves no chain to it
            caller = sys._getframe(1)
            self.b.refused = (caller, caller.f_lasti, error)
            raise error
        return refuse

    # -- values that would leave the tape
    def _cut(self, *args):
        raise TraceError(
            "numhess: float(), int(), round(), .item(), math.* on a traced value, writing it "
            "into a NumPy array (out = np.zeros(n); out[i] = ...), or a NumPy function given "
            "a NumPy object array of traced scalars would cut the derivative. Use NumPy "
            "functions (np.exp, np.sqrt, ...), and build arrays with np.zeros_like(x) of a "
            "traced x (then assign into it) or np.stack([...]); np.zeros_like(data) of a "
            "data argument under 64 elements is a NumPy array (such data are constants; "
            "from 64 on, traced parameters)." + converter_hint())

    __complex__ = _cut

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
        if self.readonly:
            raise ValueError("assignment destination is read-only")
        self._write(setitem(self, concrete_key(self.b, key), value))

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
        try:
            return impl(*args, **kwargs)
        except np.linalg.LinAlgError:
            self.b.caught = True    # f may catch it (try: cholesky ... except): see Tape
            raise

    # -- methods, all through the NumPy functions
    # a new array, as NumPy's (writes into it do not reach self)
    def __pos__(self): return self.copy()
    def copy(self, order="C"): return Tracer(self.b, self.slot, self.value.copy())
    def __copy__(self): return self.copy()
    def __deepcopy__(self, memo): return self.copy()     # (copy.deepcopy of f's state)
    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        if np.dtype(dtype).kind == "c":
            raise TypeError("numhess: complex values are not supported")
        if np.dtype(dtype).kind == "f":
            if self.dtype.kind != "f":
                return np.multiply(self, 1.0)
            return self.copy() if copy else self
        if np.dtype(dtype).kind == "b":
            return np.not_equal(self, 0)
        if self.active:
            raise TraceError(f"numhess: casting a traced value to {np.dtype(dtype)} would cut "
                             "the derivative; round it first (np.floor(x / h).astype(int): "
                             "bin indices, which have none, guarded like an `if`)")
        self.b.guard(self.slot, self.value)   # (np.floor(x / h).astype(int): bin indices)
        return self.value.astype(dtype)
    def reshape(self, *shape, order="C", copy=None):
        r = np.reshape(self, shape[0] if len(shape) == 1 else shape, order=order)
        return r.copy() if copy else r
    def transpose(self, *axes):
        return np.transpose(self, axes[0] if len(axes) == 1 else (axes or None))
    def ravel(self, order="C"): return np.ravel(self, order)
    flat = property(lambda self: np.reshape(self, -1))  # a view where NumPy's would write through
    def flatten(self, order="C"): return np.ravel(self, order).copy()
    def conj(self): return self        # as NumPy's of a real array: itself
    conjugate = conj
    def fill(self, value): self[...] = value


def _method(name):
    fn = getattr(np, name)
    return lambda self, *args, **kwargs: fn(self, *args, **kwargs)


for _name in ("sum", "mean", "prod", "max", "min", "var", "std", "cumsum", "cumprod", "all",
              "any", "argmax", "argmin", "argsort", "swapaxes", "squeeze", "dot", "clip",
              "round", "diagonal", "trace", "repeat", "take", "nonzero"):
    setattr(Tracer, _name, _method(_name))


def _sort_in_place(self, axis=-1, kind=None, order=None):
    self._write(np.sort(self, axis=axis))


Tracer.sort = _sort_in_place


def _in_place(ufunc):
    """x += y and friends write into x (and so into what x is a view of), as in NumPy."""
    def op(self, other):
        new = ufunc(self, other)
        if new.shape != self.shape:
            raise ValueError(f"non-broadcastable output operand with shape {self.shape} "
                             f"doesn't match the broadcast shape {new.shape}")
        self._write(new)
        return self
    return op


# Operators become ufunc calls, so one table (ufuncs.py) holds every elementwise rule.
_BINARY_OPERATORS = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
    "pow": np.power, "matmul": np.matmul, "floordiv": np.floor_divide, "mod": np.remainder,
    "and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor,
}
for _name, _uf in _BINARY_OPERATORS.items():
    setattr(Tracer, f"__{_name}__", lambda s, o, _uf=_uf: _uf(s, o))
    setattr(Tracer, f"__r{_name}__", lambda s, o, _uf=_uf: _uf(o, s))
    setattr(Tracer, f"__i{_name}__", _in_place(_uf))
for _name, _uf in {"lt": np.less, "le": np.less_equal, "gt": np.greater,
                   "ge": np.greater_equal, "eq": np.equal, "ne": np.not_equal}.items():
    setattr(Tracer, f"__{_name}__", lambda s, o, _uf=_uf: _uf(s, o))
def _leaving(convert):
    """A value without derivative (a count, a comparison, np.floor(x)) leaves the tape as
    Python's, guarded like an `if`; one with a derivative would be cut, and raises."""
    def method(self, *args):
        if self.active:
            self._cut()
        self.b.guard(self.slot, self.value)
        return convert(self.value, *args)
    return method


def _index(v):
    if v.dtype == np.bool_ or v.ndim or v != np.round(v):
        raise TypeError("only integer scalar arrays can be converted to a scalar index")
    return int(v)


Tracer.__float__ = _leaving(float)
Tracer.__int__ = _leaving(int)
Tracer.__index__ = _leaving(_index)
Tracer.__round__ = _leaving(lambda v, *ndigits: round(v.item(), *ndigits))
Tracer.item = _leaving(lambda v, *args: v.item(*args))
Tracer.tolist = _leaving(lambda v: v.tolist())
Tracer.__divmod__ = lambda s, o: np.divmod(s, o)
Tracer.__rdivmod__ = lambda s, o: np.divmod(o, s)
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
OBJECT_ARRAY = (
    "numhess: NumPy could not read a function's argument: a list (or an object array) of "
    "traced values, which NumPy converts itself to an array of Python objects its compiled "
    "code cannot read (NumPy hands numhess only traced arguments themselves, not lists of "
    "them). Make it one traced array first: "
    "np.linalg.det(np.array([[a, b], [c, d]])), np.mean(np.stack([a, b])).")

NDARRAY_ONLY = (
    "numhess: a traced array was asked for .{}, which only NumPy's own arrays have: the "
    "function, or a library it calls (np.ctypeslib, compiled extensions), reads "
    "NumPy's memory or converts its input, which would drop the derivative. Write that "
    "step with NumPy functions numhess supports (README, Supported NumPy).")

LIBRARY_OBJECT_ARRAY = (
    "numhess: a library function made an array of Python objects of traced values (from "
    "a list of them, which NumPy converts itself), which its compiled code cannot read: "
    "the derivative would be dropped. Write that step with NumPy functions numhess "
    "supports (README, Supported NumPy).")

COMPILED_ONLY = (
    "numhess: code that takes NumPy arrays only (compiled, or checking the array's "
    "type) was given a traced array ({}), "
    "which would drop its derivative. Write that step with NumPy functions numhess "
    "supports (README, Supported NumPy).")


def held_object_array(tb):
    """Whether a frame of the traceback holds an object array of traced values (the
    cause of NumPy's own errors on lists of them)."""
    while tb is not None:
        for v in tb.tb_frame.f_locals.values():
            if isinstance(v, np.ndarray) and v.dtype == object and builder_of(v) is not None:
                return True
        tb = tb.tb_next
    return False


def _storing(frame):
    """Is frame at `a[i] = ...` (NumPy's ndarray.__setitem__ converting its value)?"""
    return any(i.offset == frame.f_lasti and i.opname == "STORE_SUBSCR"
               for i in dis.get_instructions(frame.f_code))


def _scipy_hint():
    """When scipy.special's logsumexp, softmax or log_softmax converted a traced array,
    name numhess's version of it."""
    f = sys._getframe(1)
    while f is not None:
        name = f.f_code.co_name
        if f.f_globals.get("__name__", "").startswith("scipy.special") and name in (
                "logsumexp", "softmax", "log_softmax"):
            return (f" scipy.special.{name} converts its input with np.asarray; use "
                    f"numhess.special.{name} (same signature) on traced values.")
        f = f.f_back
    return ""


def converter_hint(frames=None):
    """Name the library function that converted a traced array: the outermost of an
    installed library's frames under the caller's code (a decorator's wrapper by the
    function it wraps); for scipy.linalg's, np.linalg's that numhess traces. frames:
    innermost first, by default the caller's stack."""
    from .outside import _LIBRARIES
    found = None
    for f in frames or _outward(sys._getframe(1)):
        code, module = f.f_code, f.f_globals.get("__name__", "")
        name = getattr(code, "co_qualname", code.co_name)     # a method with its class
        top = module.partition(".")[0]
        if top not in ("numpy", "numhess") and code.co_filename.startswith(_LIBRARIES):
            if code.co_name == "__ua_function__":   # uarray's dispatch (scipy.fft): its
                continue                            # function is the next frame in
            if "<locals>" in name:
                module, name = next(((g.__module__, g.__name__) for g in f.f_locals.values()
                                     if isinstance(g, types.FunctionType) and "<locals>"
                                     not in g.__qualname__), (module, code.co_name))
            found = ".".join(p for p in module.split(".") if not p.startswith("_")) + \
                "." + name
        elif found or top not in ("numpy", "numhess"):
            break       # the caller's code
    if found is None:
        return ""
    if not found.startswith("scipy.linalg"):
        return f" Here {found} converted it."
    from .scipy_linalg import __all__ as traced
    name = found.rpartition(".")[2]
    if name in traced:
        return (f" Here SciPy's own {found} converted it: numhess stands in for it while "
                "tracing, through the scipy.linalg module and the globals of the modules "
                "the traced function reaches, and this call came another way (a name "
                "imported inside a function, a library's, an object's attribute): call it "
                f"as scipy.linalg.{name}(...) there.")
    return (f" Here {found} converted it (numhess traces np.linalg's solve, cholesky, inv, "
            f"det, eigh, ..., and scipy.linalg's {', '.join(traced)}).")


def _outward(f):
    while f is not None:
        yield f
        f = f.f_back


def converter_in(tb):
    """converter_hint for the frames of a traceback (an error NumPy raised after it made
    an object array of traced values)."""
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    return converter_hint(frames[::-1])


def value_of(x):
    """x's value as an array (a traced one's at the trace point)."""
    return x.value if isinstance(x, Tracer) else np.asarray(x)


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
            raise TraceError("numhess: a traced value from another trace was used: by a "
                             "numhess transform inside a traced function, through a closure "
                             "(nested transforms are not supported), or a traced array "
                             "stored outside the function and reused")
        return v
    if isinstance(v, np.ndarray) and v.dtype == object:
        from .lower import pack
        return pack(b, v)
    if isinstance(v, (list, tuple)) and builder_of(v) is not None:
        # as np.array would: nested lists and lists of equal-shaped arrays stack
        from .lower import gather
        parts = [lift(b, e) for e in v]
        if len({p.shape for p in parts}) > 1:
            raise ValueError("numhess: a list of traced values of different shapes "
                             f"{[p.shape for p in parts]} is not an array; use "
                             "np.concatenate or np.stack")
        return gather(b, np.stack([positions(p) for p in parts]), any(p.active for p in parts))
    arr = np.asarray(v)
    if arr.dtype.kind == "c":
        raise TypeError("numhess: complex values are not supported")
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"numhess: cannot use a value of dtype {arr.dtype} in a traced "
                        "computation")
    value = arr if arr.dtype == np.bool_ else arr.astype(np.float64)
    return Tracer(b, b.constant(value), value)


def positions(t):
    """The buffer position of every element of t, shaped like t (a new array)."""
    t._sync()
    if t.pending is not None:
        return t.pending[0].copy()
    o = t.b.off[t.slot]
    return np.arange(o, o + t.size, dtype=np.int64).reshape(t.shape)


def concrete_key(b, key):
    """An index with Tracers in it, made concrete: a traced mask or index is guarded."""
    if isinstance(key, tuple):
        return tuple(concrete_key(b, k) for k in key)
    if isinstance(key, list) and builder_of(key) is not None:
        key = lift(b, key)
    if isinstance(key, Tracer):
        # numhess's counts and choices (np.sum(x > 0), np.where(c, 1, 2)) are float
        # arrays of whole numbers with no derivative, where NumPy's are integers
        whole = not key.active and np.array_equal(key.value, np.round(key.value))
        if key.dtype != np.bool_ and not whole:
            raise TraceError("numhess: indexing with a traced float array; use integer or "
                             "boolean indices")
        key.b.guard(key.slot, key.value)   # another mask or index traces again
        return key.value if key.dtype == np.bool_ else key.value.astype(np.intp)
    return key
