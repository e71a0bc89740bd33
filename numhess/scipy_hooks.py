"""While numhess traces a function, SciPy's sparse product and scipy.special's
`logsumexp`, `softmax` and `log_softmax` take traced arrays, and so do NumPy's array
constructors (conversions.py) and numpy.polynomial's evaluators (polynomials.py).

SciPy converts their operands with `np.asarray`, which a traced array refuses (its
derivative would be dropped). So the first running trace swaps in, and the last swaps
back: scipy.sparse's product methods (`_matmul_dispatch`, behind `A @ x`, `A * x` of a
sparse matrix and `x @ A`, and `dot`, in every format that defines them) hand a traced
operand to `lower.sparse_matmul`, and scipy.special's three names are numhess.special's.
A name imported beforehand (`from scipy.special import logsumexp`) keeps SciPy's, which
raises TraceError naming numhess.special's.
"""
import contextlib
import threading

import scipy.special as sc

try:        # SciPy's private base class of every sparse format (SciPy >= 1.11)
    from scipy.sparse._base import _spbase
except ImportError:
    _spbase = None

from . import conversions, polynomials, special
from .lower import sparse_matmul
from .tracer import builder_of

_lock = threading.Lock()
_tracing = 0

# named _mul_dispatch before SciPy 1.12
_DISPATCH = next((n for n in ("_matmul_dispatch", "_mul_dispatch")
                  if hasattr(_spbase, n)), None)
_SPECIAL = {name: getattr(special, name) for name in special.__all__}


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


# (class, name) -> SciPy's method: the base class's, and those of formats that define
# their own (COO has its own product and dot)
_SPARSE = {} if _DISPATCH is None else {
    (cls, name): vars(cls)[name] for cls in set(_classes(_spbase))
    for name in (_DISPATCH, "dot") if name in vars(cls)}
_SPARSE_HOOKED = {key: _sparse_product(original) for key, original in _SPARSE.items()}


@contextlib.contextmanager
def taking_traced_arrays():
    """SciPy's hooked functions take traced arrays while the block runs (in any thread:
    plain arrays still go to SciPy's own, at the cost of one type check)."""
    global _tracing
    with _lock:
        if _tracing == 0:
            for (cls, name), hooked in _SPARSE_HOOKED.items():
                setattr(cls, name, hooked)
            for name, ours in _SPECIAL.items():
                setattr(sc, name, ours)
            conversions.swap_in()
            polynomials.swap_in()
        _tracing += 1
    try:
        yield
    finally:
        with _lock:
            _tracing -= 1
            if _tracing == 0:
                for (cls, name), original in _SPARSE.items():
                    setattr(cls, name, original)
                for name, theirs in special.SCIPY.items():
                    setattr(sc, name, theirs)
                conversions.swap_out()
                polynomials.swap_out()
