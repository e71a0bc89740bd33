"""eigh, qr, pinv, lstsq, singular values and einsum beyond the table: what NumPy returns
beside the arrays, points where derivatives do not exist, and refusals."""
import warnings

import numpy as np
import pytest

import numhess as nh
from test_rules import assert_close, central_diff

rng = np.random.default_rng(7)


def test_values_are_numpys():
    a = rng.normal(size=(5, 5))
    s = a + a.T
    w, V = np.linalg.eigh(s)
    out = {}

    def grab(x):
        out["eigh"] = np.linalg.eigh(x)
        out["qr"] = np.linalg.qr(x)
        out["pinv"] = np.linalg.pinv(x[:, :3])
        out["lstsq"] = np.linalg.lstsq(x[:, :3], x[:, 4])
        out["svd"] = np.linalg.svd(x, compute_uv=False)
        return np.sum(x)

    nh.grad(grab)(s)                     # the traced values, as the tape computes them
    assert_close(out["eigh"].eigenvalues.value, w, rtol=1e-14)
    assert_close(out["eigh"].eigenvectors.value, V, rtol=1e-14)
    Q, R = np.linalg.qr(s)
    assert_close(out["qr"].Q.value, Q, rtol=1e-14)
    assert_close(out["qr"].R.value, R, rtol=1e-14)
    assert_close(out["pinv"].value, np.linalg.pinv(s[:, :3]), rtol=1e-12)
    x, res, rank, sv = out["lstsq"]
    want = np.linalg.lstsq(s[:, :3], s[:, 4])
    assert_close(x.value, want[0], rtol=1e-12)
    assert_close(res.value, want[1], rtol=1e-12)
    assert rank == want[2]
    assert_close(sv.value, want[3], rtol=1e-12)
    assert_close(out["svd"].value, np.linalg.svd(s, compute_uv=False), rtol=1e-14)


def test_lstsq_shapes_follow_numpy():
    for a_shape, b_shape in [((5, 3), (5,)), ((5, 3), (5, 2)), ((3, 5), (3,)), ((3, 5), (3, 2))]:
        a, b = rng.normal(size=a_shape), rng.normal(size=b_shape)
        want = np.linalg.lstsq(a, b)
        jac = nh.jacfwd(lambda b: np.linalg.lstsq(a, b)[0])(b)
        assert jac.shape == want[0].shape + b.shape
        res = nh.jacfwd(lambda b: np.linalg.lstsq(a, b)[1])(b)
        assert res.shape == want[1].shape + b.shape


