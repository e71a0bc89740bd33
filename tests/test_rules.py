"""Every row of the reference table against central finite differences, to second order.

For each row y(x): the Jacobian (jacfwd and jacrev) against finite differences of y; for
the scalar F(x) = sum(w * y + 0.3 * y**2): the value, the gradient against finite
differences of F, the Hessian against finite differences of the gradient, its symmetry,
and hvp against H @ v. Every check runs at two points with the same transformed
functions, so the second point replays the cached tape (or retraces when a guard flips).
"""
import zlib

import numpy as np
import pytest

import numhess as nh
from cases import CASES
from numhess import kernels, supports
from numhess.traced import TracedFunction


def central_diff(fn, x, h=1e-6):
    """d fn / dx by central differences: shape fn(x).shape + x.shape."""
    x = np.asarray(x, dtype=float)
    cols = []
    for i in range(x.size):
        e = np.zeros(x.size)
        step = h * max(1.0, abs(x.flat[i]))
        e[i] = step
        e = e.reshape(x.shape)
        cols.append((np.asarray(fn(x + e)) - np.asarray(fn(x - e))) / (2 * step))
    return np.moveaxis(np.array(cols), 0, -1).reshape(np.shape(fn(x)) + x.shape)


def assert_close(got, want, rtol=1e-5, what=""):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    scale = max(1.0, np.abs(want).max(initial=0.0))
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * scale, err_msg=what)


@pytest.mark.parametrize("name, fn, shape, domain", CASES, ids=[c[0] for c in CASES])
def test_rule(name, fn, shape, domain):
    rng = np.random.default_rng(zlib.crc32(name.encode()))   # the same points every run
    points = [rng.uniform(*domain, size=shape) for _ in range(2)]
    w = rng.normal(size=np.shape(fn(points[0])))

    def F(x):
        y = fn(x)
        return np.sum(w * y + 0.3 * y * y)

    vg, g, h, hv = nh.value_and_grad(F), nh.grad(F), nh.hessian(F), nh.hvp(F)
    jf, jr = nh.jacfwd(fn), nh.jacrev(fn, chunk_size=5)
    for x in points:
        x_before = x.copy()
        value, grad = vg(x)
        assert_close(value, F(x), rtol=1e-12, what="value")
        assert_close(grad, central_diff(F, x), what="gradient vs finite differences")
        assert_close(g(x), grad, rtol=1e-14, what="grad vs value_and_grad")
        H = h(x)
        assert_close(H, central_diff(g, x), what="Hessian vs finite differences of grad")
        assert_close(H, H.T, rtol=1e-10, what="Hessian symmetry")
        v = rng.normal(size=shape)
        assert_close(hv(x, v), H @ v, rtol=1e-10, what="hvp vs H @ v")
        J = central_diff(fn, x)
        assert_close(jf(x), J, what="jacfwd vs finite differences")
        assert_close(jr(x), J, what="jacrev vs finite differences")
        np.testing.assert_array_equal(x, x_before)   # the caller's array is untouched


def _skipped_poisoned(rep):
    """The Hessian of a traced scalar function, by the serial kernel, with every tangent
    the Hessian's tangent sweep skips (Tape.tused) set to NaN beforehand."""
    tape, n = rep.tape, rep.tape.n_in
    tans = np.zeros((1, tape.total * n))
    for t in np.flatnonzero(~tape.tused):
        y = tape.out[t]
        tans[0, tape.off[y] * n:(tape.off[y] + tape.size[y]) * n] = np.nan
    B = np.empty((1, n, n))
    tape.kernels.hessian_chunks_serial(
        tape.packed, rep.vals, rep.ivals, n, rep.entry.out_off, 1, np.ones((1, 1)),
        np.arange(n), np.zeros((0, 0)), n, np.zeros(1, np.int64), n, False, tans,
        np.zeros((1, tape.total)), np.zeros((1, tape.total * n)), B)
    return B[0]


