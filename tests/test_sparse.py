"""Sparse Hessians: tight patterns, few colours, exact recovery, no false zeros."""
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import minimize, rosen_hess_prod

import numhess as nh
from numhess import scipy_hooks
from numhess import drivers
from numhess.coloring import ColoredPattern
from numhess.sparse import colored_pattern
from numhess.traced import TracedFunction


def basis_hessian(f, x, *args):
    """The dense Hessian from n basis sweeps: no pattern, no colouring involved."""
    rep = TracedFunction(f).evaluate((x,) + args)
    return drivers.hessian(rep, np.ones((1, 1)), None)[0]


def n_colors(f, x):
    return colored_pattern(TracedFunction(f).evaluate((x,)).entry).ncolors


rng = np.random.default_rng(7)
PERM = rng.permutation(60)
PAIRS = rng.integers(0, 60, size=(40, 2))


FAMILIES = {
    "separable": lambda x: np.sum(np.sin(x) * x),
    "tridiagonal": lambda x: np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2),
    "pentadiagonal": lambda x: np.sum(x[2:] * x[:-2] ** 2) + np.sum(np.cos(x[1:] - x[:-1])),
    "arrowhead": lambda x: x[0] * np.sum(x[1:] ** 2) + np.sum(np.exp(x)),
    "block diagonal": lambda x: np.sum(np.prod(x.reshape(-1, 3), axis=1) ** 2),
    "gathered pairs": lambda x: np.sum(np.sin(x[PAIRS[:, 0]] * x[PAIRS[:, 1]])) + np.sum(x ** 4),
    "permuted": lambda x: np.sum(x[PERM] * x ** 2),
    "reshape rows": lambda x: np.sum(np.tanh(x.reshape(6, 10) @ np.ones(10)) ** 2),
    "matmul const": lambda x: np.sum(np.exp(np.kron(np.eye(20), np.ones((2, 3))) @ x)),
    "dense": lambda x: np.sum(x) ** 2 * np.sin(x[0]),
}


