"""Dense Hessians in chunks of basis directions compute each chunk's rows from its diagonal
block down and copy the rest from the chunks before it (kernels._hessian_chunks, lower):
products with the inputs as an operand leave the rows above out. Every chunking, serial
and parallel, must give the whole Hessian."""
import numpy as np
import pytest

import numhess as nh
from numhess import drivers

rng = np.random.default_rng(11)
N = 120
A = rng.standard_normal((150, N)) / np.sqrt(N)
B = rng.standard_normal((N, 40)) / np.sqrt(N)
C = rng.standard_normal((12, 30))
M = rng.standard_normal((N, 30))


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def logistic(x):                 # x the right operand
    z = A @ x
    return np.sum(np.log1p(np.exp(z)) - 0.5 * z) + np.sum(x ** 4)


def logistic_hessian(x):
    p = sigmoid(A @ x)
    return (A.T * (p * (1 - p))) @ A + np.diag(12 * x ** 2)


def left(x):                     # x the left operand
    return np.sum(np.exp(x @ B))


def left_hessian(x):
    return (B * np.exp(x @ B)) @ B.T


def layer(x):                    # a view of x as a matrix, the left operand; squared,
    return np.sum(np.tanh(x.reshape(10, 12) @ C)) ** 2    # for a dense Hessian


def layer_hessian(x):
    W = x.reshape(10, 12)
    t = np.tanh(W @ C)
    s = np.sum(t)
    g = ((1 - t ** 2) @ C.T).ravel()         # ds/dW
    d2 = -2 * t * (1 - t ** 2)               # tanh'' at W @ C, (10, 30)
    H = np.zeros((10, 12, 10, 12))
    for i in range(10):
        H[i, :, i, :] = (C * d2[i]) @ C.T
    return 2 * np.outer(g, g) + 2 * s * H.reshape(N, N)


CASES = {"right operand": (logistic, logistic_hessian),
         "left operand": (left, left_hessian),
         "a view of x": (layer, layer_hessian)}


@pytest.mark.parametrize("chunk_size", [None, 1, 7, 50, N])
@pytest.mark.parametrize("case", CASES)
def test_every_chunking_gives_the_whole_hessian(case, chunk_size):
    f, ref = CASES[case]
    x = 0.3 * rng.standard_normal(N)
    H = nh.hessian(f, chunk_size=chunk_size)
    np.testing.assert_allclose(H(x), ref(x), rtol=1e-11, atol=1e-12)
    if chunk_size is None:       # split past one chunk for its products
        [entry] = [e for es in H.traced.cache.values() for e in es]
        assert entry.derived[("lower", N, None)].starts.size > 1


@pytest.mark.parametrize("chunk_size", [None, 7, 50])
def test_a_data_argument_read_in_place(chunk_size):
    # A passed to f is a parameter: its product's rows are read where the caller keeps
    # them, a block of columns from each chunk's diagonal on
    def fit(x, data):
        z = data @ x
        return np.sum(np.log1p(np.exp(z)) - 0.5 * z) + np.sum(x ** 4)
    x = 0.3 * rng.standard_normal(N)
    H = nh.hessian(fit, chunk_size=chunk_size)
    np.testing.assert_allclose(H(x, A), logistic_hessian(x), rtol=1e-11, atol=1e-12)
    A2 = 2 * A        # new data, same tape
    p = sigmoid(A2 @ x)
    np.testing.assert_allclose(H(x, A2), (A2.T * (p * (1 - p))) @ A2 + np.diag(12 * x ** 2),
                               rtol=1e-11, atol=1e-12)


def test_columns_agree_with_hessian_vector_products():
    # hvp runs no lower chunks: an independent product per column
    x = 0.3 * rng.standard_normal(N)
    H = nh.hessian(logistic)(x)
    hv = nh.hvp(logistic)
    for j in (0, 1, 59, 60, N - 1):
        e = np.zeros(N)
        e[j] = 1.0
        np.testing.assert_allclose(H[:, j], hv(x, e), rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(H, H.T)


def test_two_arguments_and_several_outputs():
    x, y = 0.3 * rng.standard_normal(N), 0.3 * rng.standard_normal(30)

    def bilinear(x, y):
        return x @ M @ y + np.sum(np.sin(A @ x)) + np.sum(y ** 3)
    (hxx, hxy), (hyx, hyy) = nh.hessian(bilinear, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(hxx, -(A.T * np.sin(A @ x)) @ A, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(hxy, M, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(hyx, M.T, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(hyy, np.diag(6 * y), rtol=1e-13, atol=1e-13)
    # one Hessian per output element: exp(a_i x) a_i a_i^T
    Hs = nh.hessian(lambda x: np.exp(A[:9] @ x), chunk_size=13)(x)
    for i in range(9):
        np.testing.assert_allclose(Hs[i], np.exp(A[i] @ x) * np.outer(A[i], A[i]),
                                   rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", CASES)
def test_parallel_chunks_give_the_serial_hessian(case, monkeypatch):
    f, ref = CASES[case]
    x = 0.3 * rng.standard_normal(N)
    serial = nh.hessian(f)(x)
    monkeypatch.setattr(drivers, "PARALLEL_MIN_WORK", 0)
    H = nh.hessian(f)           # plans are kept with the tape: a fresh one
    for _ in range(2):          # twice: the kept work buffers stay clean
        np.testing.assert_allclose(H(x), serial, rtol=1e-13, atol=1e-13)
    [entry] = [e for es in H.traced.cache.values() for e in es]
    plan = entry.derived[("lower", N, None)]
    assert plan.starts.size > 1
    np.testing.assert_allclose(serial, ref(x), rtol=1e-11, atol=1e-12)
