"""scipy.linalg's solvers and factorizations in traced functions (numhess.scipy_linalg),
called through the module and by names imported beforehand: values are SciPy's own, and
derivatives agree with finite differences of SciPy's own function."""
import threading

import numpy as np
import pytest
import scipy.linalg
import scipy.linalg as sl
import scipy.special
from numpy import asarray
from numpy.polynomial.polynomial import polyval
from scipy.linalg import cho_factor, cho_solve, eigh, solve_triangular
from scipy.special import logsumexp

import numhess as nh
import scipy_helpers
from test_rules import assert_close, central_diff

RNG = np.random.default_rng(7)
N = 4
M0 = RNG.standard_normal((N, N))
SPD = M0 @ M0.T + N * np.eye(N)
B0 = RNG.standard_normal((N, 2))


def _matrix(x):
    """An x-dependent matrix that is neither symmetric nor triangular."""
    return SPD + 0.3 * np.outer(x[:N], x[N:2 * N]) + np.diag(x[:N] ** 2)


def gp_nll(x):
    """A Gaussian process's negative log marginal likelihood: the idiom of name-imported
    cho_factor and cho_solve."""
    z = x[:N]
    K = np.exp(-0.5 * (z[:, None] - z[None, :]) ** 2) + (1.0 + x[N] ** 2) * np.eye(N)
    c, low = cho_factor(K, lower=True)
    alpha = cho_solve((c, low), x[N:2 * N])
    return 0.5 * x[N:2 * N] @ alpha + np.sum(np.log(np.diag(c)))


CASES = [
    ("cho_factor/cho_solve by name", gp_nll),
    ("cho_solve upper", lambda x: np.sum(cho_solve(cho_factor(_matrix(x)), B0) ** 2)),
    ("cho_solve of a constant factor", lambda x: x[:N] @ cho_solve(cho_factor(SPD), x[:N])),
    ("solve", lambda x: np.sum(scipy.linalg.solve(_matrix(x), x[:N]) ** 2)),
    ("solve transposed", lambda x: np.sum(sl.solve(_matrix(x), B0, transposed=True) ** 2)),
    ("solve sym lower", lambda x: np.sum(sl.solve(_matrix(x), x[:N], assume_a="sym",
                                                  lower=True) ** 2)),
    ("solve pos upper", lambda x: np.sum(sl.solve(_matrix(x), B0, assume_a="pos") ** 2)),
    ("solve diagonal", lambda x: np.sum(sl.solve(_matrix(x), x[:N], assume_a="diagonal")
                                        ** 2)),
    ("solve tridiagonal", lambda x: np.sum(sl.solve(_matrix(x), x[:N],
                                                    assume_a="tridiagonal") ** 2)),
    ("solve upper triangular", lambda x: np.sum(sl.solve(_matrix(x), x[:N],
                                                         assume_a="upper triangular") ** 2)),
    ("solve_triangular lower", lambda x: np.sum(solve_triangular(_matrix(x), B0,
                                                                 lower=True) ** 2)),
    ("solve_triangular trans unit", lambda x: np.sum(solve_triangular(
        _matrix(x), x[:N], trans="T", unit_diagonal=True) ** 2)),
    ("cholesky upper", lambda x: np.sum(sl.cholesky(_matrix(x)) ** 3)),
    ("cholesky lower", lambda x: np.sum(sl.cholesky(_matrix(x), lower=True) ** 3)),
    ("inv", lambda x: np.sum(sl.inv(_matrix(x)) ** 2)),
    ("det", lambda x: sl.det(_matrix(x))),
    ("eigh subset", lambda x: np.sum(eigh(_matrix(x), subset_by_index=(1, 2))[0] ** 2)),
    ("eigh vectors", lambda x: np.sum(eigh(_matrix(x), lower=False)[1][:, -1] ** 2
                                      * x[:N])),
    ("eigvalsh upper", lambda x: np.sum(sl.eigvalsh(_matrix(x), lower=False) ** 3)),
    ("norm", lambda x: sl.norm(_matrix(x)) + sl.norm(x, 3)),
    ("svdvals", lambda x: np.sum(sl.svdvals(_matrix(x)[:, :3]) ** 3)),
    ("lstsq", lambda x: np.sum(sl.lstsq(_matrix(x)[:, :3], x[:N])[0] ** 2)),
    ("pinv", lambda x: np.sum(sl.pinv(_matrix(x)[:, :3]) ** 2)),
    ("block_diag", lambda x: np.sum(sl.block_diag(x[:2], np.outer(x[2:4], x[4:6]), 2.0)
                                    @ np.arange(1.0, 6.0) ** 2)),
    ("expm", lambda x: np.sum(sl.expm(_matrix(x) - SPD) * M0)),
    ("expm scaled and squared", lambda x: np.sum(sl.expm(3 * _matrix(x)) * M0)),
    ("toeplitz", lambda x: np.sum(sl.toeplitz(x[:3], x[3:7]) @ x[2:6] ** 2)),
    ("toeplitz symmetric", lambda x: np.sum(np.linalg.inv(sl.toeplitz(x[:3] + [3, 0, 0]))
                                            ** 2)),
    ("hankel", lambda x: np.sum(sl.hankel(x[:3], x[3:7]) ** 2 @ x[2:6])),
    ("circulant", lambda x: x[:N] @ sl.circulant(x[N:2 * N]) @ x[:N] ** 2),
]


