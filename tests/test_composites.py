"""NumPy functions numhess builds from its primitives (composites.py), beyond the rule
table in cases.py: points where they change form, guards that retrace, and refusals."""
import numpy as np
import pytest

from numpy.polynomial import chebyshev, hermite, hermite_e, laguerre, legendre
from numpy.polynomial import polynomial as P

import numhess as nh
from test_rules import assert_close, central_diff


def test_sinc_at_zero_has_its_derivatives():
    """sinc(x) = 1 - (pi x)^2 / 6 + ...: at 0 the gradient is 0 and the Hessian -pi^2/3."""
    x = np.zeros(3)
    assert nh.hessian(lambda x: np.sum(np.sinc(x)))(x) == pytest.approx(
        -np.pi ** 2 / 3 * np.eye(3), rel=1e-12)
    np.testing.assert_array_equal(nh.grad(lambda x: np.sum(np.sinc(x)))(x), 0.0)
    for t in (1e-5, 0.3 / np.pi, -2.5):          # both sides of the series' threshold
        h = nh.hessian(lambda x: np.sinc(x[0]))(np.array([t]))[0, 0]
        y = np.pi * t
        exact = np.pi ** 2 * ((2 - y * y) * np.sin(y) - 2 * y * np.cos(y)) / y ** 3
        assert h == pytest.approx(exact, rel=1e-6, abs=1e-9)


def test_sinc_series_follows_the_point():
    """The choice between the series and sin(y) / y is made at every point, not at the
    trace's: traced at 0 and replayed away from it, and the other way round."""
    def exact(t):               # sinc'(t), by its series near 0 (the formula cancels)
        y = np.pi * t
        return np.pi * (-y / 3 + y ** 3 / 30) if abs(y) < 1e-2 else (
            np.cos(y) - np.sinc(t)) / t
    for points in ([0.0, 0.5, 1e-5, -2.5], [0.5, 0.0, -2.5, 1e-5]):
        vg = nh.value_and_grad(lambda x: np.sinc(x))
        for t in points:
            value, grad = vg(t)
            assert value == pytest.approx(np.sinc(t), rel=1e-14)
            assert grad == pytest.approx(exact(t), rel=1e-9, abs=1e-12)
    x = np.array([0.3, 0.0, -1.2, 0.5])
    jac = nh.jacrev(np.sinc)
    jac(np.array([0.2, 0.7, 1.1, -0.4]))          # traced where no element is small
    np.testing.assert_allclose(jac(x), np.diag([exact(t) for t in x]), rtol=1e-9,
                               atol=1e-12)


@pytest.mark.parametrize("f", [
    lambda x: P.polyvalfromroots(x[:3], [1.0, 2.0, 3.0]) ** 2,
    lambda x: P.polyvalfromroots(x[:2], x[2:5]),
    lambda x: P.polyval(x[4:6], x[:4].reshape(2, 2)),
    lambda x: hermite.hermval(x[:2], [[1.0, 2.0], [3.0, 4.0]]) * x[2],
    lambda x: chebyshev.chebval(x[:3].reshape(3, 1), x[3:7].reshape(2, 2)),
    lambda x: legendre.legval(x[:2], np.ones((3, 2))) * laguerre.lagval(x[2], x[3:6]),
    lambda x: hermite_e.hermeval(x[:2], x[2:8].reshape(3, 2)),
], ids=["roots", "traced roots", "2-D coefficients", "hermval", "chebval of 2-D x",
        "legval lagval", "hermeval"])
