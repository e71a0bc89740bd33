"""scipy.stats' distributions in traced functions (numhess.scipy_stats): likelihoods of
fitted parameters, values SciPy's own, derivatives against finite differences of
SciPy's own function."""
import numpy as np
import pytest
import scipy.stats as st
from scipy.stats import multivariate_normal, norm, poisson

import numhess as nh
from test_rules import assert_close, central_diff

RNG = np.random.default_rng(11)
Y = 1.0 + 2.0 * RNG.standard_normal(24)
POSITIVE = np.abs(Y) + 0.1
COUNTS = RNG.poisson(3.0, 24).astype(float)
UNIT = np.linspace(0.05, 0.95, 24)

CASES = [
    ("norm.logpdf", lambda p: np.sum(norm.logpdf(Y, loc=p[0], scale=np.exp(p[1])))),
    ("norm.pdf of x", lambda p: np.sum(norm.pdf(p * 3.0, 0.5, 2.0))),
    ("norm.cdf logcdf sf logsf", lambda p: np.sum(
        norm.cdf(Y, p[0], np.exp(p[1])) + norm.logcdf(Y, p[0], 2.0)
        + norm.sf(Y, 0.3, np.exp(p[1])) + norm.logsf(Y, p[0], np.exp(p[2])))),
    ("t.logpdf", lambda p: np.sum(st.t.logpdf(Y, np.exp(p[2]) + 1.0, p[0], np.exp(p[1])))),
    ("cauchy laplace logistic", lambda p: np.sum(
        st.cauchy.logpdf(Y, p[0], np.exp(p[1])) + st.laplace.logpdf(Y, p[1], np.exp(p[2]))
        + st.logistic.logpdf(Y, p[2], np.exp(p[0])))),
    ("gamma.logpdf", lambda p: np.sum(st.gamma.logpdf(POSITIVE, np.exp(p[0]),
                                                      scale=np.exp(p[1])))),
    ("lognorm weibull_min expon", lambda p: np.sum(
        st.lognorm.logpdf(POSITIVE, np.exp(p[0]), scale=np.exp(p[1]))
        + st.weibull_min.logpdf(POSITIVE, np.exp(p[1]), scale=np.exp(p[2]))
        + st.expon.logpdf(POSITIVE, scale=np.exp(p[0])))),
    ("beta.logpdf", lambda p: np.sum(st.beta.logpdf(UNIT, np.exp(p[0]), np.exp(p[1])))),
    ("poisson.logpmf", lambda p: np.sum(poisson.logpmf(COUNTS, np.exp(p[0] + 0.1 * p[1])))),
    ("binom nbinom", lambda p: np.sum(
        st.binom.logpmf(COUNTS, 12, 1.0 / (1.0 + np.exp(-p[0])))
        + st.nbinom.pmf(COUNTS, np.exp(p[1]), 1.0 / (1.0 + np.exp(-p[2]))))),
    ("multivariate_normal", lambda p: np.sum(multivariate_normal.logpdf(
        Y.reshape(12, 2), p[:2], np.array([[np.exp(p[2]), 0.3], [0.3, 1.0]])))),
    ("multivariate_normal diagonal", lambda p: np.sum(
        multivariate_normal.logpdf(Y.reshape(8, 3), p, np.exp(p)))),
    ("multivariate_normal of x", lambda p: multivariate_normal.pdf(p, np.ones(3),
                                                                   2.0 * np.eye(3))),
    ("a frozen distribution", lambda p: np.sum(st.norm(1.0, 2.0).logpdf(p * Y[:3]))),
]


@pytest.mark.parametrize("name, fn", CASES, ids=[c[0] for c in CASES])
def test_scipy_stats(name, fn):
    g, h = nh.grad(fn), nh.hessian(fn)
    for p in (np.array([0.3, 0.2, 0.5]), np.array([-0.4, 0.6, 0.1])):
        assert_close(nh.value_and_grad(fn)(p)[0], fn(p), rtol=1e-12, what="SciPy's value")
        assert_close(g(p), central_diff(fn, p), what="gradient vs finite differences")
        assert_close(h(p), central_diff(g, p), what="Hessian vs finite differences")


def test_outside_the_support_and_invalid_parameters_as_scipy():
    """-inf (or the cdf's 0 and 1) outside the support, NaN for a negative scale or a
    count that is not whole, at the trace point and at a replay."""
    x = np.array([-1.0, 0.5, 2.0])
    for f in (lambda s: st.uniform.logpdf(x, 0.0, np.exp(s[0])),
              lambda s: st.gamma.cdf(x, 2.0, scale=np.exp(s[0])) + st.gamma.sf(x, 3.0),
              lambda s: norm.logpdf(x, 0.0, s[0] - 0.5),
              lambda s: poisson.logpmf(np.array([-1.0, 2.0, 2.5]), np.exp(s[0]))):
        for s in (np.array([0.4]), np.array([0.7])):
            value, _ = nh.jvp(f, (s,), (np.ones(1),))
            np.testing.assert_array_equal(value, f(s))


