"""While a trace runs, numpy.polynomial's evaluators take a traced x as they take an array.

`polyval`, `chebval`, `legval`, `hermval`, `hermeval`, `lagval` and `polyvalfromroots`
give each coefficient (or root) x's dimensions, with their default tensor=True, only
`if isinstance(x, np.ndarray)`: a traced x is not one, so 2-D coefficients (or any
roots) met x elementwise instead, a silently different result. Their wrappers, the
modules' names while a trace runs (scipy_hooks.py), do that reshape for a traced x and
call NumPy's own with tensor=False, which then leaves the coefficients be (a name
imported into a module the traced function reaches, `from numpy.polynomial.polynomial
import polyval`, too).
"""
import functools

import numpy as np
from numpy.polynomial import chebyshev, hermite, hermite_e, laguerre, legendre, polynomial

from .tracer import Tracer

_NUMPY = {(module, name): getattr(module, name) for module, name in (
    (polynomial, "polyval"), (polynomial, "polyvalfromroots"), (chebyshev, "chebval"),
    (legendre, "legval"), (hermite, "hermval"), (hermite_e, "hermeval"),
    (laguerre, "lagval"))}


def _taking_traced(evaluate):
    @functools.wraps(evaluate)
    def wrapper(x, c, tensor=True):
        if tensor and isinstance(x, Tracer):
            c = c if isinstance(c, Tracer) else np.asarray(c)
            c = np.reshape(c, (np.shape(c) or (1,)) + (1,) * x.ndim)
            tensor = False
        return evaluate(x, c, tensor)
    return wrapper


# (module, name, stand-in): swapped in while a trace runs (scipy_hooks.py)
STAND_INS = [(module, name, _taking_traced(evaluate))
             for (module, name), evaluate in _NUMPY.items()]
