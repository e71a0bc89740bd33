"""Dense Hessians over the support of each direction's tangents (supports.py), through
the public transforms: taken where the probe finds sparse directions, exact against the
chunked sweeps and finite differences, and declined where directions are dense. Every
rule is compared with the chunked sweeps in test_rules.test_support_sweeps."""
import numpy as np

import numhess as nh
from numhess import drivers, hessians, supports
from numhess.traced import TracedFunction
from test_rules import assert_close, central_diff


def cluster(x):
    """Lennard-Jones energy of all pairs, by broadcasting."""
    X = x.reshape(-1, 3)
    D = X[:, None, :] - X[None, :, :]
    r2 = np.sum(D ** 2, -1) + np.eye(X.shape[0])
    inv6 = 1.0 / r2 ** 3
    return 0.5 * np.sum(4.0 * (inv6 ** 2 - inv6))


def soft_pairs(x):
    """Pairs within a cutoff by np.where, a maximum and a sorted row: rules other than
    elementwise ones over pair arrays."""
    X = x.reshape(-1, 2)
    r2 = np.sum((X[:, None, :] - X[None, :, :]) ** 2, -1)
    inside = np.where(r2 < 4.0, np.exp(-r2) * (4.0 - r2) ** 2, 0.0)
    nearest = np.sort(r2 + 10.0 * np.eye(X.shape[0]), axis=1)[:, 1]
    return np.sum(inside) + np.sum(np.maximum(X, 0.3) ** 3) + np.sum(np.log1p(nearest))


def _grid(atoms, dim, seed):
    rng = np.random.default_rng(seed)
    side = int(np.ceil(atoms ** (1 / dim)))
    grid = np.stack(np.meshgrid(*[np.arange(side)] * dim, indexing="ij"), -1).reshape(-1, dim)
    return (1.12 * grid[:atoms] + 0.05 * rng.standard_normal((atoms, dim))).ravel()


def _chunked(f, x):
    rep = TracedFunction(f, 0).evaluate((x,))
    return drivers.hessian(rep, hessians.ONE, None)[0]


def test_cluster_hessian_over_supports():
    x = _grid(33, 3, 0)
    h = nh.hessian(cluster)
    H = h(x)
    (entry,) = next(iter(h.traced.cache.values()))
    assert isinstance(entry.derived["supports"], supports.Plan)
    assert_close(H, _chunked(cluster, x), rtol=1e-10, what="supports vs chunked sweeps")
    assert_close(H, central_diff(nh.grad(cluster), x), what="Hessian vs finite differences")
    x2 = x + 0.01 * np.sin(np.arange(x.size))      # the same tape at another point
    assert_close(h(x2), _chunked(cluster, x2), rtol=1e-10, what="second point")


def test_where_sort_maximum_over_supports():
    x = 1.3 * _grid(40, 2, 1)
    rep = TracedFunction(soft_pairs, 0).evaluate((x,))
    for k in (1, 2):
        plan = supports.Plan(supports.maps(rep.tape), k, 1.0)
        assert_close(supports.hessian(rep, plan), _chunked(soft_pairs, x), rtol=1e-10,
                     what=f"supports vs chunked sweeps, k = {k}")
    assert_close(nh.hessian(soft_pairs)(x), central_diff(nh.grad(soft_pairs), x),
                 what="Hessian vs finite differences")


def test_weighted_vector_output():
    """A constraint's Hessian <w, c(x)> (scipy's hess(x, v)) of per-atom energies."""
    def per_atom(x):
        X = x.reshape(-1, 3)
        r2 = np.sum((X[:, None, :] - X[None, :, :]) ** 2, -1) + np.eye(X.shape[0])
        return np.sum(1.0 / r2 ** 6 - 1.0 / r2 ** 3, axis=1)

    x = _grid(30, 3, 2)
    w = np.random.default_rng(3).normal(size=30)
    rep = TracedFunction(per_atom, 0).evaluate((x,))
    want = drivers.hessian(rep, w[None, :], None)[0]
    assert_close(hessians.weighted(rep, w), want, rtol=1e-10, what="weighted Hessian")
    assert isinstance(rep.entry.derived["supports"], supports.Plan)


def test_dense_directions_decline():
    """Every direction of a product with a dense matrix reaches everything: chunked, and
    the probe's workspace is not kept."""
    A = np.random.default_rng(4).normal(size=(60, 60))
    f = lambda x: np.sum(np.tanh(A @ x) ** 2)
    x = np.linspace(-0.5, 0.5, 60)
    h = nh.hessian(f)
    H = h(x)
    (entry,) = next(iter(h.traced.cache.values()))
    assert entry.derived["supports"] is None
    assert not [key for key in entry.derived if isinstance(key, tuple)    # no workspace
                and key[0] == "supports"]
    assert_close(H, central_diff(nh.grad(f), x), what="Hessian vs finite differences")



def test_a_data_products_work_counts_against_supports():
    """m @ J @ m with a data matrix J and a few elementwise terms: each direction's
    product costs n^2 either way, which the probe's positions do not show; chunked (the
    supports had made a 400-spin mean-field Hessian 20x slower)."""
    from scipy.special import xlogy
    n = 400
    rng = np.random.default_rng(10)
    J = rng.standard_normal((n, n)) / np.sqrt(n)
    J = J + J.T

    def f(h):
        m = np.tanh(h)
        p, q = (1 + m) / 2, (1 - m) / 2
        return -0.5 * m @ J @ m + np.sum(xlogy(p, p) + xlogy(q, q))
    h = nh.hessian(f)
    x = 0.5 * rng.standard_normal(n)
    H = h(x)
    (entry,) = next(iter(h.traced.cache.values()))
    assert entry.derived["supports"] is None
    assert_close(H, central_diff(nh.grad(f), x), what="Hessian vs finite differences")

def test_concurrent_calls():
    """Calls from several threads, each running its chunks on threads of its own, share
    the tape's workspaces (never one at a time by two) and its stamps."""
    import concurrent.futures as cf
    h = nh.hessian(cluster)
    xs = [_grid(33, 3, seed) for seed in range(6)]
    with cf.ThreadPoolExecutor(max_workers=3) as ex:
        results = list(ex.map(h, xs))
    for x, H in zip(xs, results):
        assert_close(H, _chunked(cluster, x), rtol=1e-10, what="concurrent Hessian")


def test_long_support_hessians_show_progress(monkeypatch, bar_updates):
    """A long Hessian by supports runs in steps behind a bar, as the chunked sweeps do."""
    updates = bar_updates
    x = _grid(33, 3, 0)
    monkeypatch.setattr(supports, "PROGRESS_STEPS", 4)
    h = nh.hessian(cluster)
    assert_close(h(x), _chunked(cluster, x), rtol=1e-10, what="Hessian in steps")
    (entry,) = next(iter(h.traced.cache.values()))
    chunks = -(-x.size // entry.derived["supports"].k)
    assert sum(u for u in updates if u != "closed") == chunks and updates[-1] == "closed"
    assert len(updates) > 2
