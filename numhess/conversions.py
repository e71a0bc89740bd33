"""While numhess traces a function, NumPy's array constructors pass traced arrays through,
and scipy.sparse matrices multiply them.

`x = np.asarray(x)` at the top of a function (scipy.optimize.rosen starts so) would turn a
traced array into a constant and drop its derivative, and NumPy offers no protocol for
it to return anything but an ndarray. So during a trace `np.asarray`, `np.asanyarray`,
`np.ascontiguousarray`, `np.asarray_chkfinite` and `np.array` are wrappers that return a
traced array as it is (`np.array` copies it, as NumPy does) and call NumPy's own for
everything else; NumPy's are put back when the last running trace ends. Code that bound
the functions itself (`from numpy import asarray`) keeps NumPy's, which refuse clearly.
Likewise scipy.sparse's product (`_spbase._matmul_dispatch`, behind `A @ x`, `A.dot(x)`,
`A * x` of a sparse matrix and `x @ A`) hands a traced operand to `lower.sparse_matmul`.
"""
import contextlib
import functools
import threading

import numpy as np
from scipy.sparse._base import _spbase

from .lower import sparse_matmul
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

# scipy.sparse: A @ x, A.dot(x), A * x (sparse matrices) and x @ A all reach this method
# (named _mul_dispatch before SciPy 1.12)
_DISPATCH = next(n for n in ("_matmul_dispatch", "_mul_dispatch") if hasattr(_spbase, n))
_SPARSE_ORIGINAL = getattr(_spbase, _DISPATCH)


def _sparse_product(self, other):
    if _has_traced(other):
        return sparse_matmul(self, other)
    return _SPARSE_ORIGINAL(self, other)


@contextlib.contextmanager
def passing_traced_arrays():
    """NumPy's constructors pass traced arrays through while the block runs (in any
    thread: a plain array still goes to NumPy's own, at the cost of one type check)."""
    global _tracing
    with _lock:
        if _tracing == 0:
            for name, wrapper in _WRAPPERS.items():
                setattr(np, name, wrapper)
            setattr(_spbase, _DISPATCH, _sparse_product)
        _tracing += 1
    try:
        yield
    finally:
        with _lock:
            _tracing -= 1
            if _tracing == 0:
                for name, original in _ORIGINAL.items():
                    setattr(np, name, original)
                setattr(_spbase, _DISPATCH, _SPARSE_ORIGINAL)
