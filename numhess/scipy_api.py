"""scipy.optimize glue: `minimize` and `constraint`, wired to one traced tape.

scipy calls fun, jac and hess (or hessp) at the same x one after another. Each callback
here asks `_Replays` for the replay at x, which runs the forward sweep once per new x
and hands the same buffers to the gradient, Hessian and HVP sweeps.
"""
import threading
from collections import OrderedDict

import numpy as np

from . import drivers
from .traced import TracedFunction
from .hessians import sparse_csr, weighted as weighted_hessian
from .sparse import sparse_jacobian

# Methods of scipy.optimize.minimize that use second derivatives, and whether each can do
# with Hessian-vector products alone (a matrix is then never formed).
HESSIAN_METHODS = {"newton-cg": True, "dogleg": False, "trust-ncg": True,
                   "trust-krylov": True, "trust-exact": False, "trust-constr": True}
# Methods that use no gradient: they get f's value alone (a gradient each call was waste,
# and scipy warned about the jac it ignores)
VALUE_ONLY = {"nelder-mead", "powell", "cobyla", "cobyqa"}


class _Replays:
    """f traced once, replayed once per distinct x (keyed by x's bytes). Two points are
    kept: a trust-region method evaluates a trial point, and after a rejected step asks
    for the Hessian at the previous one. A kept point is checked as a call is (a changed
    global, or data changed in place, between two solves with one constraint: it had
    answered for the old ones)."""

    KEEP = 2

    def __init__(self, f, args):
        if not isinstance(args, tuple):
            args = (args,)        # scipy accepts a lone extra argument too
        self.tf = TracedFunction(f, 0)
        self.args = args
        self.recent = OrderedDict()   # key -> Replay, oldest first
        self.lock = threading.Lock()
        self.n_replays = 0        # forward sweeps run: what the caching saves shows here

    def at(self, x):
        x = np.asarray(x, dtype=np.float64)
        key = (x.shape, x.tobytes())
        kept = self.recent.get(key)
        rep = self.tf.evaluate((x,) + self.args, again=kept)
        with self.lock:   # (threads sharing one: another's eviction had raised KeyError)
            self.n_replays += rep is not kept
            self.recent[key] = rep
            self.recent.move_to_end(key)
            if len(self.recent) > self.KEEP:
                self.recent.popitem(last=False)
        return rep


class Objective(_Replays):
    """A scalar objective: value_and_grad, hess and hessp callbacks for scipy."""

    def at(self, x):
        rep = super().at(x)
        if rep.out_size != 1:
            raise ValueError(f"numhess.minimize: the objective must return a scalar, got "
                             f"shape {rep.entry.out_shape}")
        return rep

    def value(self, x):
        return float(self.at(x).output().reshape(()))

    def value_and_grad(self, x):
        rep = self.at(x)
        # a one-element output of any shape is the scalar, as scipy takes it
        return float(rep.output().reshape(())), drivers.gradient(rep, 1.0).reshape(np.shape(x))

    def hess(self, x):
        return weighted_hessian(self.at(x))

    def hessp(self, x, p):
        rep = self.at(x)
        p = np.asarray(p, dtype=np.float64).ravel()
        return drivers.hessian_vector(rep, 1.0, p).reshape(np.shape(x))


def _pick_method(n, kw):
    if kw.get("constraints") or kw.get("bounds") is not None:
        return "trust-constr"
    # (not trust-krylov: scipy's trlib keeps up to 10,001 Lanczos vectors, 7.5 GiB at
    # n = 10^5; trust-ncg's Steihaug CG keeps a few)
    return "trust-exact" if n <= 1000 else "trust-ncg"