def test_probe_cases():
    """A shape per observation (SciPy's default _argcheck converted it), lists of data,
    a distribution whose support is open (invgamma at 0: -inf, not NaN), zero gradients
    where the value is a constant outside the support (the formula is taken at a point
    inside), and a t with a large df (poch by betaln's Stirling difference)."""
    y = np.array([0.2, 0.5, 0.7])
    f = lambda th: np.sum(st.beta.logpdf(y, th[:3], th[3]))
    th = np.array([2.0, 3.0, 1.5, 2.5])
    assert_close(nh.grad(f)(th), central_diff(f, th))
    assert nh.grad(lambda m: np.sum(poisson.logpmf([1, 2, 4], m)))(2.0) == pytest.approx(
        7.0 / 2.0 - 3.0)
    value, g = nh.value_and_grad(lambda s: st.invgamma.logpdf(0.0, 2.0, scale=s))(1.5)
    assert value == -np.inf and g == 0.0
    for f in (lambda a: st.gamma.pdf(-1.0, a), lambda c: st.weibull_min.cdf(-1.0, c)):
        assert nh.grad(f)(2.0) == 0.0
    f = lambda lg: np.sum(st.t.logpdf(Y[:3], np.exp(lg)))
    assert nh.value_and_grad(f)(20.0)[0] == pytest.approx(f(20.0), rel=1e-14)
    with pytest.raises(NotImplementedError, match="Covariance object"):
        nh.grad(lambda m: multivariate_normal.logpdf(
            Y[:2], m, st.Covariance.from_diagonal(np.ones(2))))(np.zeros(2))


def test_each_branch_of_an_array_is_evaluated_where_it_is_valid():
    """apply_where over an array evaluates each branch elsewhere at an element it took
    in the trace: a Cauchy fit whose loc starts at the data's median (a data point)
    had a NaN gradient and Hessian there, from the log|x| branch. Values, gradients
    and Hessians match SciPy's and the closed form, whichever branches the elements
    take (the Hessian away from x == loc, where the formula's abs(x), of derivative 0
    there, leaves out the element's second derivative)."""
    d = np.array([0.5, 1.0, 2.0, 7.0, -3.0])
    f = lambda t: np.sum(st.cauchy.logpdf(d, loc=t[0], scale=t[1]))

    def closed(t):
        z, s = (d - t[0]) / t[1], t[1]
        q = 1 + z * z
        g = np.array([np.sum(2 * z / q) / s, np.sum(2 * z * z / q - 1) / s])
        h = np.array([[np.sum(2 * (z * z - 1) / q ** 2), np.sum(-4 * z / q ** 2)],
                      [np.sum(-4 * z / q ** 2), np.sum(1 - 2 * z * z * (z * z + 3) / q ** 2)]])
        return g, h / s ** 2
    vg, H = nh.value_and_grad(f), nh.hessian(f)
    for t in ([1.0, 2.0], [np.median(d), 0.5], [0.1, 100.0], [3.0, 0.01], [1.5, 0.7]):
        t = np.array(t)
        value, grad = vg(t)
        g, h = closed(t)
        assert value == pytest.approx(f(t), rel=1e-14)
        np.testing.assert_allclose(grad, g, rtol=1e-12, atol=1e-12)
        if not np.any(d == t[0]):
            np.testing.assert_allclose(H(t), h, rtol=1e-10, atol=1e-10)
        assert np.isfinite(H(t)).all()


def test_a_scalar_takes_the_branch_its_condition_takes():
    """apply_where of one element traces the branch taken alone, guarded like an `if`:
    with both, cauchy.logpdf's log|x| branch made its gradient NaN at x == loc (a prior
    centred on a parameter started there). Across the branches, values and gradients
    are SciPy's and central differences'."""
    f = lambda x: st.cauchy.logpdf(x[0], loc=0.0, scale=2.0) + st.cauchy.pdf(x[1])
    g = nh.value_and_grad(f)
    value, grad = g(np.zeros(2))
    assert value == pytest.approx(f(np.zeros(2)), rel=1e-15) and not grad.any()
    for x in ([2.5, -1.5], [0.3, 0.2], [-4.0, 3.0]):     # both branches, each side
        x = np.array(x)
        value, grad = g(x)
        assert value == pytest.approx(f(x), rel=1e-14)
        assert_close(grad, central_diff(f, x), what="gradient vs finite differences")