def _objective(name, fn, shape, domain):
    """The row's scalar objective F (as in test_rule) and one point x of its domain."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    x = rng.uniform(*domain, size=shape)
    w = rng.normal(size=np.shape(fn(x)))

    def F(x):
        y = fn(x)
        return np.sum(w * y + 0.3 * y * y)
    return F, x


@pytest.mark.parametrize("name, fn, shape, domain", CASES, ids=[c[0] for c in CASES])
def test_hessian_reads_no_skipped_tangent(name, fn, shape, domain):
    """No second-order rule reads a tangent the Hessian's tangent sweep skips."""
    F, x = _objective(name, fn, shape, domain)
    rep = TracedFunction(F, 0).evaluate((x,))
    assert_close(_skipped_poisoned(rep), nh.hessian(F)(x), rtol=1e-10, what="Hessian")


def test_tangents_read_by_a_hessian():
    """Chained Rosenbrock: the Hessian's tangent sweep needs x[:-1]**2, x[1:] - x[:-1]**2
    and 1 - x[:-1] (operands of squares), not the squares, their sum or the products."""
    f = lambda x: np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    x = np.linspace(-1.0, 1.0, 6)
    rep = TracedFunction(f, 0).evaluate((x,))
    assert rep.tape.tused.tolist() == [True, True, False, False, True, False, False, False]
    assert_close(_skipped_poisoned(rep), nh.hessian(f)(x), rtol=1e-12, what="Hessian")


@pytest.mark.parametrize("name, fn, shape, domain", CASES, ids=[c[0] for c in CASES])
def test_support_sweeps(name, fn, shape, domain):
    """The Hessian one direction at a time over its tangents' support (supports.py, used
    for large tapes whose directions stay sparse) equals the chunked sweeps' Hessian, for
    every row without linear algebra (which never takes that path)."""
    F, x = _objective(name, fn, shape, domain)
    rep = TracedFunction(F, 0).evaluate((x,))
    if rep.tape.kernels is kernels.FULL:
        pytest.skip("linear algebra: chunked sweeps only")
    S, want = supports.maps(rep.tape), nh.hessian(F)(x)
    for k in (1, 3):     # one direction a chunk, and three
        H = supports.hessian(rep, supports.Plan(S, k, 1.0))
        assert_close(H, want, rtol=1e-10, what=f"Hessian by supports, k = {k}")


def test_second_cotangents_known_zero():
    """Chained Rosenbrock: the second-order cotangents of the sum, the sum of terms, the
    scaled square and the two squares are zero (Tape.gzero: the reverse sweep skips
    them); those of the squares' operands are not."""
    f = lambda x: np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    x = np.linspace(-1.0, 1.0, 6)
    rep = TracedFunction(f, 0).evaluate((x,))
    assert rep.tape.gzero.tolist() == [False, False, True, True, False, True, True, True]
    assert_close(nh.hessian(f)(x), central_diff(nh.grad(f), x), what="Hessian")
    v = np.arange(6.0)
    assert_close(nh.hvp(f)(x, v), nh.hessian(f)(x) @ v, rtol=1e-12, what="hvp")


@pytest.mark.parametrize("b, faa, fab", [(1.0, 0.0, 1.0), (2.0, 2.0, 0.0), (2.5, 0.0, 0.0),
                                         (3.0, 0.0, 0.0)])
def test_traced_powers_of_a_zero_base(b, faa, fab):
    """a ** b at a = 0: the factors log a of the derivatives in b meet a ** b = 0 and
    count as 0 (NaN from 0 * -inf otherwise), as the exponent 1 makes the second
    derivative in a 0 (0 * inf otherwise). Where b > 1 these are the limits, as JAX's;
    at b = 1 the mixed derivative diverges (log a) and the rule's is its finite part."""
    f = lambda z: z[0] ** z[1] + 0.5 * z[1] ** 2
    z = np.array([0.0, b])
    assert_close(nh.grad(f)(z), [1.0 if b == 1.0 else 0.0, b], rtol=0.0, what="gradient")
    assert_close(nh.hessian(f)(z), [[faa, fab], [fab, 1.0]], rtol=0.0, what="Hessian")
    assert_close(nh.grad(f)(np.zeros(2)), [0.0, 0.0], rtol=0.0, what="gradient at 0 ** 0")


