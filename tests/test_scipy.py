"""scipy.optimize with numhess: every Hessian-using method on known solutions."""
import numpy as np
import pytest
import scipy.optimize as so
import scipy.sparse as sp

import numhess as nh
from numhess import problems as P
from numhess.scipy_api import HESSIAN_METHODS, Objective, constraint, minimize

METHODS = ["Newton-CG", "dogleg", "trust-ncg", "trust-krylov", "trust-exact", "trust-constr"]
HVP_OK = [m for m in METHODS if HESSIAN_METHODS[m.lower()]]
TIGHT = {"Newton-CG": {"xtol": 1e-12}, "trust-constr": {"gtol": 1e-12, "xtol": 1e-14},
         "trust-krylov": {"gtol": 1e-8},    # scipy's trlib stalls below about 1e-9
         **{m: {"gtol": 1e-9} for m in ("dogleg", "trust-ncg", "trust-exact")}}


def _modes(method):
    return ["exact", "hvp"] if method in HVP_OK else ["exact"]


CASES = [(m, h) for m in METHODS for h in _modes(m)]


# ---------------------------------------------------------------- references
@pytest.fixture(scope="module")
def logistic():
    """Data and the optimum, found by Newton's method on the analytic derivatives."""
    X, y = P.logistic_data(200, 8, seed=3)
    lam, w = 1e-2, np.zeros(8)
    for _ in range(30):
        s = 1.0 / (1.0 + np.exp(y * (X @ w)))        # sigma(-y Xw)
        g = -(X.T @ (y * s)) / len(y) + lam * w
        H = (X.T * (s * (1 - s))) @ X / len(y) + lam * np.eye(8)
        w = w - np.linalg.solve(H, g)
    return X, y, w


# ---------------------------------------------------------------- nh.minimize
@pytest.mark.parametrize("n", [2, 4])
@pytest.mark.parametrize("method,hess", CASES)
def test_minimize_rosenbrock(method, hess, n):
    if method == "dogleg" and n == 4:
        pytest.skip("dogleg needs a positive definite Hessian on the whole path")
    x0 = np.tile([-1.2, 1.0], n // 2)
    res = minimize(P.rosenbrock, x0, method=method, hess=hess, options=TIGHT.get(method, {}))
    assert res.success, res.message
    np.testing.assert_allclose(res.x, np.ones(n), atol=1e-6)
    assert res.n_replays <= res.nfev + 1       # jac and hess reuse fun's forward sweep


@pytest.mark.parametrize("method,hess", CASES)
def test_minimize_logistic_with_args(method, hess, logistic):
    X, y, w_star = logistic
    res = minimize(P.logistic_loss, np.zeros(8), args=(X, y), method=method, hess=hess,
                   options=TIGHT.get(method, {}))
    assert res.success, res.message
    np.testing.assert_allclose(res.x, w_star, atol=1e-6)


# ---------------------------------------------------------------- plain scipy callbacks
@pytest.mark.parametrize("method,hess", CASES)
def test_scipy_callbacks_pass_args(method, hess, logistic):
    X, y, w_star = logistic
    f = P.logistic_loss
    second = {"hess": nh.hessian(f)} if hess == "exact" else {"hessp": nh.hvp(f)}
    res = so.minimize(f, np.zeros(8), args=(X, y), method=method, jac=nh.grad(f),
                      options=TIGHT.get(method, {}), **second)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, w_star, atol=1e-6)


def test_value_grad_and_hessian_share_one_forward_sweep():
    obj = Objective(P.rosenbrock, ())
    x = np.array([0.5, -0.3, 1.1])
    value, g = obj.value_and_grad(x)
    H = obj.hess(x.copy())             # a copy: the cache keys on the bytes, not the object
    hv = obj.hessp(x, np.ones(3))
    assert obj.n_replays == 1
    assert value == pytest.approx(so.rosen(x))
    np.testing.assert_allclose(g, so.rosen_der(x), rtol=1e-12)
    np.testing.assert_allclose(H, so.rosen_hess(x), rtol=1e-12)
    np.testing.assert_allclose(hv, so.rosen_hess(x) @ np.ones(3), rtol=1e-12)
    obj.value_and_grad(x + 1.0)
    obj.hess(x)                        # the previous point is still cached
    assert obj.n_replays == 2