def test_repeated_eigenvalues_warn_and_retrace():
    f = nh.hessian(lambda x: np.sum(np.linalg.eigvalsh(x.reshape(3, 3)) ** 3))
    x = rng.normal(size=9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f(x)                                   # distinct: no warning
    with pytest.warns(RuntimeWarning, match="repeated eigenvalues"):
        f(np.eye(3).ravel())                   # the guard flips: traced again, warned
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        H = f(x)                               # back at a distinct point
    assert_close(H, central_diff(nh.grad(lambda x: np.sum(
        np.linalg.eigvalsh(x.reshape(3, 3)) ** 3)), x), rtol=1e-5)


def test_nuclear_norm_exact_at_repeated_singular_values():
    f = lambda x: np.linalg.norm(x.reshape(3, 3), "nuc") ** 2
    for x in [np.eye(3).ravel(), np.diag([2.0, 1.0, 1.0]).ravel()]:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            H = nh.hessian(f)(x)
        assert_close(H, central_diff(nh.grad(f), x), rtol=1e-5)


def test_zero_singular_value_keeps_the_value():
    a = np.diag([3.0, 0.0])
    s = nh.jacfwd(lambda x: np.linalg.svd(x.reshape(2, 2), compute_uv=False))
    assert np.all(np.isfinite(s(a.ravel())))
    v, g = nh.value_and_grad(lambda x: np.linalg.norm(x.reshape(2, 2), "nuc"))(a.ravel())
    assert v == 3.0 and np.all(np.isfinite(g))


@pytest.mark.parametrize("fn, error, match", [
    (lambda x: np.linalg.pinv(np.outer(x, x)), np.linalg.LinAlgError, "rank-deficient"),
    (lambda x: np.linalg.qr(np.outer(x, x))[1], np.linalg.LinAlgError, "rank-deficient"),
    (lambda x: np.linalg.qr(np.stack([x * [0, 0, 1], x * [1, 1, 0]]))[0], np.linalg.LinAlgError,
     "first columns"),
    (lambda x: np.linalg.qr(x.reshape(3, 1), mode="complete")[0], NotImplementedError,
     "mode='reduced'"),
    (lambda x: np.linalg.qr(x.reshape(3, 1), mode="raw")[0], NotImplementedError, "raw"),
    (lambda x: np.linalg.qr(x.reshape(3, 1), mode="nope"), ValueError, "mode"),
    (lambda x: np.linalg.svd(x.reshape(3, 1))[0], NotImplementedError, "compute_uv=False"),
    (lambda x: np.linalg.eigh(x), np.linalg.LinAlgError, "two-dimensional"),
    (lambda x: np.linalg.eigh(x.reshape(3, 1)), np.linalg.LinAlgError, "square"),
    (lambda x: np.linalg.eigh(np.outer(x, x), UPLO="X")[0], ValueError, "UPLO"),
    (lambda x: np.linalg.norm(np.outer(x, x), ord=3), ValueError, "Invalid norm order"),
    (lambda x: np.einsum("ij,jk", np.outer(x, x), np.ones((2, 2))), ValueError, "label 'j'"),
    (lambda x: np.einsum("i,i", x), ValueError, "fewer operands"),
    (lambda x: np.einsum("ij", x), ValueError, "more dimensions"),
    (lambda x: np.einsum("i->j", x), ValueError, "output subscript 'j'"),
    # (NumPy sums no broadcast axes away: an explicit output without '...')
    (lambda x: np.einsum("...i,...i->", np.outer(x, x), np.outer(x, x)), ValueError,
     "no '...' ellipsis"),
])
def test_refusals(fn, error, match):
    with pytest.raises(error, match=match):
        nh.jacfwd(fn)(np.array([1.0, 2.0, 3.0]))


EINSUM_SPECS = [
    ("ij,jk->ik", [(3, 4), (4, 2)]), ("ii->i", [(3, 3)]), ("ij->", [(3, 4)]),
    ("i,j->ij", [(3,), (2,)]), ("...ij,...jk->...ik", [(2, 3, 4), (4, 2)]),
    ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 2)]), ("iij->j", [(2, 2, 3)]),
    ("ijk,ik->j", [(2, 3, 4), (2, 4)]), ("i,i,i->i", [(3,), (3,), (3,)]),
    ("ij,ij->ij", [(1, 3), (2, 3)]), ("i...,i...->...", [(3, 2), (3, 2)]),
    ("ab,cd,bc->ad", [(2, 3), (4, 2), (3, 4)]), (",ij->ij", [(), (2, 2)]),
    ("ii,ij->j", [(3, 3), (3, 2)]), ("bij,bjk", [(2, 3, 4), (2, 4, 2)]),
    ("ab,bc,cd,de->ae", [(2, 3), (3, 2), (2, 4), (4, 2)]), ("...i,...i->", [(3,), (3,)]),
]


@pytest.mark.parametrize("spec, shapes", EINSUM_SPECS, ids=[s for s, _ in EINSUM_SPECS])
def test_einsum_against_numpy(spec, shapes):
    parts = [rng.normal(size=s) for s in shapes]
    sizes = [p.size for p in parts]

    def split(x):
        out, o = [], 0
        for p, z in zip(parts, sizes):
            out.append(x[o:o + z].reshape(p.shape))
            o += z
        return out

    x = np.concatenate([p.ravel() for p in parts])
    f = lambda x: np.sum(np.sin(np.einsum(spec, *split(x))))
    value, grad = nh.value_and_grad(f)(x)
    assert_close(value, f(x), rtol=1e-13)
    assert_close(grad, central_diff(f, x))
    assert_close(nh.hessian(f)(x), central_diff(nh.grad(f), x))


def test_eigenvalues_within_rounding_of_each_other_are_ties():
    """A Gaussian-process kernel matrix has 16 eigenvalues 1e-17 apart: their reciprocal
    gaps (1e17) turned rounding into a gradient 6x off, without a warning. Now they count
    as repeated (warned, guarded) and the gradient is the one through solve and slogdet."""
    r = np.random.default_rng(5)
    X = np.sort(r.uniform(0, 5, 30))
    y = np.sin(X) + 0.1 * r.standard_normal(30)

    def K(p):
        d2 = (X[:, None] - X[None, :]) ** 2
        return np.exp(2 * p[1]) * np.exp(-0.5 * d2 / np.exp(2 * p[0])) \
            + (np.exp(2 * p[2]) + 1e-8) * np.eye(30)

    def by_eigh(p):
        w, V = np.linalg.eigh(K(p))
        return 0.5 * np.sum((V.T @ y) ** 2 / w) + 0.5 * np.sum(np.log(w))

    def by_solve(p):
        return 0.5 * y @ np.linalg.solve(K(p), y) + 0.5 * np.linalg.slogdet(K(p))[1]
    p = np.array([0.1, 0.2, -1.5])
    with pytest.warns(RuntimeWarning, match="repeated eigenvalues"):
        g = nh.grad(by_eigh)(p)
    assert_close(g, nh.grad(by_solve)(p), rtol=1e-5)
