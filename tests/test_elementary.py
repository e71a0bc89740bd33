"""The kernels' own exp, log, log1p, expm1, tanh, sin, cos, tan, arctan, arctan2, arcsin,
arccos, sinh, cosh, the inverse hyperbolic functions, logaddexp and expit (vectorizable
arithmetic instead of libm calls) against NumPy's: within a few ulps on every range, and
NumPy's exact value at zeros, infinities, NaN, subnormals and the edges of overflow."""
import numpy as np
import pytest
import scipy.special as sc

from numhess import kernels as K

rng = np.random.default_rng(12)
SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, 2.0, np.pi, 5e-324,
                    -5e-324, 1e-310, 2.2250738585072014e-308, 1e-20, -1e-20, 22.0, 22.5,
                    -22.5, 709.782712893384, 709.79, -708.4, -745.1332191019411, -745.14,
                    800.0, -800.0, 65536.0, 65537.0, 1e300, -1e300, 1.7976931348623157e308])


def _ulps(got, want):
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    with np.errstate(invalid="ignore", over="ignore"):
        step = np.spacing(np.abs(want))
        return np.where(same, 0.0, np.abs(got - want) / np.where(step > 0, step, 5e-324))


def _unary(opcode, x):
    y = np.empty_like(x)
    K.unary_values(opcode, x, y, 0.0)
    return y


def log_ndtr(x):
    """SciPy's log_ndtr, but log1p(-ndtr(-x)) above 0 (SciPy's log of an ndtr near 1 keeps
    only its absolute precision there), and above 6 mpmath's log1p(-erfc(z) / 2) of the
    double z = x / sqrt 2 (SciPy's erfc(z) there is exp(-z^2) of a rounded z^2: z^2 ulps
    off; z's own rounding is 2 z^2 ulps of the result, in both: 36 at 6, and the two
    differ by up to 21 there)."""
    import mpmath as mp
    with np.errstate(all="ignore"):
        y = np.where(x > 0, np.log1p(-sc.ndtr(-x)), sc.log_ndtr(x))
    far = (x > 6) & (x < 40)        # (past 40, -0.0: Phi(-x) underflows)
    with mp.workdps(30):
        y[far] = [float(mp.log1p(-mp.erfc(mp.mpf(z)) / 2)) for z in x[far] * np.sqrt(0.5)]
    return y


UNARY = [  # opcode, NumPy's function, ranges, ulps allowed
    (K.EXP, np.exp, [(-1, 1), (-30, 30), (-745.2, 709.8)], 1),
    (K.LOG, np.log, [(0.5, 2), (1e-300, 1e300), (1e-323, 1e-307)], 1),
    (K.LOG1P, np.log1p, [(-1e-8, 1e-8), (-0.999, 3), (3, 1e15)], 1),
    (K.EXPM1, np.expm1, [(-1e-8, 1e-8), (-1, 1), (-50, 709)], 2),
    (K.TANH, np.tanh, [(-1e-8, 1e-8), (-1, 1), (-30, 30)], 3),
    (K.SIN, np.sin, [(-1e-8, 1e-8), (-1, 1), (-100, 100), (-7e4, 7e4), (1e4, 1e12)], 2),
    (K.COS, np.cos, [(-1e-8, 1e-8), (-1, 1), (-100, 100), (-7e4, 7e4), (1e4, 1e12)], 2),
    (K.ARCTAN, np.arctan, [(-1e-8, 1e-8), (-1, 1), (-30, 30), (1e3, 1e300)], 2),
    (K.TAN, np.tan, [(-1e-8, 1e-8), (-1, 1), (-100, 100), (-7e4, 7e4), (1e4, 1e12)], 4),
    (K.ARCSIN, np.arcsin, [(-1e-8, 1e-8), (-1, 1), (0.999, 1)], 3),
    (K.ARCCOS, np.arccos, [(-1e-8, 1e-8), (-1, 1), (0.999, 1), (-1, -0.999)], 3),
    (K.ARCSINH, np.arcsinh, [(-1e-8, 1e-8), (-30, 30), (1e3, 1e300)], 2),
    (K.ARCCOSH, np.arccosh, [(1, 1 + 1e-8), (1, 30), (1e3, 1e300)], 2),
    (K.ARCTANH, np.arctanh, [(-1e-8, 1e-8), (-1, 1), (0.999, 1)], 2),
    (K.SINH, np.sinh, [(-1e-8, 1e-8), (-1, 1), (-30, 30), (-710.4, 710.4)], 2),
    (K.COSH, np.cosh, [(-1e-8, 1e-8), (-1, 1), (-30, 30), (-710.4, 710.4)], 2),
    (K.EXPIT, sc.expit, [(-5, 5), (-700, 700)], 4),
    (K.LOG_EXPIT, sc.log_expit, [(-5, 5), (-700, 700)], 4),
    (K.LOG_NDTR, log_ndtr, [(-5, 5), (-21, -19), (-40, 6), (-1e5, 6), (-1e300, -1e5)], 24),
]