def test_numpy_polynomial_evaluators_broadcast_a_traced_x(f):
    """numpy.polynomial's evaluators give the coefficients x's dimensions only for an
    ndarray x: with a traced x they met it elementwise (polyvalfromroots(x, [1, 2, 3])
    was another number, silently). Their values are NumPy's; derivatives against
    finite differences."""
    x = np.array([0.3, -0.7, 1.1, 0.4, 0.9, -0.2, 0.5, 0.8])
    value, pull = nh.vjp(f, x)
    np.testing.assert_allclose(value, f(x), rtol=1e-14)
    step = 1e-6
    for d in np.eye(8)[:4]:
        fd = (f(x + step * d) - f(x - step * d)) / (2 * step)
        np.testing.assert_allclose(nh.jacfwd(f)(x) @ d, fd, rtol=1e-6, atol=1e-8)
    F = lambda x: np.sum(f(x) ** 2)
    H, Hd = nh.hessian(F)(x), np.array([(nh.grad(F)(x + step * d) - nh.grad(F)(x - step * d))
                                        / (2 * step) for d in np.eye(8)])
    np.testing.assert_allclose(H, Hd, rtol=1e-6, atol=1e-6 * np.abs(Hd).max())


def test_argmax_follows_the_maximum():
    """The index is a guarded constant: where the maximum moves, f is traced again."""
    g = nh.grad(lambda x: x[np.argmax(x)] ** 2 + np.min(x))
    for hot in (2, 4, 0, 2):
        x = np.linspace(0.0, 0.5, 5)
        x[hot] = 3.0
        want = np.zeros(5)
        want[hot] = 6.0
        want[np.argmin(x)] += 1.0
        np.testing.assert_allclose(g(x), want, rtol=1e-14)
    assert g.traced.n_traces == 3


def test_argsort_follows_the_order():
    """The permutation is a guarded constant: where the order changes, f is traced
    again; ties keep NumPy's stable order."""
    w = np.arange(1.0, 6.0)
    g = nh.grad(lambda x: x[np.argsort(x)] ** 2 @ w)
    for x in ([0.5, 0.1, 0.3, 0.9, 0.2], [0.6, 0.1, 0.3, 0.9, 0.2], [0.1, 0.5, 0.3, 0.9, 0.2],
              [0.3, 0.3, 0.3, 0.9, 0.2]):
        x = np.array(x)
        want = np.zeros(5)
        want[np.argsort(x, kind="stable")] = 2 * np.sort(x) * w
        np.testing.assert_allclose(g(x), want, rtol=1e-14)
    assert g.traced.n_traces == 3       # the second point keeps the first order


def test_traced_counts_and_choices_index_as_integers():
    """np.sum(x > 0) and np.where(c, 1, 2) are whole numbers without derivative (NumPy's
    are integers): they index, guarded; a traced float with a derivative does not."""
    f = lambda x: x[np.sum(x > 0) - 1] ** 2 + np.sum(x[np.where(x > 0.5, 1, 2)])
    g = nh.grad(f)
    for x in ([0.3, -1.0, 2.0, 0.7], [0.3, 1.0, 2.0, 0.1], [0.3, -1.0, 2.0, 0.7]):
        x = np.array(x)
        want = np.zeros(4)
        want[np.sum(x > 0) - 1] += 2 * x[np.sum(x > 0) - 1]
        np.add.at(want, np.where(x > 0.5, 1, 2), 1.0)
        np.testing.assert_allclose(g(x), want, rtol=1e-14)
    assert g.traced.n_traces == 2
    with pytest.raises(nh.TraceError, match="traced float"):
        nh.grad(lambda x: x[x[0]])(np.array([1.0, 2.0]))


def test_values_without_derivative_convert_to_python_guarded():
    """int(np.sum(x > 0)), float(np.floor(x)), .item(), .tolist() and range() of a count
    are Python values, guarded like an `if`; float() of a value with a derivative raises."""
    def f(x):
        s = 0.0
        for i in range(int(np.sum(x > 0))):
            s = s + x[i] ** 2
        return s * (1.0 + float(np.floor(2 * x[0]))) + np.floor(x[1]).item() * x[3]
    g = nh.grad(f)
    for x in ([0.3, 1.2, 2.0, -1.0], [0.9, 1.2, -2.0, -1.0], [0.3, 1.2, 2.0, -1.0]):
        x = np.array(x)
        n, k = int(np.sum(x > 0)), np.floor(2 * x[0])
        want = np.zeros(4)
        want[:n] = 2 * x[:n] * (1 + k)
        want[3] = np.floor(x[1])
        np.testing.assert_allclose(g(x), want, rtol=1e-14)
    assert g.traced.n_traces == 2
    for cut in (float, int, lambda t: t.item(), round):
        with pytest.raises(nh.TraceError):
            nh.grad(lambda x: cut(x[0]) * x[1])(np.ones(2))