@pytest.mark.parametrize("name, fn", CASES, ids=[c[0] for c in CASES])
def test_scipy_linalg(name, fn):
    g, h = nh.grad(fn), nh.hessian(fn)
    for x in (RNG.uniform(-1, 1, 2 * N + 1), RNG.uniform(-1, 1, 2 * N + 1)):
        assert_close(nh.value_and_grad(fn)(x)[0], fn(x), rtol=1e-12, what="SciPy's value")
        assert_close(g(x), central_diff(fn, x), what="gradient vs finite differences")
        assert_close(h(x), central_diff(g, x), what="Hessian vs finite differences")


def test_a_name_imported_is_the_librarys_again_after_the_trace():
    nh.grad(gp_nll)(np.ones(2 * N + 1))
    assert cho_solve is scipy.linalg._decomp_cholesky.cho_solve
    assert scipy.linalg.solve is scipy.linalg._basic.solve


def _imported_names(x):
    """Stand-ins reached through names this module imported (a helper function's too)."""
    return logsumexp(asarray(x)) + polyval(x[0], [[1.0, 2.0], [3.0, 4.0]]).sum() + gp_nll(x)


def test_names_imported_into_the_module():
    x = RNG.uniform(-1, 1, 2 * N + 1)
    assert_close(nh.value_and_grad(_imported_names)(x)[0], _imported_names(x), rtol=1e-12)
    assert_close(nh.grad(_imported_names)(x), central_diff(_imported_names, x))
    assert logsumexp is scipy.special._logsumexp.logsumexp and asarray is np.asarray


def test_names_imported_into_modules_reached_through_an_attribute_or_an_object():
    """scipy_helpers.quad (a module's attribute), model.loss (a global object's method)
    and a chain of calls deeper than four (outside.DEPTH was 4)."""
    x = RNG.uniform(-1, 1, N)
    want = nh.grad(lambda x: x @ sl.cho_solve(sl.cho_factor(SPD + np.outer(x, x)), x))(x)
    model = scipy_helpers.Model(SPD)
    for f in (lambda x: scipy_helpers.quad(x, SPD), lambda x: model.loss(x),
              lambda x: scipy_helpers.deep(x, SPD)):
        assert_close(nh.grad(f)(x), want, rtol=1e-12)
    assert scipy_helpers.cho_solve is scipy.linalg._decomp_cholesky.cho_solve


def test_a_name_numhess_does_not_see_says_how_to_call_it():
    def enclosing():
        from scipy.linalg import cho_solve as local
        return lambda x: np.sum(local((SPD, True), x))
    with pytest.raises(nh.TraceError, match=r"SciPy's own scipy.linalg.cho_solve .*call it "
                       r"as scipy.linalg.cho_solve\(...\) there"):
        nh.grad(enclosing())(np.ones(N))