def test_ties_as_documented():
    """At a tie the binary maximum of two traced operands splits the derivative evenly;
    with a scalar, maximum and kin, and abs at 0, take the branch x >= c; the reductions
    give it to the first extreme (README, How calls are cached)."""
    x = np.array([1.0, 3.0, 3.0, 1.0])
    pairs = lambda x: np.sum(np.maximum(x[:2], x[2:]))
    assert_close(nh.grad(pairs)(np.array([1.0, 3.0, 1.0, 2.0])), [0.5, 1, 0.5, 0], rtol=0.0)
    z = np.array([0.0, -0.0, 1.0, -1.0, np.nan])
    for f, want in [(np.abs, [1, 1, 1, -1, np.nan]),
                    (lambda z: np.maximum(z, 0.0), [1, 1, 1, 0, 1]),
                    (lambda z: np.maximum(0.0, z), [1, 1, 1, 0, 1]),
                    (lambda z: np.minimum(z, 0.0), [0, 0, 0, 1, 1]),
                    (lambda z: np.fmax(0.0, z), [1, 1, 1, 0, 0]),
                    (lambda z: np.fmin(z, 0.0), [0, 0, 0, 1, 0]),
                    (lambda z: np.clip(z, -1.0, 1.0), [1, 1, 0, 1, 1]),
                    (lambda z: np.maximum(z, np.nan), [0, 0, 0, 0, 1]),
                    (lambda z: np.fmax(z, np.nan), [1, 1, 1, 1, 0])]:
        np.testing.assert_array_equal(nh.jacfwd(f)(z).diagonal(), want)
        np.testing.assert_array_equal(nh.jacrev(f)(z).diagonal(), want)
    assert_close(nh.grad(np.max)(x), [0, 1, 0, 0], rtol=0.0)
    assert_close(nh.grad(np.ptp)(x), [-1, 1, 0, 0], rtol=0.0)


def test_smooth_functions_written_with_abs_and_maximum_at_their_kinks():
    """Stable softplus and log-sigmoid forms are smooth at 0, where their abs and maximum
    meet a tie: a logistic loss from w = 0 (every margin 0) had Hessian 0, and so had
    scipy.stats' logistic and cauchy logpdf at x == loc."""
    import scipy.stats
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(30, 3)), np.sign(rng.normal(size=30))
    softplus = [lambda z: np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z))),
                lambda z: np.maximum(0, z) + np.log(1.0 + np.exp(-abs(z))),
                lambda z: -(np.minimum(-z, 0.0) - np.log1p(np.exp(-np.abs(-z))))]
    for sp in softplus:
        loss = lambda w: np.sum(sp(-y * (X @ w)))
        assert_close(nh.grad(loss)(np.zeros(3)), -0.5 * X.T @ y, rtol=1e-14)
        assert_close(nh.hessian(loss)(np.zeros(3)), 0.25 * X.T @ X, rtol=1e-14)
    x = np.array([0.3, 0.3 + 1e-3])
    for dist, d2 in [(scipy.stats.logistic, -0.5), (scipy.stats.cauchy, -2.0)]:
        H = nh.hessian(lambda x: np.sum(dist.logpdf(x, loc=0.3, scale=1.5)))(x)
        assert_close(H[0, 0], d2 / 1.5 ** 2, rtol=1e-14)
        assert_close(H[1, 1], d2 / 1.5 ** 2, rtol=1e-5)


@pytest.mark.parametrize("n", [1, 2, 3, 8, 17, 100])
def test_sort_replays_numpys_stable_order(n):
    """The replayed sort (the kernels' own merge sort) gives np.sort's values and the
    Jacobian of NumPy's stable order: ties in index order, -0.0 and 0.0 as ties, NaNs last,
    infinities in place; each row of a 2-D sort on its own."""
    rng = np.random.default_rng(n)
    pool = np.array([np.nan, -np.inf, np.inf, -0.0, 0.0, 1.0, 1.0, -2.5])
    for x in (rng.choice(pool, n), rng.integers(0, 3, n).astype(float), rng.normal(size=n)):
        v = rng.normal(size=n)
        value, tangent = nh.functional.jvp(np.sort, (x,), (v,))
        np.testing.assert_array_equal(value, np.sort(x))
        np.testing.assert_array_equal(tangent, v[np.argsort(x, kind="stable")])
        rows = x[:n - n % 2].reshape(2, -1) if n > 1 else x.reshape(1, 1)
        J = nh.jacfwd(lambda z: np.sort(z, axis=1))(rows)
        order = np.argsort(rows, axis=1, kind="stable")
        expected = np.zeros(rows.shape + rows.shape)
        for r, c in np.ndindex(rows.shape):
            expected[r, c, r, order[r, c]] = 1.0
        np.testing.assert_array_equal(J, expected)