def test_a_numpy_array_indexed_by_a_traced_mask():
    """pairs[r2 < 1.0] (a neighbour list's cutoff): a mask without derivative indexes a
    NumPy array as its value, guarded like an `if` (it had raised TraceError); a traced
    value with a derivative still refuses."""
    i = np.array([0, 1, 2, 3, 0])
    j = np.array([1, 2, 3, 0, 2])
    f = lambda x: np.sum(x[i[x[i] * x[j] > 0]] ** 2)
    g = nh.grad(f)
    for x in ([1.0, 2.0, -1.0, 3.0], [1.0, 2.0, 1.0, 3.0], [1.0, 2.0, -1.0, 3.0]):
        x = np.array(x)
        keep = i[x[i] * x[j] > 0]
        np.testing.assert_allclose(g(x), 2 * np.bincount(keep, x[keep], minlength=4),
                                   rtol=1e-15)
    assert g.traced.n_traces == 2
    with pytest.raises(nh.TraceError, match="converting a traced array"):
        nh.grad(lambda x: np.sum(np.ones((4, 4)).dot(x)))(np.ones(4))


def test_bin_indices_by_astype_int():
    """np.floor(x * 10).astype(int) (no derivative) is NumPy's integer array, guarded:
    a hand-written piecewise-linear interpolation on a grid."""
    grid = np.linspace(0.0, 1.0, 11)

    def f(x):
        i = np.clip(np.floor(x * 10).astype(int), 0, 9)
        t = x * 10 - i
        return np.sum(grid[i] ** 2 * (1 - t) + grid[i + 1] ** 2 * t)
    g = nh.grad(f)
    for x in ([0.13, 0.57, 0.91], [0.14, 0.58, 0.92], [0.25, 0.35, 0.45]):
        x = np.array(x)
        i = np.floor(x * 10).astype(int)
        np.testing.assert_allclose(g(x), 10 * (grid[i + 1] ** 2 - grid[i] ** 2), rtol=1e-12)
    assert g.traced.n_traces == 2
    with pytest.raises(nh.TraceError, match="cut"):
        nh.grad(lambda x: np.sum(x[x.astype(int)]))(np.array([0.5, 1.5]))


def test_interp_replays_and_retraces_across_knots():
    xp, fp = np.array([-1.0, 0.0, 0.5, 2.0]), np.array([3.0, -1.0, 0.0, 4.0])
    f = lambda x: np.sum(np.interp(x, xp, fp, right=7.0) * x)
    vg = nh.value_and_grad(f)
    rng = np.random.default_rng(3)
    for _ in range(20):
        x = rng.uniform(-2.0, 3.0, 4)
        value, grad = vg(x)
        assert value == pytest.approx(f(x), rel=1e-13)
        slope = np.where((x < xp[0]) | (x > xp[-1]), 0.0,
                         np.diff(fp)[np.clip(np.searchsorted(xp, x, "right") - 1, 0, 2)]
                         / np.diff(xp)[np.clip(np.searchsorted(xp, x, "right") - 1, 0, 2)])
        np.testing.assert_allclose(grad, np.interp(x, xp, fp, right=7.0) + slope * x,
                                   rtol=1e-12)


def test_nanmean_counts_follow_the_nans():
    f = lambda x: np.nanmean(np.where(x > 1.0, np.nan, x) ** 2)
    g = nh.grad(f)
    for x in (np.array([0.5, 2.0, -1.0]), np.array([0.5, 0.2, 3.0]), np.array([0.1, 0.2, 0.3])):
        keep = x <= 1.0
        np.testing.assert_allclose(g(x), np.where(keep, 2 * x / keep.sum(), 0.0), rtol=1e-14)


