"""While numhess traces a function, NumPy's array constructors pass traced arrays through.

`x = np.asarray(x)` at the top of a function (scipy.optimize.rosen starts so) would turn a
traced array into a constant and drop its derivative, and NumPy offers no protocol for
it to return anything but an ndarray. So during a trace `np.asarray`, `np.asanyarray`,
`np.ascontiguousarray`, `np.asarray_chkfinite` and `np.array` are wrappers that return a
traced array as it is (`np.array` copies it, as NumPy does) and call NumPy's own for
everything else; NumPy's are put back when the last running trace ends. Code that bound
the functions itself (`from numpy import asarray`) keeps NumPy's, which refuse clearly.
"""
import contextlib
import functools
import threading

import numpy as np

from .tracer import Tracer, builder_of, lift

# name -> does it copy by default
_WRAPPED = {"asarray": False, "asanyarray": False, "ascontiguousarray": False,
            "asarray_chkfinite": False, "array": True}
_ORIGINAL = {name: getattr(np, name) for name in _WRAPPED}
_lock = threading.Lock()
_tracing = 0


def _has_traced(a):
    return isinstance(a, Tracer) or isinstance(a, (list, tuple)) and builder_of(a) is not None


def _passing(name, copies):
    original = _ORIGINAL[name]

    @functools.wraps(original)
    def wrapper(a, *args, **kw):
        dtype = kw.get("dtype", args[0] if args else None)
        if not _has_traced(a) or dtype is not None and np.dtype(dtype).kind != "f":
            return original(a, *args, **kw)
        t = lift(builder_of(a), a)
        copy = kw.get("copy", copies)
        if copy and t is a:
            t = t.copy()
        ndmin = kw.get("ndmin", 0)
        if ndmin > t.ndim:
            t = np.reshape(t, (1,) * (ndmin - t.ndim) + t.shape)
        return t
    return wrapper


_WRAPPERS = {name: _passing(name, copies) for name, copies in _WRAPPED.items()}


@contextlib.contextmanager
def passing_traced_arrays():
    """NumPy's constructors pass traced arrays through while the block runs (in any
    thread: a plain array still goes to NumPy's own, at the cost of one type check)."""
    global _tracing
    with _lock:
        if _tracing == 0:
            for name, wrapper in _WRAPPERS.items():
                setattr(np, name, wrapper)
        _tracing += 1
    try:
        yield
    finally:
        with _lock:
            _tracing -= 1
            if _tracing == 0:
                for name, original in _ORIGINAL.items():
                    setattr(np, name, original)
