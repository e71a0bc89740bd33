"""numhess: exact Hessians, Jacobians, gradients and Hessian-vector products of plain
NumPy functions, traced once into a flat tape and replayed by Numba-compiled sweeps."""
from . import numpy_api as _numpy_api  # noqa: F401  (registers the NumPy functions)
from . import composites as _composites  # noqa: F401  (and those built from them)
from . import functional, special
from .api import grad, hessian, hvp, jacfwd, jacrev, jvp, value_and_grad, vjp
from .scipy_api import constraint, minimize
from .sparse import hessian_sparsity
from .tracer import TraceError

__version__ = "0.1.0"
__all__ = ["grad", "value_and_grad", "jacfwd", "jacrev", "hessian", "hvp", "jvp", "vjp",
           "hessian_sparsity", "minimize", "constraint", "functional", "special", "TraceError"]