def test_values_are_numpys():
    x = np.random.default_rng(4).normal(size=7)
    for fn in (lambda x: np.convolve(x, x[:3], mode="same"), lambda x: np.median(x),
               lambda x: np.quantile(x, [0.25, 0.75]), lambda x: np.polyval(x, 1.3),
               lambda x: np.trapezoid(x, dx=0.2), lambda x: np.ptp(x),
               lambda x: np.average(x, weights=np.arange(7.0)),
               lambda x: np.interp([0.3, -4.0], np.arange(7.0) - 3, x)):
        assert nh.jacfwd(fn)(x).shape == np.shape(fn(x)) + (7,)
        value, _ = nh.value_and_grad(lambda x: np.sum(fn(x)))(x)
        assert value == pytest.approx(np.sum(fn(x)), rel=1e-14)


@pytest.mark.parametrize("fn, error", [
    (lambda x: np.convolve(x, x[:0]), ValueError),
    (lambda x: np.convolve(x.reshape(2, 2), x), ValueError),
    (lambda x: np.cross(x, x), ValueError),                          # 4-vectors
    (lambda x: np.quantile(x, 0.5, method="nearest"), NotImplementedError),
    (lambda x: np.quantile(x, 1.5), ValueError),
    (lambda x: np.interp(0.5, x, x), NotImplementedError),           # traced knots
    (lambda x: np.linalg.matrix_power(x.reshape(2, 2), 1.5), TypeError),
    (lambda x: np.average(x.reshape(2, 2), weights=[1.0, 2.0]), TypeError),
])
def test_refusals(fn, error):
    with pytest.raises(error):
        nh.grad(lambda x: np.sum(fn(x)))(np.arange(1.0, 5.0))


def test_allclose_is_guarded():
    g = nh.grad(lambda x: np.sum(x ** 2) if np.allclose(x, 1.0) else np.sum(x ** 3))
    np.testing.assert_allclose(g(np.ones(3)), 2.0)
    np.testing.assert_allclose(g(np.full(3, 2.0)), 12.0)
    np.testing.assert_allclose(g(np.ones(3) + 1e-9), 2.0 + 2e-9)
    assert g.traced.n_traces == 2
    v = np.array([1.0, np.nan, np.inf, 2.0])
    t = nh.jacfwd(lambda x: np.where(np.isclose(x, v, equal_nan=True), 0.0, x))(v)
    np.testing.assert_array_equal(t, np.zeros((4, 4)))


def test_searchsorted_is_guarded():
    knots, weights = np.array([0.0, 1.0, 2.0]), np.array([5.0, 6.0, 7.0, 8.0])
    g = nh.grad(lambda x: np.sum(weights[np.searchsorted(knots, x)] * x ** 2))
    for x in (np.array([0.5, 1.5]), np.array([2.5, -1.0]), np.array([0.7, 1.2])):
        np.testing.assert_allclose(g(x), 2 * weights[np.searchsorted(knots, x)] * x)
    assert g.traced.n_traces == 2


def test_edges_of_vectorize_reduceat_and_array():
    """Size-0 vectorize with otypes, reduceat of no indices or of float ones, as NumPy's;
    np.array(object=...) while a trace runs (the stand-in's first parameter was `a`)."""
    x = np.arange(1.0, 6.0)
    f = lambda x: np.sum(np.vectorize(lambda v: v * v, otypes=[float])(x[:0])) + np.sum(
        np.add.reduceat(x, [0.0, 2.0]) ** 2) + np.sum(np.add.reduceat(x, np.array([], int)))
    assert_close(nh.grad(f)(x), central_diff(f, x))
    inner = lambda x: np.sum(np.array(object=[1.0, 2.0]) * np.array(object=x))
    assert_close(nh.grad(inner)(x[:2]), [1.0, 2.0])