@pytest.mark.parametrize("opcode, numpy_fn, ranges, ulps", UNARY,
                         ids=[u[1].__name__ for u in UNARY])
def test_unary_within_ulps_of_numpy(opcode, numpy_fn, ranges, ulps):
    rng = np.random.default_rng(opcode)      # the same points every run
    for lo, hi in ranges:
        if lo > 0 and hi / lo > 1e3:    # positive ranges over decades
            x = np.exp(rng.uniform(np.log(lo), np.log(hi), 200_000))
        else:
            x = rng.uniform(lo, hi, 200_000)
        with np.errstate(over="ignore"):
            want = numpy_fn(x)
        assert _ulps(_unary(opcode, x), want).max() <= ulps, (lo, hi)
    with np.errstate(all="ignore"):
        want = numpy_fn(SPECIAL)
    got = _unary(opcode, SPECIAL)
    close = _ulps(got, want) <= ulps
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert np.all(close | np.isnan(want)), SPECIAL[~close]
    zeros = want == 0.0
    np.testing.assert_array_equal(np.signbit(got[zeros]), np.signbit(want[zeros]))


def test_logaddexp_within_ulps_of_numpy():
    a = np.concatenate([rng.uniform(-50, 50, 100_000), SPECIAL, SPECIAL, SPECIAL[::-1]])
    b = np.concatenate([rng.uniform(-50, 50, 100_000), SPECIAL, -SPECIAL, SPECIAL])
    y = np.empty_like(a)
    K.binary_values(K.LOGADDEXP, a, b, y)
    with np.errstate(all="ignore"):
        want = np.logaddexp(a, b)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(want))
    # max(a, b) + log1p(exp(-|a - b|)), NumPy's formula too, cancels where the result is
    # near zero: a few ulps of the larger operand, not of the result
    finite = np.isfinite(want)
    scale = np.maximum(np.abs(want), np.abs(np.maximum(a, b)))[finite]
    with np.errstate(invalid="ignore", over="ignore"):
        assert np.all(np.abs(y[finite] - want[finite]) <= 2 * np.spacing(scale))
    np.testing.assert_array_equal(y[~finite], want[~finite])


def test_arctan2_within_ulps_of_numpy():
    """atan(a / b) and pi by quadrant; C's exact values where b is zero or either is
    infinite (signed zeros and infinities on both sides): those match NumPy's exactly."""
    a = np.concatenate([rng.uniform(-10, 10, 100_000), 1e-300 * rng.standard_normal(1000),
                        1e300 * rng.standard_normal(1000), np.repeat(SPECIAL, SPECIAL.size)])
    b = np.concatenate([rng.uniform(-10, 10, 100_000), rng.standard_normal(1000),
                        1e-300 * rng.standard_normal(1000), np.tile(SPECIAL, SPECIAL.size)])
    y = np.empty_like(a)
    K.binary_values(K.ARCTAN2, a, b, y)
    want = np.arctan2(a, b)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(want))
    # 3 at about one point in 4 million (the rounding of a / b, then atan's): the
    # points drawn here depend on which of this module's tests ran before
    assert np.nanmax(_ulps(y, want)) <= 3
    np.testing.assert_array_equal(np.signbit(y), np.signbit(want))
    edges = (b == 0.0) | np.isinf(a) | np.isinf(b)
    np.testing.assert_array_equal(y[edges], want[edges])


TRIG_X = np.concatenate([rng.uniform(-10, 10, 1000), rng.uniform(1e5, 1e9, 1000), SPECIAL])
HYPERBOLIC_X = np.concatenate([rng.uniform(-30, 30, 10_000), SPECIAL])
DERIVATIVES = [  # opcode, points, its first derivative, the second as a multiple of y
    (K.SIN, TRIG_X, np.cos, -1.0), (K.COS, TRIG_X, lambda x: -np.sin(x), -1.0),
    (K.SINH, HYPERBOLIC_X, np.cosh, 1.0), (K.COSH, HYPERBOLIC_X, np.sinh, 1.0)]