@pytest.mark.parametrize("mode, kw", [
    ("maximum", {"stat_length": (1, 3)}), ("minimum", {}), ("mean", {"stat_length": 2}),
    ("median", {}), ("linear_ramp", {"end_values": (1.0, -3.0)}),
    ("reflect", {"reflect_type": "odd"}), ("symmetric", {"reflect_type": "odd"}),
    ("wrap", {}), ("constant", {"constant_values": (1.5, -2.0)})])
def test_pad_gives_numpys_values(mode, kw):
    """Every NumPy pad mode's values, exactly: corners of 2-D and 3-D arrays (each axis
    padded from the one before), pads wider than the array, one-element axes."""
    rng = np.random.default_rng(len(mode))
    for shape, width in [((3,), 7), ((1, 4), ((2, 1), (3, 0))), ((3, 4), 2), ((2, 3, 2), 1)]:
        x = rng.normal(size=shape)
        got = nh.functional.jvp(lambda z: np.pad(z, width, mode=mode, **kw), (x,),
                                (np.ones(shape),))[0]
        np.testing.assert_array_equal(got, np.pad(x, width, mode=mode, **kw))


def test_pad_empty_fills_zeros_and_a_padding_function_is_refused():
    x = np.array([1.0, 2.0])
    assert_close(nh.jacfwd(lambda z: np.pad(z, 1, mode="empty"))(x),
                 [[0, 0], [1, 0], [0, 1], [0, 0]], rtol=0.0)
    with pytest.raises(NotImplementedError, match="padding function"):
        nh.grad(lambda z: np.sum(np.pad(z, 1, mode=lambda *a: None)))(x)


def test_special_functions_where_the_plain_formulas_cancel():
    """betaln with one argument large (its gammaln terms cancel: 5% off at 1e15 as their
    plain sum): for an integer a, betaln(a, b) = log((a - 1)!) - sum_k log(b + k), its
    derivatives in b exact sums. logit near 1/2, rel_entr(a, b) with a near b and
    pseudo_huber at r << delta: SciPy's values (its formulas avoid the cancellation)."""
    import scipy.special as sc
    f = lambda z: sc.betaln(z[0], z[1])
    k = np.arange(3.0)
    for b in [50.0, 150.0, 1e6, 1e15]:
        z = np.array([3.0, b])
        value, g = nh.value_and_grad(f)(z)
        np.testing.assert_allclose(value, np.log(2.0) - np.sum(np.log(b + k)), rtol=1e-14)
        np.testing.assert_allclose(g[1], -np.sum(1.0 / (b + k)), rtol=1e-13)
        np.testing.assert_allclose(nh.hessian(f)(z)[1, 1], np.sum(1.0 / (b + k) ** 2),
                                   rtol=1e-12)
    H = nh.hessian(f)(np.array([1e4, 1e4]))      # a tie: no derivative split between
    np.testing.assert_allclose(H, nh.hessian(f)(np.array([1e4, 1e4 * (1 + 1e-15)])),
                               rtol=1e-9)
    for fn, args in [(sc.logit, (np.array([0.5000000179609752, 0.3, 0.65, 0.1]),)),
                     (sc.rel_entr, (np.array([0.424297764966018]),
                                    np.array([0.4242977626229143]))),
                     (sc.pseudo_huber, (np.array([1.0, 366561.7]), np.array([1e-9, 1.93e-6])))]:
        got = nh.functional.jvp(fn, args, tuple(np.ones_like(a) for a in args))[0]
        np.testing.assert_allclose(got, fn(*args), rtol=4e-16, atol=0.0)