def test_default_methods():
    assert minimize(P.rosenbrock, np.zeros(4)).success        # trust-exact
    res = minimize(P.rosenbrock, np.zeros(4), bounds=so.Bounds(-2, 0.5))
    assert res.success and res.x[0] == pytest.approx(0.5, abs=1e-4)   # trust-constr
    # above 1000 variables trust-ncg: trust-krylov's trlib asked for 7.5 GiB at n = 10^5
    from numhess.scipy_api import _pick_method
    assert _pick_method(100_000, {}) == "trust-ncg"
    res = minimize(lambda x: np.sum((x - 1.0) ** 2 + 0.1 * x ** 4), np.zeros(100_000))
    assert res.success and np.abs(2.0 * (res.x - 1.0) + 0.4 * res.x ** 3).max() < 1e-6


def test_gradient_free_methods_get_the_value_alone(recwarn):
    """(with jac=True scipy warned it ignores jac, and each call took a gradient)"""
    for method in ("Nelder-Mead", "Powell", "COBYLA"):
        res = minimize(lambda x: np.sum((x - 1.0) ** 2), np.zeros(2), method=method,
                       options={"maxiter": 4000})
        np.testing.assert_allclose(res.x, 1.0, atol=1e-3)
    assert not [w for w in recwarn if "jac" in str(w.message)]


def test_constraint_bounds_in_the_outputs_shape():
    c = lambda x: np.outer(x, x)
    lb, ub = -np.ones((3, 3)), np.full((3, 3), 4.0)
    res = minimize(lambda x: -np.sum(x), np.zeros(3), constraints=[constraint(c, lb, ub)])
    assert np.all(c(res.x) <= 4.0 + 1e-6) and res.x == pytest.approx(2.0, abs=1e-3)


def test_hess_passthrough_and_first_order_methods():
    res = minimize(P.rosenbrock, np.zeros(4), method="trust-constr", hess="2-point")
    np.testing.assert_allclose(res.x, 1.0, atol=1e-4)
    res = minimize(P.rosenbrock, np.zeros(4), method="BFGS")    # hess="auto" -> none
    np.testing.assert_allclose(res.x, 1.0, atol=1e-4)


def test_a_custom_minimizer_gets_gradient_and_hessian():
    def newton(fun, x0, args=(), jac=None, hess=None, **options):
        x = x0.copy()
        for it in range(50):
            value, g = fun(x, *args), jac(x, *args)
            if np.linalg.norm(g) < 1e-12:
                break
            x = x - np.linalg.solve(hess(x, *args), g)
        return so.OptimizeResult(x=x, fun=value, jac=g, nit=it, success=True)
    res = minimize(P.rosenbrock, np.full((2, 2), 0.9), method=newton)
    np.testing.assert_allclose(res.x, np.ones((2, 2)), rtol=1e-10)
    assert res.jac.shape == (2, 2)


@pytest.mark.parametrize("kw,err,match", [
    ({"jac": True}, TypeError, "computes jac"),
    ({"hessp": lambda x, p: p}, TypeError, "hess='hvp'"),
    ({"method": "trust-exact", "hess": "hvp"}, ValueError, "needs the Hessian matrix"),
    ({"method": "BFGS", "hess": "exact"}, ValueError, "does not use second"),
    ({"hess": "bogus"}, ValueError, "hess must be"),
    ({"method": 3}, TypeError, "method must be a name"),
])
def test_minimize_bad_input(kw, err, match):
    with pytest.raises(err, match=match):
        minimize(P.rosenbrock, np.zeros(3), **kw)


def test_vector_objective_is_rejected():
    with pytest.raises(ValueError, match="must return a scalar"):
        minimize(lambda x: x ** 2, np.ones(3))


def test_one_element_output_is_the_scalar():
    """f of a one-element x0 written elementwise returns shape (1,), as scipy allows."""
    r = minimize(lambda x: (x - 2) ** 2 * np.exp(x), np.array([0.5]), method="Newton-CG")
    assert r.success and abs(r.x[0] - 2.0) < 1e-6


def test_a_scalar_x0_stays_a_scalar():
    seen = []

    def f(x):
        seen.append(np.shape(x))
        return (x - 2) ** 2 * np.exp(x)
    r = minimize(f, 0.5, method="trust-exact")
    assert r.success and np.shape(r.x) == () and set(seen) == {()}
    assert abs(r.x - 2.0) < 1e-6