def test_scipys_shapes_and_errors():
    """b (N, NRHS) is shared by a stack of matrices (it had been read as a stack of
    vectors); assume_a="pos" factors, so an indefinite matrix raises as SciPy's; an
    invalid subset_by_index raises; lstsq's residues of one right-hand side a scalar."""
    stack = np.stack([SPD, SPD + np.eye(N)])
    for f in (lambda a: sl.solve(a, B0), lambda a: sl.solve_triangular(a, B0),
              lambda a: sl.cho_solve((a, False), B0)):
        got, _ = nh.jvp(f, (stack,), (np.ones_like(stack),))
        np.testing.assert_allclose(got, f(stack), rtol=1e-12)
    indefinite = np.array([[1.0, 2.0], [2.0, 1.0]])
    for f in (lambda a: sl.solve(a, np.ones(2), assume_a="pos"),
              lambda a: sl.inv(a, assume_a="pos")):
        with pytest.raises(np.linalg.LinAlgError):
            f(indefinite)
        with pytest.raises(np.linalg.LinAlgError):
            nh.jacfwd(f)(indefinite)
    for subset in ((1, 5), (-1, 1), (2, 1)):
        with pytest.raises(ValueError, match="indices are not valid"):
            nh.grad(lambda x: np.sum(eigh(_matrix(x), subset_by_index=subset)[0]))(
                np.ones(2 * N + 1))
    x = RNG.uniform(-1, 1, 2 * N + 1)
    lst = lambda x: sl.lstsq(_matrix(x)[:, :3], x[:N])
    assert np.ndim(nh.jvp(lambda x: lst(x)[1], (x,), (x,))[0]) == np.ndim(lst(x)[1]) == 0


def test_expm_traces_again_where_its_squarings_no_longer_suffice():
    """A replay at a much larger norm: the guard on the norm fails, but the Pade
    denominator's solve had raised LinAlgError before the guards were read."""
    M = np.array([[-1.0, 1.0], [2.0, -2.0]])
    f = lambda x: sl.expm(x[0] * M)[0, 0]
    g = nh.grad(f)
    for t in (0.1, 1000.0, 0.1):
        assert_close(g(np.array([t])), central_diff(f, np.array([t])), rtol=1e-6)
    assert np.isnan(nh.jvp(lambda x: sl.expm(x * np.nan), (np.eye(2),), (np.eye(2),))[0]
                    ).all()


def test_traces_in_threads_share_the_module_globals():
    """Traces overlapping in threads take and give back the same globals (each keeps
    them swapped while it runs); each thread's own function traces anew."""
    x = RNG.uniform(-1, 1, 2 * N + 1)
    want = nh.grad(gp_nll)(x)
    results, errors = [], []

    def work(i):
        try:
            for j in range(5):
                f = lambda x, s=i + j: gp_nll(x) * (1.0 + s) - s * gp_nll(x)  # noqa: E731
                results.append(nh.grad(f)(x))
        except Exception as err:       # pragma: no cover (reported below)
            errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(results) == 30
    for r in results:
        assert_close(r, want, rtol=1e-10)
    assert cho_solve is scipy.linalg._decomp_cholesky.cho_solve


def test_only_the_triangle_scipy_reads():
    """A non-symmetric matrix: SciPy's symmetric solvers and Cholesky read one triangle
    (cho_factor leaves the other one as it was)."""
    x = RNG.uniform(-1, 1, 2 * N + 1)
    A = _matrix(x)
    for fn in (lambda a: sl.solve(a, B0, assume_a="sym"),
               lambda a: sl.solve(a, B0, assume_a="pos", lower=True),
               lambda a: sl.cholesky(a), lambda a: cho_factor(a, lower=True)[0]):
        assert_close(nh.jacfwd(fn)(A), central_diff(fn, A), what="SciPy's Jacobian")


def test_refused_clearly():
    x = RNG.uniform(-1, 1, 2 * N + 1)
    with pytest.raises(NotImplementedError, match="generalized"):
        nh.grad(lambda x: np.sum(eigh(_matrix(x), SPD)[0]))(x)
    with pytest.raises(NotImplementedError, match="subset_by_index"):
        nh.grad(lambda x: np.sum(eigh(_matrix(x), subset_by_value=(0, 9))[0]))(x)
    with pytest.raises(ValueError, match="recognized matrix structure"):
        nh.grad(lambda x: np.sum(sl.solve(_matrix(x), x[:N], assume_a="weird")))(x)
