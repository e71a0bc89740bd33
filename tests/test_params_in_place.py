"""Large data arguments that only matrix products read are read where the caller keeps
them (tape._read_in_place, kernels._sources), not copied at every call: each way a
product can meet one, against the same function with the data copied and against finite
differences; the data changed in place between calls; the copies that must stay."""
import numpy as np
import pytest

import numhess as nh
from numhess import drivers, hessians, supports, tape as tape_module
from numhess.scipy_api import Objective
from numhess.traced import TracedFunction
from test_rules import assert_close, central_diff

rng = np.random.default_rng(11)
A = rng.normal(size=(90, 60)) / 8        # 5400 elements: above READ_IN_PLACE_MIN
B = rng.normal(size=(3, 40, 60)) / 8
C = rng.normal(size=(60, 80)) / 8
X0 = rng.normal(size=60) / 2

# (name, f(x, data), data, read in place?)
CASES = [
    ("A @ x", lambda x, D: np.sum(np.log1p(np.exp(D @ x))), A, True),
    ("x @ C", lambda x, D: np.sum(np.tanh(x @ D) ** 2), C, True),
    ("rows of A @ x", lambda x, D: np.sum(np.sin(D[10:70] @ x)), A, True),
    ("batched B @ x", lambda x, D: np.sum((D @ x) ** 3), B, True),
    ("einsum", lambda x, D: np.sum(np.exp(np.einsum("ij,j->i", D, x) / 2)), A, True),
    ("np.dot, matrix x", lambda x, D: np.sum(np.dot(D, x.reshape(60, 1) * x[:3]) ** 2),
     A, True),
    ("quadratic form", lambda x, D: x @ (D.T[:60, :60] @ x) + np.sum((D @ x) ** 2), A, False),
    ("product and elementwise", lambda x, D: np.sum((D @ x) ** 2) + np.sum(D ** 2) * x[0],
     A, False),
]


def _copied(monkeypatch, f, args):
    """The same function with every parameter copied into the tape's values."""
    monkeypatch.setattr(tape_module, "READ_IN_PLACE_MIN", np.inf)
    fns = nh.grad(f), nh.hvp(f), nh.hessian(f)
    got = fns[0](*args), fns[1](args[0], np.ones(60), *args[1:]), fns[2](*args)
    monkeypatch.undo()
    return got


@pytest.mark.parametrize("name, f, data, in_place", CASES, ids=[c[0] for c in CASES])
def test_products_read_parameters_in_place(monkeypatch, name, f, data, in_place):
    g, hv, h = nh.grad(f), nh.hvp(f), nh.hessian(f)
    for x in (X0, -X0[::-1].copy()):
        got = g(x, data), hv(x, np.ones(60), data), h(x, data)
        for a, b in zip(got, _copied(monkeypatch, f, (x, data))):
            assert_close(a, b, rtol=1e-12, what=name)
        assert_close(got[0], central_diff(lambda z: f(z, data), x), what=name)
        assert_close(got[2], central_diff(lambda z: g(z, data), x), what=name)
    (entry,) = next(iter(h.traced.cache.values()))
    assert bool(entry.tape.in_place) == in_place
    assert h.traced.n_traces == 1


def test_data_changed_in_place_between_calls():
    """The sweeps read the array as it is at each call: a change in place is seen, as a
    new array is, without a retrace; so is an array the minimizer's kept point read."""
    f = lambda x, D, y: np.sum(np.logaddexp(0.0, D @ x) - y * (D @ x)) + 0.5 * x @ x
    D, y = A.copy(), (rng.random(90) < 0.5).astype(float)
    g, h = nh.grad(f), nh.hessian(f)

    def exact(x):
        p = 1.0 / (1.0 + np.exp(-(D @ x)))
        return D.T @ (p - y) + x, (D.T * (p * (1 - p))) @ D + np.eye(60)
    for _ in range(3):
        grad, hess = exact(X0)
        assert_close(g(X0, D, y), grad, rtol=1e-11)
        assert_close(h(X0, D, y), hess, rtol=1e-11)
        D *= 1.5
        D[0, 0] += 1.0
    assert g.traced.n_traces == 1 and h.traced.n_traces == 1
    # the value, gradient and Hessian at one point, with D changed in place between them
    objective = Objective(f, (D, y))
    objective.value(X0)
    D += 0.25
    assert_close(objective.hess(X0), exact(X0)[1], rtol=1e-11)


def test_layouts_that_are_copied():
    """float32, Fortran-ordered and strided data are read through a C-ordered float64
    copy, held for the call."""
    f = lambda x, D: np.sum(np.cos(D @ x))
    h = nh.hessian(f)
    want = h(X0, A)
    for D in (A.astype(np.float32), np.asfortranarray(A), np.repeat(A, 2, axis=1)[:, ::2]):
        assert_close(h(X0, D), nh.hessian(f)(X0, np.array(D, dtype=np.float64)),
                     rtol=1e-12)
    assert_close(h(X0, A), want, rtol=0)


def test_support_sweeps_read_parameters_in_place():
    """The products of the sweeps over a direction's support read the data in place too."""
    def pairs_and_product(x, D):
        X = x.reshape(-1, 2)
        r2 = np.sum((X[:, None, :] - X[None, :, :]) ** 2, -1)
        return np.sum(np.exp(-r2)) + np.sum(np.tanh(D @ x) ** 2)
    x = rng.normal(size=60)
    rep = TracedFunction(pairs_and_product, 0).evaluate((x, A))
    assert rep.tape.in_place
    for k in (1, 3):
        H = supports.hessian(rep, supports.Plan(supports.maps(rep.tape), k, 1.0))
        assert_close(H, drivers.hessian(rep, hessians.ONE, None)[0], rtol=1e-11)
    assert_close(H, central_diff(lambda z: nh.grad(pairs_and_product)(z, A), x), what="supports")