def minimize(f, x0, args=(), method=None, hess="auto", **kw):
    """scipy.optimize.minimize with value, gradient and Hessian from one traced tape.

    f(x, *args) -> scalar, written in plain NumPy. `hess` selects the second derivative:
    "exact" passes hess= (the dense Hessian), "hvp" passes hessp= (Hessian-vector
    products, never forming the matrix), None passes neither; "auto" (the default) uses
    "hvp" for the Krylov methods (Newton-CG, trust-ncg, trust-krylov, trust-constr),
    "exact" for dogleg and trust-exact, and None for methods that take no Hessian. Any
    other value (a callable, "2-point", a HessianUpdateStrategy) goes to scipy unchanged.
    method=None picks "trust-constr" when bounds or constraints are given, else
    "trust-exact" up to 1000 variables and "trust-ncg" above. Other keywords
    (tol, options, callback, bounds, constraints, ...) pass through to scipy.
    Value and gradient come from one call (jac=True; the value alone for Nelder-Mead,
    Powell, COBYLA and COBYQA, which use no gradient), and every callback at one x reuses
    that x's forward sweep. x0 of any shape: f gets x in that shape, scipy (bounds,
    constraints, callbacks) the flat vector. Returns scipy's OptimizeResult, res.x in x0's
    shape, plus `n_replays`: the forward sweeps run (one per distinct x).
    """
    if "jac" in kw:
        raise TypeError("numhess.minimize computes jac itself; call "
                        "scipy.optimize.minimize directly to pass your own")
    if "hessp" in kw:
        raise TypeError("numhess.minimize: pass hess='hvp' instead of hessp=")
    x0 = np.asarray(x0, dtype=np.float64)
    shape = x0.shape if x0.ndim != 1 else None
    if shape is not None:   # scipy works on vectors: f gets x in x0's shape, res.x too
        f, x0 = _shaped(f, shape), x0.ravel()
    method = _pick_method(x0.size, kw) if method is None else method
    if not isinstance(method, str) and not callable(method):
        raise TypeError("numhess.minimize: method must be a name (a string) or a custom "
                        f"minimizer (a callable), got {type(method).__name__}")
    # a custom minimizer gets the dense Hessian as scipy hands it hess=, used or not
    name = method.lower() if isinstance(method, str) else None
    uses_hessian = name in HESSIAN_METHODS or name is None
    if isinstance(hess, str) and hess not in ("auto", "exact", "hvp") and \
            hess not in ("2-point", "3-point", "cs"):
        raise ValueError(f"hess must be 'auto', 'exact', 'hvp', None, a callable or one of "
                         f"scipy's '2-point', '3-point', 'cs'; got {hess!r}")
    if hess == "auto":
        hess = None if not uses_hessian else (
            "hvp" if HESSIAN_METHODS.get(name) else "exact")
    if hess in ("exact", "hvp") and not uses_hessian:
        raise ValueError(f"method {method!r} does not use second derivatives; use one of "
                         f"{sorted(HESSIAN_METHODS)} or hess=None")
    if hess == "hvp" and HESSIAN_METHODS.get(name) is False:
        raise ValueError(f"method {method!r} needs the Hessian matrix; use hess='exact'")

    import scipy.optimize as so     # here: importing it costs 27 MB and 0.1 s
    if shape is not None and isinstance(kw.get("bounds"), so.Bounds):
        kw["bounds"] = _flat_bounds(kw["bounds"], shape)
    obj = Objective(f, args)
    second = {}
    if hess == "exact":
        second["hess"] = obj.hess
    elif hess == "hvp":
        second["hessp"] = obj.hessp
    elif hess is not None:
        second["hess"] = hess if not callable(hess) else (lambda x: hess(x, *obj.args))
    if name in VALUE_ONLY:
        res = so.minimize(obj.value, x0, method=method, **second, **kw)
    else:
        res = so.minimize(obj.value_and_grad, x0, method=method, jac=True, **second, **kw)
    res.n_replays = obj.n_replays
    if shape is not None:       # (res.hess, a matrix, stays over the flat vector)
        res.x = res.x.reshape(shape)
        # the objective's gradient: trust-constr's res.grad (its res.jac lists the
        # constraints' Jacobians), the others' res.jac
        grad = "grad" if name == "trust-constr" else "jac"
        if np.size(res.get(grad)) == res.x.size:
            res[grad] = np.reshape(res[grad], shape)
    return res


def _flat_bounds(bounds, shape):
    """scipy.optimize.Bounds over the flat vector, from one whose arrays have x0's shape."""
    flat = lambda b: np.ravel(b) if np.shape(b) == shape else b
    return type(bounds)(flat(bounds.lb), flat(bounds.ub), flat(bounds.keep_feasible))


def _shaped(f, shape):
    def on_shape(x, *args):
        return f(x.reshape(shape), *args)
    return on_shape


class _Constraint(_Replays):
    """A vector constraint c(x): values, Jacobian, and Hessians of v . c(x), dense or
    scipy.sparse CSR matrices."""

    def __init__(self, c, args, sparse):
        super().__init__(c, args)
        self.sparse = sparse

    def fun(self, x):
        return self.at(x).output().ravel()

    def jac(self, x):
        rep = self.at(x)
        if self.sparse:
            return sparse_jacobian(rep)
        m, n = rep.out_size, rep.tape.n_in
        return drivers.jacobian(rep, None, reverse=m < n)   # fewer sweeps of the two

    def hess(self, x, v):
        rep = self.at(x)
        v = np.asarray(v, dtype=np.float64).ravel()
        if v.size != rep.out_size:
            raise ValueError(f"constraint Hessian: {v.size} multipliers for "
                             f"{rep.out_size} constraints")
        return sparse_csr(rep, v) if self.sparse else weighted_hessian(rep, v)


def constraint(c, lb=-np.inf, ub=np.inf, args=(), sparse=False, **kw):
    """scipy.optimize.NonlinearConstraint lb <= c(x, *args) <= ub for trust-constr (and
    SLSQP/COBYLA), with numhess's Jacobian and with hess(x, v) the Hessian of v . c(x),
    from one second-order sweep set weighted by the multipliers v (not one Hessian per
    constraint). With sparse=True both are CSR matrices, from one sweep per colour of
    their patterns (large constraints with few variables each: dynamics, meshes).
    Extra keywords (keep_feasible, ...) go to NonlinearConstraint."""
    import scipy.optimize as so
    con = _Constraint(c, args, sparse)
    # bounds in the output's shape, flat as fun's values are (SciPy's own error was about
    # an "axis remapping")
    lb, ub = (np.ravel(b) if np.ndim(b) > 1 else b for b in (lb, ub))
    return so.NonlinearConstraint(con.fun, lb, ub, jac=con.jac, hess=con.hess, **kw)
