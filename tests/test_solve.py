"""np.linalg.solve as LU factors and solves with them (kernels.py's LU and SOLVE): the
factors kept on the tape are LAPACK's, a matrix singular at a later point raises as
NumPy does, the sparsity rule keeps batches apart, and a Gaussian-process likelihood's
derivatives agree with finite differences at sizes where the factors are reused."""
import numpy as np
import pytest
import scipy.linalg

import numhess as nh
from numhess import kernels as K
from test_rules import assert_close, central_diff

rng = np.random.default_rng(9)


def test_factors_are_lapacks():
    A = rng.standard_normal((4, 4))
    f = nh.grad(lambda x: np.sum(np.linalg.solve(A + np.diag(x), x)))
    x = rng.standard_normal(4)
    f(x)
    (entry,) = f.traced.cache[(x.shape,)]
    tape = entry.tape
    (t,) = np.flatnonzero(tape.op == K.LU)
    vals = tape.run_forward(x)[0]
    lu, piv = scipy.linalg.lu_factor((A + np.diag(x)).T)
    o = tape.off[tape.out[t]]
    np.testing.assert_allclose(vals[o:o + 16], lu.ravel(order="F"), rtol=1e-13)
    np.testing.assert_array_equal(vals[o + 16:o + 20], piv + 1)


def test_singular_at_replay_raises_like_numpy():
    g = nh.grad(lambda x: np.sum(np.linalg.solve(np.diag(x), np.ones(3))))
    g(np.ones(3))
    with pytest.raises(np.linalg.LinAlgError):
        np.linalg.solve(np.diag([1.0, 0.0, 1.0]), np.ones(3))
    with pytest.raises(np.linalg.LinAlgError, match="Singular"):
        g(np.array([1.0, 0.0, 1.0]))
    assert_close(g(np.array([1.0, 2.0, 4.0])), -1.0 / np.array([1.0, 4.0, 16.0]),
                 rtol=1e-14)


def test_batched_solve_sparse_hessian():
    """Three 2 x 2 systems, each in its own 4 + 2 variables: the sparse Hessian's
    pattern has no entry between batches, and its values are the dense Hessian's."""
    def f(x):
        A = x[:12].reshape(3, 2, 2) + 3.0 * np.eye(2)
        b = x[12:].reshape(3, 2)
        return np.sum(np.linalg.solve(A, b[:, :, None]) ** 3)
    x = rng.uniform(-0.5, 0.5, 18)
    H = nh.hessian(f)(x)
    S = nh.hessian(f, sparse=True)(x)
    assert_close(S.toarray(), H, rtol=1e-12)
    batch = np.concatenate([np.repeat(np.arange(3), 4), np.repeat(np.arange(3), 2)])
    rows, cols = S.nonzero()
    assert np.all(batch[rows] == batch[cols])
    assert S.nnz < 0.4 * H.size
    assert_close(H, central_diff(nh.grad(f), x), what="Hessian vs finite differences")


def _gp(z, y):
    D = z[:, None] - z[None, :]
    K_ = np.exp(-0.5 * D ** 2 / 0.09) + 0.1 * np.eye(z.size)
    return 0.5 * y @ np.linalg.solve(K_, y) + 0.5 * np.linalg.slogdet(K_)[1]


def test_gaussian_process_derivatives():
    n = 40
    z = np.sort(rng.uniform(-2, 2, n))
    y = np.sin(2 * z)
    g = nh.grad(_gp)
    assert_close(g(z, y), central_diff(lambda q: _gp(q, y), z), what="gradient")
    v = rng.standard_normal(n)
    hv = nh.hvp(_gp)(z, v, y)
    fd = (g(z + 1e-6 * v, y) - g(z - 1e-6 * v, y)) / 2e-6
    assert_close(hv, fd, what="hvp vs finite differences of the gradient")
    assert_close(nh.hessian(_gp)(z, y) @ v, hv, rtol=1e-10, what="Hessian @ v vs hvp")