def test_x0_of_any_shape():
    """f gets x in x0's shape and res.x and res.jac come back in it (scipy itself takes
    vectors; res.hess stays a matrix over them): W W^T = 2 I from a 2 x 3 start."""
    W0 = np.ones((2, 3)) + 0.1 * np.arange(6.0).reshape(2, 3)
    seen = []

    def f(W):
        seen.append(W.shape)
        return np.sum((W @ W.T - 2.0 * np.eye(2)) ** 2)
    r = minimize(f, W0, method="trust-exact")
    assert r.success and r.x.shape == r.jac.shape == (2, 3) and set(seen) == {(2, 3)}
    assert r.hess.shape == (6, 6)
    np.testing.assert_allclose(r.x @ r.x.T, 2.0 * np.eye(2), atol=1e-8)


def test_x0_of_any_shape_with_bounds_and_constraints():
    """Bounds of x0's shape are flattened for scipy, as constraint bounds are; under
    trust-constr the objective's gradient is res.grad (res.jac lists the constraints'
    Jacobians, and had been reshaped into x0's shape as if it were the gradient)."""
    T = np.arange(6.0).reshape(2, 3)
    f = lambda X: np.sum((X - T) ** 2)
    r = minimize(f, np.zeros((2, 3)), method="L-BFGS-B",
                 bounds=so.Bounds(np.zeros((2, 3)), np.full((2, 3), 2.5)))
    np.testing.assert_allclose(r.x, np.clip(T, 0, 2.5), atol=1e-8)
    assert r.jac.shape == (2, 3)
    con = constraint(np.sum, -np.inf, 3.0)
    r = minimize(f, np.zeros((2, 3)), method="trust-constr", constraints=[con],
                 options={"gtol": 1e-10, "xtol": 1e-12})
    np.testing.assert_allclose(r.x, T - 2, atol=1e-3)       # sum 3: T shifted by -2
    np.testing.assert_allclose(r.grad, 2 * (r.x - T), atol=1e-12)
    assert r.grad.shape == (2, 3) and len(r.jac) == 1 and r.jac[0].shape == (1, 6)


# ---------------------------------------------------------------- constraints
@pytest.mark.parametrize("hess", ["exact", "hvp"])
def test_hs071(hess):
    con = constraint(P.hs071_constraints, [25.0, 40.0], [np.inf, 40.0])
    res = minimize(P.hs071, [1.0, 5.0, 5.0, 1.0], constraints=[con], bounds=so.Bounds(1, 5),
                   hess=hess, options={"gtol": 1e-12, "xtol": 1e-14, "barrier_tol": 1e-12})
    assert res.success, res.message
    np.testing.assert_allclose(res.x, P.HS071_SOLUTION, atol=1e-6)
    assert res.fun == pytest.approx(P.HS071_VALUE, abs=1e-6)


def test_sphere_constraint_with_args():
    """min a . x on |x| = r: x* = -r a / |a|."""
    a, r = np.array([1.0, 2.0, -2.0]), 2.0
    con = constraint(lambda x, r: np.sum(x ** 2) - r ** 2, 0.0, 0.0, args=(r,))
    res = minimize(lambda x, a: a @ x, np.ones(3), args=(a,), constraints=[con],
                   options={"gtol": 1e-12, "xtol": 1e-14})
    np.testing.assert_allclose(res.x, -r * a / np.linalg.norm(a), atol=1e-6)


RADIUS = 1.0


def test_a_reused_constraint_sees_changed_globals_and_data():
    """A continuation loop: the last solve's point starts the next one, with a global
    changed in between (the constraint's kept point had answered for the old radius,
    and trust-constr reported success at |x| = 1 for every radius); and data changed in
    place, at a point already evaluated."""
    global RADIUS
    con = constraint(lambda x: np.array([np.sum(x ** 2) - RADIUS ** 2]), 0.0, 0.0)
    x = np.array([0.6, 0.8])
    for RADIUS in (1.0, 2.0, 3.0):
        x = minimize(lambda x: x[0] + 2 * x[1], x, constraints=[con]).x
        assert np.linalg.norm(x) == pytest.approx(RADIUS, rel=1e-6)
    data = np.arange(100.0)
    con = constraint(lambda x, t: np.array([x @ t[:2] - t[5]]), 0.0, 0.0, args=(data,))
    assert con.fun(x) == pytest.approx(x @ data[:2] - data[5])
    data += 5.0
    assert con.fun(x) == pytest.approx(x @ data[:2] - data[5])
    np.testing.assert_array_equal(con.jac(x), [data[:2]])