@pytest.mark.parametrize("scale", [1e-160, 1.0, 1e160])
def test_hypot_at_extreme_magnitudes(scale):
    """Its second derivatives, b^2 / r^3 and kin, in terms of (a, b) / r: the squares of
    a and b over- or underflowed (NaN, inf)."""
    r = 5.0 * scale
    H = nh.hessian(lambda z: np.hypot(z[0], z[1]))(np.array([3.0, 4.0]) * scale)
    assert_close(H * r, np.array([[16.0, -12.0], [-12.0, 9.0]]) / 25.0, rtol=1e-14)


@pytest.mark.parametrize("scale", [1e-150, 1.0, 1e150])
def test_arctan2_at_extreme_magnitudes(scale):
    """-2ab / r^4 and kin, in terms of the unit vector (a, b) / r, as hypot's."""
    r, u, v = 5.0 * scale, 0.6, 0.8
    H = nh.hessian(lambda z: np.arctan2(z[0], z[1]))(np.array([3.0, 4.0]) * scale)
    want = np.array([[-2 * u * v, u * u - v * v], [u * u - v * v, 2 * u * v]])
    assert_close(H * r * r, want, rtol=1e-14)


def test_log_ndtr_through_its_three_branches():
    """log Phi: log1p(-Phi(-x)) above 0, log Phi down to -26, Mills' ratio series below;
    the derivatives phi / Phi and -d1 (x + d1) across the seams and far out, none NaN."""
    import scipy.special as sc
    x = np.array([-1e3, -60.0, -26.0001, -26.0, -25.9999, -1.0, 0.0, 1e-300, 9.0, 40.0])
    y = sc.log_ndtr(x)
    d1 = np.exp(-0.5 * x * x - y) / np.sqrt(2.0 * np.pi)
    g = nh.grad(lambda x: np.sum(sc.log_ndtr(x)))(x)
    np.testing.assert_allclose(g, d1, rtol=1e-9, atol=0.0)
    h = np.diag(nh.hessian(lambda x: np.sum(sc.log_ndtr(x)))(x))
    np.testing.assert_allclose(h[1:], (-d1 * (x + d1))[1:], rtol=1e-6, atol=0.0)
    assert np.isfinite(h).all()


def _mp_special():
    """scipy.special functions and their definitions in mpmath (an independent reference:
    numhess's derivatives are formulas in SciPy's own functions)."""
    import mpmath as mp
    import scipy.special as sc
    t = lambda nu, x: 0.5 + x * mp.gamma((nu + 1) / 2) * mp.hyp2f1(
        0.5, (nu + 1) / 2, 1.5, -x * x / nu) / (mp.sqrt(mp.pi * nu) * mp.gamma(nu / 2))
    return [
        (sc.erfinv, mp.erfinv, [-0.9, 0.2, 0.7]),
        (sc.erfcinv, lambda x: mp.erfinv(1 - x), [0.05, 0.6, 1.5]),
        (sc.ndtri, lambda p: mp.sqrt(2) * mp.erfinv(2 * p - 1), [1e-6, 0.3, 0.9]),
        (sc.erfcx, lambda x: mp.exp(x * x) * mp.erfc(x), [-1.5, 0.3, 8.0, 10.5, 300.0, 1e5]),
        (sc.dawsn, lambda x: mp.sqrt(mp.pi) / 2 * mp.exp(-x * x) * mp.erfi(x),
         [-2.0, 0.4, 5.0, -12.0, 1e3, 1e5]),
        (sc.i0e, lambda x: mp.exp(-abs(x)) * mp.besseli(0, x), [-3.0, 0.5, 40.0, 1e3, 1e5]),
        (sc.i1, lambda x: mp.besseli(1, x), [-2.0, 0.5, 10.0]),
        (sc.k1e, lambda x: mp.exp(x) * mp.besselk(1, x), [0.2, 3.0, 50.0, 60.0, 1e4]),
        (sc.y0, lambda x: mp.bessely(0, x), [0.3, 2.0, 20.0]),
        (lambda x: sc.ive(2.5, x), lambda x: mp.exp(-abs(x)) * mp.besseli(2.5, x),
         [0.3, 4.0, 30.0, 100.0, 1e5]),
        (lambda x: sc.kv(0.7, x), lambda x: mp.besselk(0.7, x), [0.2, 1.0, 6.0]),
        (lambda x: sc.jv(3.0, x), lambda x: mp.besselj(3, x), [0.5, 4.0, 25.0]),
        (lambda x: sc.gammainc(3.5, x), lambda x: mp.gammainc(3.5, 0, x, regularized=True),
         [0.1, 2.0, 9.0]),
        (lambda x: sc.gammaincc(0.4, x), lambda x: mp.gammainc(0.4, x, mp.inf,
                                                                regularized=True),
         [0.05, 1.0, 5.0]),
        (lambda x: sc.betainc(2.5, 0.6, x), lambda x: mp.betainc(2.5, 0.6, 0, x,
                                                                 regularized=True),
         [0.05, 0.5, 0.95]),
        (lambda x: sc.stdtr(3.5, x), lambda x: t(mp.mpf(3.5), x), [-4.0, 0.3, 2.0]),
    ]