@pytest.mark.parametrize("name", FAMILIES)
def test_distance2_colouring_recovers_every_family(name, monkeypatch):
    """The cheaper colouring taken where the star greedy would walk too long is valid for
    every pattern (ColoredPattern checks direct recovery)."""
    from numhess import coloring
    monkeypatch.setattr(coloring, "STAR_WORK", 0.0)
    f = FAMILIES[name]
    x = np.random.default_rng(5).uniform(-1, 1, 60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        H = nh.hessian(f, sparse=True)(x)
    np.testing.assert_allclose(H.toarray(), basis_hessian(f, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", FAMILIES)
def test_sparse_equals_dense(name):
    f = FAMILIES[name]
    hs, hd = nh.hessian(f, sparse=True), nh.hessian(f)
    for seed in range(2):
        x = np.random.default_rng(seed).uniform(-1, 1, 60)
        ref = basis_hessian(f, x)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            H = hs(x)
        assert sp.issparse(H) and H.shape == (60, 60)
        np.testing.assert_allclose(H.toarray(), ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(hd(x), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", FAMILIES)
def test_pattern_has_no_false_zeros(name):
    f = FAMILIES[name]
    x0 = np.random.default_rng(0).uniform(-1, 1, 60)
    P = nh.hessian_sparsity(f, x0).toarray()
    for seed in range(3):
        x = np.random.default_rng(seed + 10).uniform(-1, 1, 60)
        assert not np.any((basis_hessian(f, x) != 0) & ~P)


def test_patterns_are_tight():
    x = np.random.default_rng(1).uniform(-1, 1, 60)
    P = nh.hessian_sparsity(FAMILIES["tridiagonal"], x)
    want = sp.diags([1, 1, 1], [-1, 0, 1], shape=(60, 60), dtype=bool)
    assert (P != want).nnz == 0
    P = nh.hessian_sparsity(FAMILIES["separable"], x)
    assert (P != sp.eye(60, dtype=bool)).nnz == 0
    P = nh.hessian_sparsity(FAMILIES["block diagonal"], x)
    assert (P != sp.kron(sp.eye(20), np.ones((3, 3))).astype(bool)).nnz == 0
    P = nh.hessian_sparsity(FAMILIES["gathered pairs"], x).toarray()
    want = np.eye(60, dtype=bool)
    want[PAIRS[:, 0], PAIRS[:, 1]] = want[PAIRS[:, 1], PAIRS[:, 0]] = True
    np.testing.assert_array_equal(P, want)


@pytest.mark.parametrize("n", [50, 500, 5000])
def test_colour_counts(n):
    x = np.random.default_rng(n).uniform(-1, 1, n)
    assert n_colors(FAMILIES["arrowhead"], x) == 2
    assert n_colors(FAMILIES["tridiagonal"], x) == 3
    assert n_colors(FAMILIES["separable"], x) == 1


def test_random_sparse_compositions():
    for seed in range(5):
        r = np.random.default_rng(100 + seed)
        i, j, k = (r.integers(0, 40, size=30) for _ in range(3))
        w = r.normal(size=30)

        def f(x):
            return np.sum(w * np.exp(x[i] * x[j]) / (2.0 + x[k] ** 2)) + np.sum(x[::3] ** 3)
        x = r.uniform(-1, 1, 40)
        H = nh.hessian(f, sparse=True)(x)
        np.testing.assert_allclose(H.toarray(), basis_hessian(f, x), rtol=1e-12, atol=1e-12)


def test_dense_hessian_warns_once():
    f = FAMILIES["dense"]
    hs = nh.hessian(f, sparse=True)
    x = np.linspace(-1, 1, 60)
    with pytest.warns(UserWarning, match="dense"):
        H = hs(x)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hs(x + 0.1)
        one = nh.hessian(lambda x: np.sum(np.sin(x)), sparse=True)(np.ones(1))  # nothing to save
    np.testing.assert_allclose(H.toarray(), basis_hessian(f, x), rtol=1e-12)
    assert one.toarray() == [[-np.sin(1.0)]]


def test_a_value_of_all_of_x_broadcast_back_is_found_dense_at_once():
    """x - np.mean(x) (or the max-shift of a log-sum-exp) repeats a row that depends on
    every input n times: the pattern analysis built those n^2 entries before asking
    whether the pattern was dense (at n = 10^5 scipy's int32 indices overflowed, a
    crash; at 4 * 10^4, 16 GB). It is dense, and said so at once; the dense Hessian it
    would take is refused with hvp as the way out (a probe)."""
    n = 100_000
    center = lambda x: np.sum((x - np.mean(x)) ** 2) + np.sum(x[1:] * x[:-1])
    x = np.linspace(-1.0, 1.0, n)
    with pytest.raises(MemoryError, match="pattern would hold"):
        nh.hessian_sparsity(center, x)
    with pytest.raises(MemoryError, match="Its pattern is dense.*hvp"), \
            pytest.warns(UserWarning, match="dense"):
        nh.hessian(center, sparse=True)(x)
    v = np.sin(np.arange(n))
    np.testing.assert_allclose(nh.hvp(center)(x, v), 2 * (v - v.mean()) + np.r_[v[1:], 0]
                               + np.r_[0, v[:-1]], rtol=1e-9, atol=1e-9)


def test_a_value_of_all_of_x_in_a_linear_term_leaves_the_pattern_sparse():
    """A sum of all of x broadcast into a sum of terms adds no pair: no rule reads the
    dependences of the terms it enters (as their tangents, Tape.tused). The walk had
    built n^2 of them: the tridiagonal Hessian called dense at n = 12,000 (1000x
    slower) and a MemoryError at 60,000."""
    def f(x):
        r = x[1:] - x[:-1] ** 2
        return np.sum(r ** 2 + np.sum(np.exp(x)))
    n = 60_000
    x = np.linspace(-1.0, 1.0, n)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        H = nh.hessian(f, sparse=True)(x)
    r = x[1:] - x[:-1] ** 2
    diag = (n - 1) * np.exp(x) + np.r_[0.0, 2 * np.ones(n - 1)] \
        + np.r_[8 * x[:-1] ** 2 - 4 * r, 0.0]
    off = -4 * x[:-1]
    ref = sp.diags([off, diag, off], [-1, 0, 1], format="csr")
    assert H.nnz == 3 * n - 2
    assert abs(H - ref).max() <= 1e-13 * abs(ref).max()


def test_elements_a_gather_drops_add_no_pairs():
    """A neighbour list's cutoff (r2[r2 < 1]) or a slice keeps some elements of a
    nonlinear array: the pairs of the others never reach the output (per element: the
    whole array's had made the 2-D cluster's pattern dense, a warning and a dense sweep,
    and a MemoryError past 10^4 variables)."""
    rng = np.random.default_rng(1)
    i, j = rng.integers(0, 300, 2000), rng.integers(0, 300, 2000)
    f = lambda x: np.sum((x[i] * x[j])[:10]) + np.sum(x ** 2)
    x = rng.standard_normal(300)
    P = nh.hessian_sparsity(f, x).toarray()
    want = np.eye(300, dtype=bool)
    want[i[:10], j[:10]] = want[j[:10], i[:10]] = True
    np.testing.assert_array_equal(P, want)
    P0 = rng.uniform(0, np.sqrt(300), (300, 2))
    I, J = np.triu_indices(300, 1)

    def energy(x):
        Q = x.reshape(-1, 2)
        r2 = np.sum((Q[I] - Q[J]) ** 2, axis=1)
        return np.sum((1.0 - r2[r2 < 1.0]) ** 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        H = nh.hessian(energy, sparse=True)(P0.ravel())
    dense = nh.hessian(energy)(P0.ravel())
    np.testing.assert_allclose(H.toarray(), dense, rtol=1e-12, atol=1e-12)
    close = np.sum((P0[I] - P0[J]) ** 2, axis=1) < 1.0
    atoms = np.zeros((300, 300), bool)     # the pairs within the cutoff, and their atoms
    atoms[I[close], J[close]] = atoms[J[close], I[close]] = True
    atoms[np.diag_indices(300)] = atoms.any(axis=1)
    want = np.kron(atoms, np.ones((2, 2), bool)) | np.eye(600, dtype=bool)
    got = np.zeros((600, 600), bool)
    got[np.repeat(np.arange(600), np.diff(H.indptr)), H.indices] = True
    np.testing.assert_array_equal(got, want)


L_GLOBAL = sp.diags([1.0, -2.0, 1.0], [-1, 0, 1], shape=(50, 50), format="csr")


def test_the_pattern_drops_each_slots_dependences_after_its_last_reader():
    """Only the outputs' dependences outlive the walk (pairwise terms: each slot's are
    as large as the slot), and the pattern is the same as ever: tridiagonal."""
    from numhess.sparsity import _Pattern, hessian_pattern
    f = lambda x: np.sum(np.sin(x[1:] * x[:-1]) ** 2) + np.sum(np.exp(x) * 0.5)
    x = np.linspace(0.1, 1.0, 40)
    tape = nh.grad(f).traced.evaluate((x,)).tape
    walk = _Pattern(tape, 10 ** 8)
    walk.run()
    assert set(walk.D) <= {int(tape.base_of[s]) for s in tape.out_slots}
    P = hessian_pattern(tape).toarray()
    np.testing.assert_array_equal(P, np.abs(np.subtract.outer(range(40), range(40))) <= 1)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "lil"])
def test_a_scipy_sparse_matrix_changed_in_place_is_noticed(fmt):
    """A scipy.sparse argument or global is compared by value at every call, as arrays
    are: changed in place (A.data *= 3), the old tape had been replayed, silently wrong;
    an equal copy traced again at every call (== of sparse matrices is no truth value),
    with a warning each time (a probe)."""
    x = np.linspace(-1.0, 1.0, 50)
    A = sp.random(30, 50, density=0.1, random_state=1, format="csr").asformat(fmt)
    h = nh.hessian(lambda x, A: 0.5 * np.sum((A @ x) ** 2), sparse=True)
    np.testing.assert_allclose(h(x, A).toarray(), (A.T @ A).toarray(), rtol=1e-13)
    if fmt == "lil":
        A[0, 0] = 5.0
    else:
        A.data *= 3.0
    np.testing.assert_allclose(h(x, A).toarray(), (A.T @ A).toarray(), rtol=1e-13)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            h(x, A.copy())
    assert h.traced.n_traces == 2
    g = nh.hessian(lambda x: 0.5 * x @ (L_GLOBAL @ x))
    np.testing.assert_allclose(g(x), L_GLOBAL.toarray(), rtol=1e-14)
    L_GLOBAL.data *= 2.0
    try:
        np.testing.assert_allclose(g(x), L_GLOBAL.toarray(), rtol=1e-14)
    finally:
        L_GLOBAL.data /= 2.0


def test_sparse_jacobians():
    """jacfwd and jacrev with sparse=True: CSR matrices equal to the dense Jacobians, from
    one forward sweep per colour of the columns (3 for tridiagonal residuals, whatever
    n), column blocks for a tuple argnums; scipy's least_squares takes them."""
    import scipy.optimize as so

    def broyden(x):         # tridiagonal residuals
        xp = np.concatenate([[0.0], x, [0.0]])
        return (3.0 - 2.0 * xp[1:-1]) * xp[1:-1] - xp[:-2] - 2.0 * xp[2:] + 1.0
    x = np.linspace(-1.0, 0.5, 400)
    J = nh.jacfwd(broyden, sparse=True)(x)
    assert isinstance(J, sp.csr_matrix) and J.nnz == 3 * 400 - 2
    np.testing.assert_array_equal(J.toarray(), nh.jacfwd(broyden)(x))
    np.testing.assert_array_equal(nh.jacrev(broyden, sparse=True)(x).toarray(), J.toarray())
    g = lambda a, b: np.concatenate([a * b[:3], np.sin(b)])
    a, b = np.array([1.0, 2.0, 3.0]), np.arange(5.0)
    for block, dense in zip(nh.jacfwd(g, argnums=(0, 1), sparse=True)(a, b),
                            nh.jacfwd(g, argnums=(0, 1))(a, b)):
        np.testing.assert_array_equal(block.toarray(), dense)
    res = so.least_squares(broyden, -np.ones(400), jac=nh.jacfwd(broyden, sparse=True))
    assert res.cost < 1e-16


def test_dense_rows_of_a_sparse_jacobian_are_rows_of_their_own():
    """Local rows and two rows over (almost) every variable: each dense row is a reverse
    sweep, the others a few coloured forward sweeps (with a dense row among them every
    column took a colour of its own: n forward sweeps, 2.4 s at n = 20,000)."""
    n = 400
    c = lambda x: np.concatenate([x[1:] ** 2 - x[:-1], np.stack([np.sum(x ** 2) - 1.0]),
                                  np.sin(x[:3]), np.stack([x[1:] @ np.cos(x[:-1])])])
    x = np.random.default_rng(5).standard_normal(n)
    jf = nh.jacfwd(c, sparse=True)
    np.testing.assert_allclose(jf(x).toarray(), nh.jacfwd(c)(x), rtol=1e-14, atol=1e-15)
    rep = jf.traced.evaluate((x,))
    _, dense, _, colours = rep.entry.derived["jacobian coloring"]
    assert list(dense) == [n - 1, n + 3] and colours <= 3
    np.testing.assert_allclose(nh.jacrev(c, sparse=True)(x / 2).toarray(),
                               nh.jacrev(c)(x / 2), rtol=1e-14, atol=1e-15)


def test_long_rows_that_the_colouring_would_walk_too_long_are_dense(monkeypatch):
    """Ten group rows of n / 10 entries (under the n / 8 of a dense row) among chain
    rows: where colouring them would walk more than STAR_WORK, the longest rows are
    reverse sweeps of their own (they had sent the whole Jacobian to the dense one, 74
    GiB at n = 10^5); the result is a canonical CSR matrix (sorted indices)."""
    from numhess import sparse
    monkeypatch.setattr(sparse, "STAR_WORK", 5000)   # the chain rows' walk: 4 (n - 1)
    n = 1000
    c = lambda x: np.concatenate([x[1:] - x[:-1] ** 2, np.sum(x.reshape(10, -1) ** 2, 1)])
    x = np.random.default_rng(6).standard_normal(n)
    for transform in (nh.jacfwd, nh.jacrev):
        jac = transform(c, sparse=True)
        J = jac(x)
        np.testing.assert_allclose(J.toarray(), nh.jacfwd(c)(x), rtol=1e-14)
        assert J.nnz == 2 * (n - 1) + n and J.has_sorted_indices
        J.has_sorted_indices = False        # (the flag was set; are they?)
        J.sort_indices()
        np.testing.assert_array_equal(J.indices, jac(x).indices)
        _, dense, _, colours = jac.traced.evaluate((x,)).entry.derived["jacobian coloring"]
        assert list(dense) == list(range(n - 1, n + 9)) and colours == 2


def test_a_sparse_hessian_is_the_callers_to_change():
    """Each result owns its arrays: eliminate_zeros() on one (explicit zeros at x = 0)
    had rewritten the cached pattern and every Hessian after it (704 off)."""
    f = lambda x: np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)
    hs = nh.hessian(f, sparse=True)
    first = hs(np.zeros(6))
    kept = first.toarray()
    first.eliminate_zeros()
    x = np.linspace(-1.0, 1.0, 6)
    np.testing.assert_allclose(hs(x).toarray(), nh.hessian(f)(x), rtol=1e-14)
    np.testing.assert_array_equal(first.toarray(), kept)


def test_sparse_needs_scalar_output():
    with pytest.raises(ValueError, match="scalar"):
        nh.hessian(lambda x: x ** 2, sparse=True)(np.ones(3))


def test_sparse_argnums_blocks():
    g = lambda x, y: np.sum(x[1:] * x[:-1] * y[0]) + np.sum(y ** 3)
    x, y = np.linspace(0.1, 1, 5), np.array([2.0, -1.0])
    H = nh.hessian(g, argnums=(0, 1), sparse=True)(x, y)
    Hd = nh.hessian(g, argnums=(0, 1))(x, y)
    for a in range(2):
        for b in range(2):
            assert sp.issparse(H[a][b])
            np.testing.assert_allclose(H[a][b].toarray(), Hd[a][b], rtol=1e-13)


@pytest.mark.slow
def test_trust_constr_with_sparse_hessian_large():
    n = 100_000
    f = FAMILIES["tridiagonal"]
    x0 = np.full(n, 0.8)
    res = minimize(f, x0, jac=nh.grad(f), hess=nh.hessian(f, sparse=True),
                   method="trust-constr", options={"maxiter": 200, "gtol": 1e-8})
    assert res.optimality < 1e-6
    np.testing.assert_allclose(res.x, np.ones(n), atol=1e-5)


def test_sparse_matches_scipy_rosen_hess_prod_large():
    r = np.random.default_rng(2)
    x, p = r.uniform(-1, 1, 20_000), r.normal(size=20_000)
    H = nh.hessian(FAMILIES["tridiagonal"], sparse=True)(x)
    assert H.nnz == 3 * 20_000 - 2
    np.testing.assert_allclose(H @ p, rosen_hess_prod(x, p), rtol=1e-12, atol=1e-9)


def test_objective_with_a_scipy_sparse_matrix_large():
    """0.5 x^T L x + sum(x^4) with L a sparse 2-D Laplacian of 10^5 unknowns: the
    product stays sparse on the tape, and the Hessian is L + diag(12 x^2) with L's
    pattern, in few colours."""
    m = 316
    T = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(m, m))
    L = (sp.kron(T, sp.eye(m)) + sp.kron(sp.eye(m), T)).tocsr()
    f = lambda x: 0.5 * x @ (L @ x) + np.sum(x ** 4)
    x = np.random.default_rng(5).normal(size=m * m)
    H = nh.hessian(f, sparse=True)(x)
    want = (L + sp.diags(12 * x ** 2)).tocsr()
    assert abs(H - want).max() < 1e-12 * abs(want).max()
    assert nh.hessian_sparsity(f, x).nnz == want.nnz
    np.testing.assert_allclose(nh.grad(f)(x), L @ x + 4 * x ** 3, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "dia", "lil", "bsr", "dok"])
@pytest.mark.parametrize("kind", [sp.csr_matrix, sp.csr_array])
def test_every_scipy_sparse_format_multiplies_traced_arrays(fmt, kind):
    """A @ x, x @ A and A.dot of a 1-D and a 2-D traced array, in every format (COO has
    its own product methods), and SciPy's methods are back after the trace."""
    before = {key: getattr(key[0], key[1]) for key in scipy_hooks._METHODS}
    A = kind(sp.random(5, 5, density=0.5, random_state=0) + sp.eye(5)).asformat(fmt)
    D = A.toarray()
    x = np.linspace(0.1, 1.0, 5)
    f = lambda x: (np.sum((A @ x) ** 2) + np.sum((x @ A) ** 3) + np.sum(A.dot(x))
                   + np.sum(A.dot(np.stack([x, x], 1))))
    want = 2 * D.T @ (D @ x) + 3 * D @ ((x @ D) ** 2) + 3 * D.sum(0)
    np.testing.assert_allclose(nh.grad(f)(x), want, rtol=1e-13)
    assert all(getattr(cls, name) is m for (cls, name), m in before.items())


def test_a_variable_every_term_shares_is_coloured_apart():
    """An arrowhead pattern (x[0] in every term) at n = 20000: the shared variable gets a
    colour of its own, the rest two (the greedy had walked n^2 neighbours of neighbours)."""
    n = 20000
    x = np.linspace(0.1, 1.0, n)
    H = nh.hessian(lambda x: np.sum(x[0] * x[1:] ** 2) + np.sum(x[:-1] * x[1:]),
                   sparse=True)(x)
    want = sp.lil_matrix((n, n))
    want.setdiag(np.r_[0.0, np.full(n - 1, 2 * x[0])])
    want.setdiag(1.0, 1)
    want.setdiag(1.0, -1)
    want[0, 1:] = 2 * x[1:] + np.r_[1.0, np.zeros(n - 2)]
    want[1:, 0] = want[0, 1:].T
    assert abs(H - want.tocsr()).max() < 1e-12
    assert ColoredPattern(H != 0).ncolors <= 4


def test_dense_blocks_colour_quickly():
    """20 dense blocks of 100 (a Python loop over blocks): coloured at distance 2, one
    colour per block column (the star greedy had taken 3.6 s)."""
    def f(x):
        s = 0.0
        for b in range(20):
            y = x[b * 100:(b + 1) * 100]
            s = s + np.sum(y) ** 2 + np.sum(np.sin(y))
        return s
    x = np.linspace(-1.0, 1.0, 2000)
    H = nh.hessian(f, sparse=True)(x)
    want = sp.kron(sp.eye(20), 2 * np.ones((100, 100))) - sp.diags(np.sin(x))
    assert abs(H - want).max() < 1e-12
    assert ColoredPattern(H != 0).ncolors == 100


def test_the_patterns_work_grows_with_the_tape(monkeypatch):
    """Thirty terms over the chain's differences: the pattern's work is in proportion to
    the tape, and is found (one total of 50 per variable had called the tridiagonal
    Hessian dense at n = 10^6); x - mean(x) in a nonlinear term, a step of n^2, is dense.
    Here without the fixed part of the budget, at n = 2000."""
    from numhess import sparsity
    monkeypatch.setattr(sparsity, "MAX_WORK", 0)
    n = 2000

    def terms(u):
        d = u[1:] - u[:-1]
        return np.sum(u ** 4) + sum(np.sum(np.cos(d + 0.1 * j)) for j in range(30))
    x = np.random.default_rng(7).standard_normal(n)
    assert nh.hessian_sparsity(terms, x).nnz == 3 * n - 2
    P = nh.hessian_sparsity(lambda u: np.sum(np.sin(u - np.mean(u))), x)
    assert P.nnz == n * n


D = np.diff(np.eye(60), axis=0)      # a difference matrix as a dense constant


@pytest.mark.parametrize("f", [
    lambda x: np.sum((D @ x) ** 4),
    lambda x: np.sum((x @ D.T) ** 4),
    lambda x: np.sum((np.stack([D[:10, :10], 2 * D[:10, :10]]) @ x[:20].reshape(2, 10, 1))
                     ** 4) + np.sum(x ** 2),
    lambda x: np.sum((D[:, :20] @ x[:60].reshape(20, 3)) ** 3) + np.sum(x ** 4),
    lambda x: np.sum((x[:60].reshape(3, 20) @ D[:, :20].T) ** 3) + np.sum(x ** 4),
], ids=["D @ x", "x @ D.T", "batched", "D @ X", "X @ D.T"])
def test_a_constant_factors_zeros_are_in_the_pattern(f):
    """A product with a constant matrix meets only the entries its non-zeros link (the
    banded Hessian of a difference matrix's product had been found dense)."""
    x = np.random.default_rng(8).standard_normal(60)
    H = nh.hessian(f)(x)
    P = nh.hessian_sparsity(f, x)
    np.testing.assert_array_equal(P.toarray(), (H != 0) | np.eye(60, dtype=bool))
    np.testing.assert_allclose(nh.hessian(f, sparse=True)(x).toarray(), H, rtol=1e-13,
                               atol=1e-13)
