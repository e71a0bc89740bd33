"""The fast path of small calls (numhess/quick.py): the same results as the general path,
and the general path again wherever the tape may not fit the call."""
import numpy as np
import pytest

import numhess as nh
from test_rules import central_diff

WEIGHT = 2.0


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def pairs(x):                   # (4, 3) coordinates, an output of shape (1,)
    d = x[:, None, :] - x[None, :, :]
    r2 = np.sum(d ** 2, axis=-1) + np.eye(len(x))
    return np.sum(1.0 / r2 - np.log(r2), keepdims=True)[0:1]


def weighted(x):                # reads a global: a new value must reach the next call
    return WEIGHT * np.sum(np.sin(x) * x)


def scalar(x):                  # a 0-d input
    return np.exp(x) * x ** 3


def logistic(w, A, y, lam):      # A: a parameter (64 floats or more), y and lam constants
    z = A @ w
    return np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * lam * np.sum(w ** 2)


def logistic_hessian(w, A, y, lam):
    p = 1.0 / (1.0 + np.exp(-(A @ w)))
    return A.T @ (A * (p * (1 - p))[:, None]) + lam * np.eye(w.size)


def _general_only(monkeypatch, transform):
    """Make the general path raise: a call that passes used the fast path."""
    def refuse(*a, **k):
        raise AssertionError("the general path served a call the fast path should have")
    monkeypatch.setattr(transform.traced, "evaluate", refuse)


@pytest.mark.parametrize("f, x", [
    (rosenbrock, np.linspace(-1.0, 1.0, 7)),
    (pairs, np.arange(12.0).reshape(4, 3) ** 1.5 / 7),
    (scalar, np.array(0.7)),
])
def test_fast_calls_match_the_general_path(monkeypatch, f, x):
    x2 = np.asarray(x + 0.1)     # (a 0-d array plus a number is a NumPy scalar)
    v = np.cos(np.arange(x.size)).reshape(x.shape)
    transforms = [(nh.hessian, (x,), (x2,)), (nh.grad, (x,), (x2,)),
                  (nh.hvp, (x, v), (x2, v))]
    if np.ndim(f(x)) == 0:
        transforms.append((nh.value_and_grad, (x,), (x2,)))
    for make, args, args2 in transforms:
        want = make(f)(*args2)              # a first call: the general path
        t = make(f)
        t(*args)                            # traces, and learns the tape
        _general_only(monkeypatch, t)
        got = t(*args2)
        assert type(got) is type(want)
        for a, b in zip(got if isinstance(got, tuple) else (got,),
                        want if isinstance(want, tuple) else (want,)):
            assert np.shape(a) == np.shape(b) and type(a) is type(b)
            np.testing.assert_array_equal(a, b)
    H = nh.hessian(f)(x2)
    g = lambda z: np.asarray(nh.grad(f)(z))
    np.testing.assert_allclose(H.reshape(x.size, -1), central_diff(g, x2).reshape(x.size, -1),
                               rtol=1e-6, atol=1e-6)


def test_fast_calls_with_data_and_constants(monkeypatch):
    rng = np.random.default_rng(3)
    A, y, w = rng.standard_normal((30, 4)), (rng.random(30) < 0.5) * 1.0, rng.normal(size=4)
    H, vg = nh.hessian(logistic), nh.value_and_grad(logistic)
    want_vg = nh.value_and_grad(logistic)(w + 1, A, y, 0.1)     # by the general path
    for t in (H, vg):
        t(w, A, y, 0.1)
        _general_only(monkeypatch, t)
    got = vg(w + 1, A, y, 0.1)
    assert got[0] == want_vg[0] and np.array_equal(got[1], want_vg[1])
    np.testing.assert_allclose(H(w, A, y, 0.1), logistic_hessian(w, A, y, 0.1), rtol=1e-12)
    A *= 2.0                    # a parameter's new values, in place: loaded at every call
    np.testing.assert_allclose(H(w, A, y, 0.1), logistic_hessian(w, A, y, 0.1), rtol=1e-12)
    np.testing.assert_allclose(H(w, A.copy(), y, 0.1), logistic_hessian(w, A, y, 0.1),
                               rtol=1e-12)


def test_other_constants_take_the_general_path():
    rng = np.random.default_rng(4)
    A, y, w = rng.standard_normal((30, 4)), (rng.random(30) < 0.5) * 1.0, rng.normal(size=4)
    H = nh.hessian(logistic)
    for lam, yy in [(0.1, y), (0.1, y), (0.5, y), (0.5, 1 - y), (0.5, list(1 - y)),
                    (0.1, y)]:
        np.testing.assert_allclose(H(w, A, yy, lam), logistic_hessian(w, A, 0, lam),
                                   rtol=1e-12)
    np.testing.assert_allclose(H(w, A[:20], y[:20], 0.1),
                               logistic_hessian(w, A[:20], 0, 0.1), rtol=1e-12)
    assert H.traced.n_traces == 5      # (a list is another constant than an array)


def test_a_changed_global_reaches_the_next_fast_call():
    global WEIGHT
    x = np.linspace(0.1, 1.0, 5)
    H, g = nh.hessian(weighted), nh.grad(weighted)
    before = H(x), g(x), H(x), g(x)
    try:
        WEIGHT = 3.0
        after = H(x), g(x)
    finally:
        WEIGHT = 2.0
    np.testing.assert_allclose(after[0], 1.5 * before[2], rtol=1e-14)
    np.testing.assert_allclose(after[1], 1.5 * before[3], rtol=1e-14)
    np.testing.assert_allclose(g(x), before[1], rtol=1e-14)


def test_other_inputs_take_the_general_path():
    x = np.linspace(-1.0, 1.0, 6)
    H, hv = nh.hessian(rosenbrock), nh.hvp(rosenbrock)
    ref = H(x)
    H(x)
    np.testing.assert_array_equal(H(list(x)), ref)
    np.testing.assert_allclose(H(x.astype(np.float32)), nh.hessian(rosenbrock)(
        x.astype(np.float32).astype(float)), rtol=1e-14)
    np.testing.assert_array_equal(H(np.repeat(x, 2)[::2]), ref)          # strided
    assert H(np.linspace(-1.0, 1.0, 9)).shape == (9, 9)                   # a new shape
    np.testing.assert_array_equal(H(x), ref)
    v = np.ones(6)
    hv(x, v)
    np.testing.assert_allclose(hv(x, list(v)), ref @ v, rtol=1e-14)
    with pytest.raises(ValueError, match="does not match"):
        hv(x, np.ones(5))
    with pytest.raises(TypeError, match="by position"):
        H(x=x)


def test_guarded_tapes_take_the_general_path():
    f = lambda x: np.sum(x ** 3) if x[0] > 0 else np.sum(np.exp(x))
    H = nh.hessian(f)
    for x in (np.ones(3), -np.ones(3), np.ones(3), -np.ones(3)):
        want = np.diag(6 * x) if x[0] > 0 else np.diag(np.exp(x))
        np.testing.assert_allclose(H(x), want, rtol=1e-14)
