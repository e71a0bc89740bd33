"""While numhess traces a function, NumPy's array constructors pass traced arrays through.

`x = np.asarray(x)` at the top of a function (scipy.optimize.rosen starts so, as does
much code written for SciPy) would turn a traced array into a constant, and NumPy has no
protocol for `asarray` to return anything but an ndarray. So while a trace runs,
`np.asarray`, `np.asanyarray`, `np.ascontiguousarray`, `np.asfortranarray` and
`np.array` are wrappers: a traced array (or a list holding traced values) comes back
traced (`np.array` copies, as NumPy does), anything else goes to NumPy's own. A float
dtype keeps the derivative; another dtype goes to NumPy's, which refuses clearly, and so
do the conversions inside SciPy's own `logsumexp`, `softmax` and `log_softmax` (bound by
name before the trace; the error names numhess.special's).

Numba reads these names from the `numpy` module when it types a function, in any thread,
so a kernel compiled during a trace meets the wrappers: each is registered with Numba as
an overload that calls NumPy's own. A name bound in a module the traced function
reaches (`from numpy import asarray`: outside.py's walk) is a wrapper too while the trace
runs; one bound elsewhere (in a library) keeps NumPy's, which raises TraceError.
"""
import functools

import numpy as np
from numba import types
from numba.extending import overload

from .lower import layout
from .tracer import Tracer, _scipy_hint, builder_of, lift

_COPIES = {"asarray": False, "asanyarray": False, "ascontiguousarray": False,
           "asfortranarray": False, "array": True}     # name -> copies by default
_NUMPY = {name: getattr(np, name) for name in _COPIES}
_REORDERS = ("ascontiguousarray", "asfortranarray")   # copy unless already in that order


def _reordered(original, t):
    """Whether NumPy's ascontiguousarray or asfortranarray copies t."""
    probe = layout(t)
    return not np.may_share_memory(original(probe), probe)


def _passing(name):
    original, copies = _NUMPY[name], _COPIES[name]
    first = "object" if name == "array" else "a"     # (NumPy's names, for keywords)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        a = args[0] if args else kwargs.get(first)
        dtype = kwargs.get("dtype", args[1] if len(args) > 1 else None)
        if not isinstance(a, (Tracer, list, tuple)) or builder_of(a) is None or (
                dtype is not None and np.dtype(dtype).kind != "f") or _scipy_hint():
            return original(*args, **kwargs)     # (scipy.special's raise naming ours)
        t = lift(builder_of(a), a)
        copy = kwargs.get("copy", copies)   # True, False, None or an np._CopyMode
        fortran = name == "asfortranarray" or kwargs.get("order") == "F"
        if fortran and t.ndim > 1 and _reordered(_NUMPY["asfortranarray"], t):
            # a copy in Fortran's order: flat, seen as the shape in Fortran's order (a view
            # of one dimension, whose memory order ravel(order='K') follows)
            t = np.reshape(np.ravel(t, "F").copy(), t.shape, order="F")
        elif t is a and (copy is True or copy == np._CopyMode.ALWAYS
                         or name in _REORDERS and _reordered(original, t)):
            t = t.copy()
        ndmin = kwargs.get("ndmin", 0)
        return t.reshape((1,) * (ndmin - t.ndim) + t.shape) if ndmin > t.ndim else t

    def numba_typing(a, dtype=None):
        if dtype is None or isinstance(dtype, (types.NoneType, types.Omitted)):
            return lambda a, dtype=None: original(a)
        return lambda a, dtype=None: original(a, dtype)
    overload(wrapper)(numba_typing)
    return wrapper


# (module, name, stand-in): swapped in while a trace runs (scipy_hooks.py)
STAND_INS = [(np, name, _passing(name)) for name in _COPIES]