def test_constraint_hessian_is_the_weighted_sum():
    con = constraint(P.hs071_constraints, 0.0, 1.0)
    x, v = np.array([1.0, 2.0, 3.0, 0.5]), np.array([0.7, -1.3])
    Hs = nh.hessian(P.hs071_constraints)(x)
    np.testing.assert_allclose(con.hess(x, v), np.tensordot(v, Hs, 1), rtol=1e-12)
    np.testing.assert_allclose(con.jac(x), nh.jacfwd(P.hs071_constraints)(x), rtol=1e-12)
    np.testing.assert_allclose(con.fun(x), P.hs071_constraints(x))
    with pytest.raises(ValueError, match="3 multipliers for 2 constraints"):
        con.hess(x, np.ones(3))


@pytest.mark.filterwarnings("ignore::scipy.optimize.OptimizeWarning")  # SLSQP ignores hess
def test_sparse_constraints_are_coloured():
    """constraint(sparse=True): the Jacobian from one forward sweep per colour of its
    columns and the multiplier-weighted Hessian from the Hessian's colouring, both CSR,
    equal to the dense ones; a row of every variable (a norm) takes the dense Jacobian's
    one reverse sweep. A 2000-step dynamics constraint took 45 s dense in trust-constr
    (scipy's dense factorizations of a 2000 x 4000 Jacobian), 0.08 s sparse (a probe)."""
    T, h = 60, 0.05
    obj = lambda z: 0.5 * h * np.sum(z[T:] ** 2) + 10.0 * (z[T - 1] - 2.0) ** 2
    dyn = lambda z: np.concatenate([z[1:T] - z[:T - 1] - h * (np.sin(z[:T - 1])
                                                              + z[T:2 * T - 1]), z[:1]])
    norm = lambda z: np.stack([np.sum(z ** 2) / z.size, z[0] * z[1]])
    z = np.random.default_rng(3).standard_normal(2 * T)
    for c, coloured in ((dyn, True), (norm, False)):
        con = constraint(c, 0.0, 0.0, sparse=True)
        J = con.jac(z)
        v = np.linspace(-1.0, 1.0, J.shape[0])
        assert isinstance(J, sp.csr_matrix) and isinstance(con.hess(z, v), sp.csr_matrix)
        np.testing.assert_allclose(J.toarray(), nh.jacfwd(c)(z), rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(con.hess(z, v).toarray(),
                                   nh.hessian(lambda z: v @ c(z))(z), rtol=1e-13, atol=1e-15)
        entry = next(iter(con.jac.__self__.tf.cache.values()))[0]
        got = entry.derived["jacobian coloring"]
        assert (got is not None and got[1].size + got[3] < min(J.shape)) == coloured
    xs = [minimize(obj, np.zeros(2 * T), constraints=[constraint(dyn, 0.0, 0.0, sparse=s)]).x
          for s in (True, False)]
    np.testing.assert_allclose(xs[0], xs[1], rtol=1e-8, atol=1e-10)


def test_constraint_with_slsqp():
    con = constraint(P.hs071_constraints, [25.0, 40.0], [np.inf, 40.0])
    res = so.minimize(P.hs071, [1.0, 5.0, 5.0, 1.0], jac=nh.grad(P.hs071), method="SLSQP",
                      constraints=[con], bounds=so.Bounds(1, 5), options={"ftol": 1e-12})
    np.testing.assert_allclose(res.x, P.HS071_SOLUTION, atol=1e-5)


# ---------------------------------------------------------------- least squares
def test_least_squares_with_jacfwd():
    def resid(p, t, y):
        return p[0] * np.exp(-p[1] * t) + p[2] - y
    t = np.linspace(0, 3, 30)
    y = 2.0 * np.exp(-1.3 * t) + 0.5
    res = so.least_squares(resid, [1.0, 1.0, 0.0], jac=nh.jacfwd(resid), args=(t, y))
    np.testing.assert_allclose(res.x, [2.0, 1.3, 0.5], atol=1e-8)
    assert res.jac.shape == (30, 3)


@pytest.mark.parametrize("name", ["cumulative_trapezoid", "trapezoid", "simpson"])
def test_scipy_integrate_of_a_traced_curve(name):
    """scipy.integrate's array-API functions ask the traced array for its namespace:
    NumPy's (cumulative_trapezoid had raised 'not a supported array type')."""
    import scipy.integrate
    from test_rules import assert_close, central_diff
    t = np.linspace(0.0, 2.0, 21)
    f = lambda p: np.sum(getattr(scipy.integrate, name)(np.exp(-p[0] * t) * p[1], t) ** 2)
    p = np.array([0.3, 2.0])
    assert_close(nh.grad(f)(p), central_diff(f, p))
    assert_close(nh.hessian(f)(p), central_diff(nh.grad(f), p))