@pytest.mark.parametrize("i", range(16))
def test_special_functions_by_scipys_values_against_mpmath(i):
    """Functions without a rule of their own: SciPy's values bit for bit, the first and
    second derivatives within 1e-11 of mpmath's (from its own definitions)."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 40
    fn, ref, points = _mp_special()[i]
    x = np.array(points)
    f = lambda z: np.sum(fn(z))
    value, g = nh.value_and_grad(f)(x)
    assert value == f(x)
    H = nh.hessian(f)(x)
    np.testing.assert_array_equal(H, np.diag(np.diag(H)))
    want = [[float(mp.diff(ref, mp.mpf(p), k)) for p in points] for k in (1, 2)]
    np.testing.assert_allclose(g, want[0], rtol=1e-11)
    np.testing.assert_allclose(np.diag(H), want[1], rtol=1e-11)
    np.testing.assert_allclose(nh.jacfwd(fn)(x), np.diag(want[0]), rtol=1e-11)


def test_special_functions_at_the_ends_of_their_domains():
    """An infinite derivative is the largest float in every transform (the value SciPy's,
    not inf * 0 = NaN); at x = 0 (gammainc) and 1 (betainc) the finite ones are exact, and
    no NaN reaches a derivative through a branch not taken (np.maximum(x, 0))."""
    import scipy.special as sc
    big = np.finfo(float).max
    x = np.array([1e-320, 0.3])
    f = lambda z: np.sum(sc.ndtri(z))
    value, g = nh.value_and_grad(f)(x)
    assert value == f(x) and g[0] == big and np.isfinite(g[1])
    np.testing.assert_array_equal(nh.jacfwd(sc.ndtri)(x), nh.jacrev(sc.ndtri)(x))
    t = np.array([0.0, 1.0, 2.0])
    cdf = lambda p: np.sum(sc.gammainc(2.5, p[0] * t) + sc.gammainc(1.0, p[1] * t)
                           + sc.betainc(2.0, 3.0, np.minimum(p[2] * t, 1.0))
                           + sc.gammaincc(3.0, np.maximum(p[3] * t - 1.0, 0.0)))
    p = np.array([1.3, 0.7, 0.6, 0.8])
    assert_close(nh.grad(cdf)(p), central_diff(cdf, p))
    assert_close(nh.hessian(cdf)(p), central_diff(nh.grad(cdf), p))
    assert nh.grad(lambda z: np.sum(sc.gammainc(1.0, z)))(np.zeros(1))[0] == 1.0
    assert_close(nh.grad(lambda z: np.sum(sc.stdtr(np.inf, z)))(x), np.exp(-x * x / 2)
                 / np.sqrt(2 * np.pi), rtol=1e-15)


def test_special_functions_refuse_derivatives_in_other_arguments():
    import scipy.special as sc
    with pytest.raises(NotImplementedError, match="iv with respect to any argument"):
        nh.grad(lambda z: np.sum(sc.iv(z, 2.0)))(np.array([0.5, 1.5]))
