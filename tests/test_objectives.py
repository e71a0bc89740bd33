"""Real objectives built from np.linalg and scipy.special (issue 6): each Hessian against
finite differences of the gradient and symmetric, and a trust-exact fit that converges."""
import numpy as np
import pytest
import scipy.optimize as so
import scipy.special as sc

import numhess as nh
from numhess.special import logsumexp
from test_rules import assert_close, central_diff

rng = np.random.default_rng(6)

# -- a Gaussian process: negative log marginal likelihood in (log l, log s2, log n2)
_t = np.sort(rng.uniform(0, 5, 15))
_y = np.sin(_t) + 0.1 * rng.standard_normal(15)
_D = (_t[:, None] - _t[None, :]) ** 2


def gp_nll(theta):
    l, s2, n2 = np.exp(theta[0]), np.exp(theta[1]), np.exp(theta[2])
    K = s2 * np.exp(-0.5 * _D / l ** 2) + (n2 + 1e-6) * np.eye(_t.size)
    L = np.linalg.cholesky(K)
    a = np.linalg.solve(L, _y)                     # L^-1 y: y' K^-1 y = |a|^2
    _, logdet = np.linalg.slogdet(K)
    return 0.5 * np.sum(a * a) + 0.5 * logdet + 0.5 * _t.size * np.log(2 * np.pi)


# -- multinomial logistic regression with logsumexp
_X = rng.standard_normal((60, 3))
_labels = np.argmax(_X @ rng.standard_normal((3, 4)) + rng.standard_normal((60, 4)), axis=1)
_Y = np.eye(4)[_labels]


def softmax_loss(w):
    Z = _X @ w.reshape(3, 4)
    return np.mean(logsumexp(Z, axis=1) - np.sum(_Y * Z, axis=1)) + 0.05 * np.sum(w * w)


# -- a negative-binomial GLM (log link) with gammaln, in (beta, log r)
_Xg = np.column_stack([np.ones(80), rng.standard_normal(80)])
_mu_true = np.exp(_Xg @ np.array([1.0, 0.5]))
_counts = rng.negative_binomial(3.0, 3.0 / (3.0 + _mu_true)).astype(float)


def negbin_nll(p):
    eta = _Xg @ p[:2]
    r = np.exp(p[2])
    mu = np.exp(eta)
    ll = (sc.gammaln(_counts + r) - sc.gammaln(r) - sc.gammaln(_counts + 1.0)
          + r * (np.log(r) - np.logaddexp(np.log(r), eta))
          + sc.xlogy(_counts, mu) - _counts * np.logaddexp(np.log(r), eta))
    return -np.sum(ll)


# -- a small neo-Hookean finite-element energy with det of deformation gradients
_nx, _ny = 4, 3
_P = np.array([[i, j] for j in range(_ny) for i in range(_nx)], dtype=float)
_tri = []
for j in range(_ny - 1):
    for i in range(_nx - 1):
        a, b, c, d = j * _nx + i, j * _nx + i + 1, (j + 1) * _nx + i, (j + 1) * _nx + i + 1
        _tri += [(a, b, d), (a, d, c)]
_tri = np.array(_tri)
_Dm_inv = np.linalg.inv(np.stack([_P[_tri[:, 1]] - _P[_tri[:, 0]],
                                  _P[_tri[:, 2]] - _P[_tri[:, 0]]], axis=2))
_fixed = _P[:, 0] == 0
_free = ~_fixed
_load = np.zeros_like(_P)
_load[_P[:, 0] == _nx - 1] = [0.15, -0.05]


def fe_energy(u):
    x = np.zeros_like(u, shape=_P.shape)
    x[_fixed] = _P[_fixed]
    x[_free] = _P[_free] + u.reshape(-1, 2)
    Ds = np.stack([x[_tri[:, 1]] - x[_tri[:, 0]], x[_tri[:, 2]] - x[_tri[:, 0]]], axis=2)
    F = Ds @ _Dm_inv
    J = np.linalg.det(F)
    logJ = np.log(J)
    mu, lam = 1.0, 2.0
    W = 0.5 * mu * (np.sum(F * F, axis=(1, 2)) - 2.0) - mu * logJ + 0.5 * lam * logJ ** 2
    return 0.5 * np.sum(W) - np.sum(_load[_free] * u.reshape(-1, 2))


OBJECTIVES = [
    ("gaussian process", gp_nll, np.array([0.0, 0.0, -2.0])),
    ("multinomial logistic", softmax_loss, np.zeros(12)),
    ("negative binomial", negbin_nll, np.array([0.5, 0.0, 0.0])),
    ("neo-Hookean", fe_energy, np.zeros(2 * int(_free.sum()))),
]


@pytest.mark.parametrize("name, f, x0", OBJECTIVES, ids=[o[0] for o in OBJECTIVES])
def test_objective(name, f, x0):
    g, h = nh.grad(f), nh.hessian(f)
    for x in (x0, x0 + 0.1 * rng.standard_normal(x0.size)):
        assert_close(g(x), central_diff(f, x), what="gradient")
        H = h(x)
        assert_close(H, central_diff(g, x), what="Hessian vs finite differences")
        assert_close(H, H.T, rtol=1e-10, what="symmetry")
    res = so.minimize(f, x0, jac=g, hess=h, method="trust-exact",
                      options={"gtol": 1e-6})
    assert res.success, res.message
    assert np.linalg.norm(g(res.x)) < 1e-5
    assert np.all(np.linalg.eigvalsh(h(res.x)) > 0)


# -- the sparsity patterns of the new functions never miss a non-zero
from cases import CASES                                      # noqa: E402
from test_sparse import basis_hessian                        # noqa: E402

NEW = ("expit", "logit", "log_expit", "erf", "erfc", "gammaln", "digamma", "entr", "xlog",
       "rel_entr", "logsumexp", "softmax", "log_softmax", "det", "slogdet", "inv", "solve",
       "cholesky")
NEW_CASES = [c for c in CASES if c[0].startswith(NEW)]


@pytest.mark.parametrize("name, fn, shape, domain", NEW_CASES, ids=[c[0] for c in NEW_CASES])
def test_pattern_covers_hessian(name, fn, shape, domain):
    r = np.random.default_rng(3)
    w = r.normal(size=np.shape(fn(r.uniform(*domain, size=shape))))
    F = lambda x: np.sum(w * fn(x))
    for _ in range(2):       # at each point: a guard (a pivot order) may make a new tape
        x = r.uniform(*domain, size=shape)
        P = nh.hessian_sparsity(F, x).toarray()
        assert not np.any((basis_hessian(F, x) != 0) & ~P)
