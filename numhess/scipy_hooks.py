"""While numhess traces a function, SciPy's sparse product, np.vectorize, scipy.special's
`logsumexp`, `softmax` and `log_softmax`, scipy.linalg's solvers and factorizations and
scipy.stats' distributions take traced arrays, and so do NumPy's array constructors
(conversions.py) and numpy.polynomial's evaluators (polynomials.py).

SciPy converts their operands with `np.asarray`, which a traced array refuses (its
derivative would be dropped). So the first running trace swaps in, and the last swaps
back: scipy.sparse's product methods (`_matmul_dispatch`, behind `A @ x`, `A * x` of a
sparse matrix and `x @ A`, and `dot`, in every format that defines them) hand a traced
operand to `lower.sparse_matmul`, and the modules' names are stand-ins that call the
library's own on plain arrays (numhess.special's, scipy_linalg's, ...).

A name imported beforehand (`from scipy.linalg import cho_solve`) holds the library's
function itself: where the traced function's module, or a module of the Python functions
it reaches (outside.py's walk), holds one, that global is the stand-in for the trace too.
A name bound elsewhere (inside a library, an attribute) keeps the library's, which raises
TraceError naming the library function that converted the array.
"""
import contextlib
import sys
import threading

import numpy as np
import scipy.linalg as sl
import scipy.special as sc

try:        # SciPy's private base class of every sparse format (SciPy >= 1.11)
    from scipy.sparse._base import _spbase
except ImportError:
    _spbase = None

from . import composites, conversions, polynomials, scipy_linalg, scipy_stats, special
from .lower import sparse_matmul
from .tracer import builder_of

_lock = threading.Lock()
_tracing = 0

# named _mul_dispatch before SciPy 1.12
_DISPATCH = next((n for n in ("_matmul_dispatch", "_mul_dispatch")
                  if hasattr(_spbase, n)), None)
# (module, name, stand-in), and the library's function each replaces
_STAND_INS = ([(sc, name, getattr(special, name)) for name in special.__all__]
              + [(sl, name, getattr(scipy_linalg, name)) for name in scipy_linalg.__all__]
              + conversions.STAND_INS + polynomials.STAND_INS)
_ORIGINALS = [getattr(module, name) for module, name, _ in _STAND_INS]
# id of a library function -> its stand-in (the originals above keep the ids taken); a
# stand-in maps to itself (a global another trace has swapped, or one bound to it)
BY_ID = {id(original): ours for original, (_, _, ours) in zip(_ORIGINALS, _STAND_INS)}
BY_ID.update({id(ours): ours for _, _, ours in _STAND_INS})
_rebound = {}   # (id of a globals dict, name) -> [traces using it, the dict, the original]


def _classes(cls):
    yield cls
    for sub in cls.__subclasses__():
        yield from _classes(sub)


def _sparse_product(original):
    def product(self, other):
        if builder_of(other) is not None:
            return sparse_matmul(self, other)
        return original(self, other)
    return product


def _vectorized_call(original):
    def call(self, *args, **kwargs):
        if builder_of(*args, *kwargs.values()) is not None:
            return composites.vectorized(self, args, kwargs)
        return original(self, *args, **kwargs)
    return call


# (class, name) -> the library's method: scipy.sparse's base class's, and those of
# formats that define their own (COO has its own product and dot); np.vectorize's call,
# which makes object arrays of its arguments; scipy.stats' (scipy_stats.py, below)
_METHODS = {} if _DISPATCH is None else {
    (cls, name): vars(cls)[name] for cls in set(_classes(_spbase))
    for name in (_DISPATCH, "dot") if name in vars(cls)}
_HOOKED = {key: _sparse_product(original) for key, original in _METHODS.items()}
_METHODS[np.vectorize, "__call__"] = np.vectorize.__call__
_HOOKED[np.vectorize, "__call__"] = _vectorized_call(np.vectorize.__call__)
_stats_added = False


def _add_stats():
    """scipy.stats' distribution methods join the hooked ones once it is imported
    (importing it for every process would cost each its 30 MB)."""
    global _stats_added
    if not _stats_added and "scipy.stats" in sys.modules:
        for owner, name, original, ours in scipy_stats.stand_ins():
            _METHODS[owner, name] = original
            _HOOKED[owner, name] = ours
        _stats_added = True


@contextlib.contextmanager
def taking_traced_arrays(rebinds=()):
    """The hooked functions take traced arrays while the block runs (in any thread: plain
    arrays still go to the library's own, at the cost of one type check); so do the
    globals in rebinds, (globals dict, name) pairs holding a library function of BY_ID."""
    global _tracing
    with _lock:
        if _tracing == 0:
            _add_stats()
            for (cls, name), hooked in _HOOKED.items():
                setattr(cls, name, hooked)
            for module, name, ours in _STAND_INS:
                setattr(module, name, ours)
        _tracing += 1
        for g, name in rebinds:
            held = _rebound.setdefault((id(g), name), [0, g, g[name]])
            held[0] += 1
            g[name] = BY_ID[id(held[2])]
    try:
        yield
    finally:
        with _lock:
            _tracing -= 1
            if _tracing == 0:
                for (cls, name), original in _METHODS.items():
                    setattr(cls, name, original)
                for (module, name, _), original in zip(_STAND_INS, _ORIGINALS):
                    setattr(module, name, original)
            for g, name in rebinds:
                held = _rebound[id(g), name]
                held[0] -= 1
                if held[0] == 0:
                    del _rebound[id(g), name]
                    if g.get(name) is BY_ID[id(held[2])]:   # (not reassigned meanwhile)
                        g[name] = held[2]
