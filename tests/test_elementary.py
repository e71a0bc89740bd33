"""The kernels' own exp, log, log1p, expm1, tanh, logaddexp and expit (vectorizable
arithmetic instead of libm calls) against NumPy's: within a few ulps on every range, and
NumPy's exact value at zeros, infinities, NaN, subnormals and the edges of overflow."""
import numpy as np
import pytest
import scipy.special as sc

from numhess import kernels as K

rng = np.random.default_rng(12)
SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, 2.0, 5e-324,
                    -5e-324, 1e-310, 2.2250738585072014e-308, 1e-20, -1e-20, 22.0, 22.5,
                    -22.5, 709.782712893384, 709.79, -708.4, -745.1332191019411, -745.14,
                    800.0, -800.0, 1e300, -1e300, 1.7976931348623157e308])


def _ulps(got, want):
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    with np.errstate(invalid="ignore", over="ignore"):
        step = np.spacing(np.abs(want))
        return np.where(same, 0.0, np.abs(got - want) / np.where(step > 0, step, 5e-324))


def _unary(opcode, x):
    y = np.empty_like(x)
    K.unary_values(opcode, x, y, 0.0)
    return y


UNARY = [  # opcode, NumPy's function, ranges, ulps allowed
    (K.EXP, np.exp, [(-1, 1), (-30, 30), (-745.2, 709.8)], 1),
    (K.LOG, np.log, [(0.5, 2), (1e-300, 1e300), (1e-323, 1e-307)], 1),
    (K.LOG1P, np.log1p, [(-1e-8, 1e-8), (-0.999, 3), (3, 1e15)], 1),
    (K.EXPM1, np.expm1, [(-1e-8, 1e-8), (-1, 1), (-50, 709)], 2),
    (K.TANH, np.tanh, [(-1e-8, 1e-8), (-1, 1), (-30, 30)], 3),
    (K.EXPIT, sc.expit, [(-5, 5), (-700, 700)], 3),
    (K.LOG_EXPIT, sc.log_expit, [(-5, 5), (-700, 700)], 3),
]


@pytest.mark.parametrize("opcode, numpy_fn, ranges, ulps", UNARY,
                         ids=[u[1].__name__ for u in UNARY])
def test_unary_within_ulps_of_numpy(opcode, numpy_fn, ranges, ulps):
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