@pytest.mark.parametrize("opcode, x, first, second", DERIVATIVES,
                         ids=["sin", "cos", "sinh", "cosh"])
def test_first_derivatives_as_the_values(opcode, x, first, second):
    """The rule table's first derivatives of sin, cos, sinh and cosh (cos, -sin, cosh,
    sinh) take the same paths as the values: for sin and cos the vectorized reduction
    below TRIG_MAX, libm's past it."""
    with np.errstate(invalid="ignore", over="ignore"):      # at the infinities
        d1_want = first(x)
    y, d1, d2 = np.empty_like(x), np.empty_like(x), np.empty_like(x)
    K.unary_values(opcode, x, y, 0.0)
    K.unary_derivs(opcode, x, y, 0.0, d1, d2)
    np.testing.assert_array_equal(np.isnan(d1), np.isnan(d1_want))
    assert np.nanmax(_ulps(d1, d1_want)) <= 2
    np.testing.assert_array_equal(d2, second * y)


@pytest.mark.parametrize("p", [3.0, 5.0, 6.0, 12.0, -3.0, -6.0, -12.0, 0.0, 1.0, 2.5, -0.5, 13.0])
def test_powers_near_numpys(p):
    """Whole exponents up to POW_INT_MAX are products by squaring: within a rounding per
    product of NumPy's pow (which rounds once); other exponents are pow itself, and their
    derivatives divisions of it by x (pow where x is 0 or not finite). Zeros, infinities
    and NaN as NumPy's."""
    x = np.concatenate([rng.uniform(-3, 3, 10_000), rng.uniform(0.01, 100, 10_000),
                        [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-30, 1e30, -1.0]])
    y, d1, d2 = np.empty_like(x), np.empty_like(x), np.empty_like(x)
    K.unary_values(K.POWC, x, y, p)
    K.unary_derivs(K.POWC, x, y, p, d1, d2)
    with np.errstate(all="ignore"):
        want = np.power(x, p)
        d1_want = p * np.power(x, p - 1.0)
        d2_want = p * (p - 1.0) * np.power(x, p - 2.0)
    products = 2 * abs(p) if K._whole(p) else 2     # else pow, and derivatives y / x
    np.testing.assert_array_equal(np.isnan(y), np.isnan(want))
    assert _ulps(y, want).max() <= products + 2
    inner = np.isfinite(x) & (x != 0.0)     # NumPy's formulas make 0 * inf there
    for got, w in ((d1, d1_want), (d2, d2_want)):
        assert _ulps(got[inner], w[inner]).max() <= products + 2
    zeros = want == 0.0
    np.testing.assert_array_equal(np.signbit(y[zeros]), np.signbit(want[zeros]))


INVERSES = [  # opcode, points near where the derivative is infinite, mpmath's derivative
    (K.ARCSIN, [1 - 1e-8, -1 + 1e-8, 1 - 1e-12, 0.999, 0.3], lambda x: 1 / (1 - x * x) ** 0.5),
    (K.ARCCOS, [1 - 1e-8, -1 + 1e-8, 1 - 1e-12, 0.999, 0.3], lambda x: -1 / (1 - x * x) ** 0.5),
    (K.ARCTANH, [1 - 1e-8, -1 + 1e-8, 1 - 1e-12, 0.999, 0.3], lambda x: 1 / (1 - x * x)),
    (K.ARCCOSH, [1 + 1e-8, 1 + 1e-12, 1.001, 3.0], lambda x: 1 / (x * x - 1) ** 0.5)]


@pytest.mark.parametrize("opcode, x, first", INVERSES,
                         ids=["arcsin", "arccos", "arctanh", "arccosh"])
def test_inverse_functions_derivatives_near_their_poles(opcode, x, first):
    """1 - x^2 as (1 - x)(1 + x), exact to a rounding: near +-1 the square's rounding had
    cost up to 3e-10 relative (at 1 - 1e-8: a bond angle near 180 degrees)."""
    import mpmath as mp
    x = np.array(x)
    y, d1, d2 = np.empty_like(x), np.empty_like(x), np.empty_like(x)
    K.unary_values(opcode, x, y, 0.0)
    K.unary_derivs(opcode, x, y, 0.0, d1, d2)
    with mp.workdps(40):
        want = np.array([float(first(mp.mpf(v))) for v in x])
        want2 = np.array([float(mp.diff(first, mp.mpf(v))) for v in x])
    assert np.max(_ulps(d1, want)) <= 4
    np.testing.assert_allclose(d2, want2, rtol=1e-13)
