"""Shapes and semantics of the public transforms, against independent references."""
import collections

import numpy as np
import scipy.linalg
import pytest
from scipy.optimize import rosen, rosen_der, rosen_hess

import numhess as nh
from test_rules import assert_close, central_diff


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def residuals(x):
    return np.stack([x[0] * x[1], np.sin(x[2]), x[0] ** 2 + x[3], np.exp(x[1] - x[3])])


@pytest.mark.parametrize("n", [2, 7, 300])
def test_rosenbrock_against_scipy(n):
    x = np.random.default_rng(n).normal(size=n)
    assert_close(nh.hessian(rosenbrock)(x), rosen_hess(x), rtol=1e-12)
    assert_close(nh.grad(rosenbrock)(x), rosen_der(x), rtol=1e-12)
    value, g = nh.value_and_grad(rosenbrock)(x)
    assert value == pytest.approx(rosen(x), rel=1e-14)
    v = np.ones(n)
    assert_close(nh.hvp(rosenbrock)(x, v), rosen_hess(x) @ v, rtol=1e-12)


def test_vector_jacobians_and_hessian():
    x = np.array([0.3, -1.2, 0.7, 2.0])
    J = central_diff(residuals, x)
    assert nh.jacfwd(residuals)(x).shape == (4, 4)
    assert_close(nh.jacfwd(residuals)(x), J)
    assert_close(nh.jacrev(residuals, chunk_size=3)(x), J)
    H = nh.hessian(residuals)(x)
    assert H.shape == (4, 4, 4)
    for i in range(4):
        gi = nh.grad(lambda z: residuals(z)[i])
        assert_close(H[i], nh.hessian(lambda z: residuals(z)[i])(x), rtol=1e-14)
        assert_close(H[i], central_diff(gi, x))


def test_matrix_input_and_output_shapes():
    def f(X):
        return np.tanh(X @ X.T)              # (3, 3) out of a (3, 2) input
    X = np.random.default_rng(0).normal(size=(3, 2))
    assert nh.jacfwd(f)(X).shape == (3, 3, 3, 2)
    assert nh.jacrev(f)(X).shape == (3, 3, 3, 2)
    assert nh.hessian(f)(X).shape == (3, 3, 3, 2, 3, 2)
    assert_close(nh.jacrev(f)(X), central_diff(f, X))
    g = nh.grad(lambda X: np.sum(f(X) ** 2))
    assert g(X).shape == (3, 2)
    H = nh.hessian(lambda X: np.sum(f(X) ** 2))(X)
    assert H.shape == (3, 2, 3, 2)
    assert_close(H, central_diff(g, X))


def test_chunk_sizes_agree():
    x = np.random.default_rng(1).normal(size=37)
    f = lambda x: np.sum(np.sin(x) * np.roll(x, 1) ** 2) + np.prod(np.cos(x[:5]))
    ref = nh.hessian(f, chunk_size=1)(x)
    for c in (2, 5, 36, 37, 100, None):
        np.testing.assert_allclose(nh.hessian(f, chunk_size=c)(x), ref, rtol=1e-13, atol=1e-13)
    J1 = nh.jacfwd(residuals, chunk_size=1)(x[:4])
    for c in (2, 3, 4, 9):
        np.testing.assert_allclose(nh.jacfwd(residuals, chunk_size=c)(x[:4]), J1, rtol=1e-14)
        np.testing.assert_allclose(nh.jacrev(residuals, chunk_size=c)(x[:4]), J1, rtol=1e-14)


def test_argnums_tuple_nested_blocks():
    def g(x, y, scale):
        return scale * np.sum(x ** 2 * np.sum(y) + np.sin(x[0] * y[1:]))
    x, y = np.array([0.5, -0.3]), np.array([1.0, 2.0, -0.5])
    H = nh.hessian(g, argnums=(0, 1))(x, y, 2.0)
    joint = lambda z: g(z[:2], z[2:], 2.0)
    Hj = nh.hessian(joint)(np.concatenate([x, y]))
    assert [[b.shape for b in row] for row in H] == [[(2, 2), (2, 3)], [(3, 2), (3, 3)]]
    assert_close(np.block([[H[0][0], H[0][1]], [H[1][0], H[1][1]]]), Hj, rtol=1e-14)
    assert_close(Hj, central_diff(nh.grad(joint), np.concatenate([x, y])))
    gx, gy = nh.grad(g, argnums=(0, 1))(x, y, 2.0)
    assert_close(np.concatenate([gx, gy]), nh.grad(joint)(np.concatenate([x, y])), rtol=1e-14)
    assert_close(nh.grad(g, argnums=1)(x, y, 2.0), gy, rtol=1e-14)
    hx, hy = nh.hvp(g, argnums=(0, 1))(x, (np.ones(2), np.ones(3)), y, 2.0)
    assert_close(np.concatenate([hx, hy]), Hj @ np.ones(5), rtol=1e-12)
    with pytest.raises(TypeError, match="second argument v is a tuple of directions"):
        nh.hvp(g, argnums=(0, 1))(x, y, (np.ones(2), np.ones(3)), 2.0)   # v third


def test_extra_args_are_constants_and_retrace_when_changed():
    def f(x, A, c):
        return np.sum((A @ x - c) ** 2)
    rng = np.random.default_rng(2)
    A, c, x = rng.normal(size=(5, 3)), rng.normal(size=5), rng.normal(size=3)
    h = nh.hessian(f)
    assert_close(h(x, A, c), 2 * A.T @ A, rtol=1e-12)
    assert_close(h(x, 2 * A, c), 8 * A.T @ A, rtol=1e-12)       # a new A is not stale
    A[0, 0] += 1.0                                               # nor is a mutated one
    assert_close(h(x, A, c), 2 * A.T @ A, rtol=1e-12)
    assert_close(nh.grad(f)(x, A, c), 2 * A.T @ (A @ x - c), rtol=1e-12)


def test_has_aux():
    def f(x):
        r = x ** 2
        return np.sum(r), {"r": r, "tag": "sq", "n": (x[0] * 3, 1.5)}
    x = np.array([1.0, 2.0, 3.0])
    g, aux = nh.grad(f, has_aux=True)(x)
    assert_close(g, 2 * x)
    np.testing.assert_allclose(aux["r"], x ** 2)
    assert aux["tag"] == "sq" and aux["n"][1] == 1.5
    x2 = np.array([-1.0, 0.5, 2.0])                            # replayed, not stale
    (value, aux2), g2 = nh.value_and_grad(f, has_aux=True)(x2)
    assert value == pytest.approx(5.25)
    np.testing.assert_allclose(aux2["r"], x2 ** 2)
    hess = nh.hessian(f, has_aux=True)
    H, aux3 = hess(x)
    assert_close(H, 2 * np.eye(3))
    H, aux3 = hess(x2)
    assert aux3["n"][0] == pytest.approx(-3.0)
    J, aux4 = nh.jacfwd(lambda x: (x ** 2, x[0]), has_aux=True)(x2)
    assert_close(J, np.diag(2 * x2)) and aux4 == pytest.approx(-1.0)
    with pytest.raises(ValueError, match="pair"):
        nh.grad(lambda x: np.sum(x), has_aux=True)(x)


def test_guards_flip_back_and_forth():
    def f(x):
        if x[0] > 0:
            return np.sum(x ** 3)
        return np.sum(np.sin(x)) * x[1]
    h, g = nh.hessian(f), nh.grad(f)
    a, b = np.array([0.5, 2.0, -1.0]), np.array([-0.5, 2.0, -1.0])
    for _ in range(3):
        assert_close(h(a), np.diag(6 * a), rtol=1e-14)
        assert_close(h(b), central_diff(g, b))
        assert_close(g(b), central_diff(f, b))
    assert h.traced.n_traces == 2            # one tape per branch, both cached


def test_replay_does_not_retrace():
    h = nh.hessian(rosenbrock)
    rng = np.random.default_rng(3)
    for _ in range(5):
        x = rng.normal(size=6)
        assert_close(h(x), rosen_hess(x), rtol=1e-12)
    assert h.traced.n_traces == 1
    h(rng.normal(size=7))                    # a new shape traces again
    assert h.traced.n_traces == 2


def test_small_array_arguments_are_compared_by_value():
    """A small array among the extra arguments is a constant: equal values (a new array,
    NaN for NaN) replay the tape, another value traces again, -0.0 for 0.0 too (copysign
    tells them apart)."""
    g = nh.grad(lambda x, c: np.sum(x * c))
    x = np.ones(3)
    c = np.array([1.0, 0.0, np.nan])
    for same in (c, c.copy(), np.array([1.0, 0.0, np.nan])):
        g(x, same)
    assert g.traced.n_traces == 1
    g(x, np.array([1.0, -0.0, np.nan]))
    assert g.traced.n_traces == 2
    assert_close(g(x, np.array([2.0, 0.0, 1.0])), [2.0, 0.0, 1.0])
    assert g.traced.n_traces == 3


def test_traced_mask_shape_is_guarded():
    f = lambda x: np.sum(x[x > 0] ** 2)
    g = nh.grad(f)
    for x in ([1.0, -2.0, 3.0], [-1.0, 2.0, 3.0], [1.0, -2.0, 3.0], [-1.0, -2.0, -3.0]):
        x = np.array(x)
        assert_close(g(x), np.where(x > 0, 2 * x, 0.0))


def test_max_and_sort_indices_are_recomputed_on_replay():
    g = nh.grad(lambda x: np.max(x) + np.sum(np.sort(x) * np.arange(3.0)))
    for x in ([3.0, 1.0, 2.0], [1.0, 3.0, 2.0], [2.0, 1.0, 3.0]):
        x = np.array(x)
        want = np.zeros(3)
        want[np.argmax(x)] += 1.0
        want[np.argsort(x)] += np.arange(3.0)
        assert_close(g(x), want)
    assert g.traced.n_traces == 1


def test_jvp_vjp():
    x = np.array([0.3, -1.2, 0.7, 2.0])
    v = np.array([1.0, 0.5, -1.0, 2.0])
    J = nh.jacfwd(residuals)(x)
    out, t = nh.jvp(residuals, (x,), (v,))
    assert_close(out, residuals(x), rtol=1e-15)
    assert_close(t, J @ v, rtol=1e-13)
    out, pull = nh.vjp(residuals, x)
    (ct,) = pull(v)
    assert_close(ct, J.T @ v, rtol=1e-13)
    f2 = lambda a, b: a * np.sum(b ** 2)
    out, pull = nh.vjp(f2, np.array([1.0, 2.0]), np.array([3.0]))
    ca, cb = pull(np.array([1.0, 1.0]))
    assert_close(ca, [9.0, 9.0]) and assert_close(cb, [18.0])
    _, t2 = nh.jvp(f2, (np.array([1.0, 2.0]), np.array([3.0])), (np.ones(2), np.zeros(1)))
    assert_close(t2, [9.0, 9.0])


def test_jvp_and_vjp_trace_a_function_once():
    """jvp and vjp take f at every call: its tape is kept between calls (they traced it at
    every call, 400x the replay on a 100-step integrator), and a new point replays it."""
    traces = []

    def f(x):
        traces.append(1)
        return np.sin(x) * x[0]
    jac = nh.jacfwd(f)
    for x in (np.array([0.3, 1.0]), np.array([-0.5, 2.0])):
        out, t = nh.jvp(f, (x,), (np.ones(2),))
        assert_close(t, jac(x) @ np.ones(2), rtol=1e-14)
        out, pull = nh.vjp(f, x)
        assert_close(pull(np.ones(2))[0], np.ones(2) @ jac(x), rtol=1e-14)
    assert len(traces) == 2     # once for jvp and vjp (one tape), once for jacfwd



def test_aux_keeps_its_containers_and_is_the_callers_to_change():
    """A namedtuple, an OrderedDict or a defaultdict comes back as itself; an array that
    does not depend on x is a copy at each call (the caller may write into it); a
    traced value in an object of another kind raises (it would stay the first call's)."""
    import collections
    Pair = collections.namedtuple("Pair", "a b")

    class Tagged(dict):
        pass

    def f(x):
        d = collections.defaultdict(list, {"s": x[0] * 2})
        return np.sum(x ** 2), (Pair(x * 3, np.arange(3.0)), collections.OrderedDict(t=x[1]), d,
                                Tagged(u=x[0]))
    g = nh.grad(f, has_aux=True)
    x = np.array([1.0, 2.0])
    _, (pair, od, d, tagged) = g(x)
    assert type(pair) is Pair and type(od) is collections.OrderedDict and d.default_factory is list
    assert type(tagged) is Tagged and tagged["u"] == 1.0
    np.testing.assert_allclose(pair.a, 3 * x)
    pair.b[:] = -1.0
    _, (pair2, od2, d2, _) = g(x + 1.0)
    np.testing.assert_array_equal(pair2.b, np.arange(3.0))
    np.testing.assert_allclose(pair2.a, 3 * (x + 1.0))
    assert od2["t"] == 3.0 and d2["s"] == 4.0

    class Box:
        def __init__(self, v):
            self.v = v
    with pytest.raises(TypeError, match="Box object"):
        nh.grad(lambda x: (np.sum(x), Box(x * 2)), has_aux=True)(x)

    class Slotted:              # (its values are no __dict__'s)
        __slots__ = ("v",)

        def __init__(self, v):
            self.v = v
    for aux, kind in [(lambda v: Slotted(v), "Slotted"), (lambda v: {"b": Slotted(v)},
                                                          "Slotted"),
                      (lambda v: collections.deque([v]), "deque")]:
        with pytest.raises(TypeError, match=f"{kind} object"):
            nh.grad(lambda x: (np.sum(x), aux(x * 2)), has_aux=True)(x)


def test_jvp_vjp_and_functional_tell_equal_callables_apart():
    """Their kept tapes are found by the function's identity: two callables equal by
    their own __eq__ (a field left out of the comparison) compute different things."""
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class Model:
        name: str
        w: float = dataclasses.field(compare=False)

        def __call__(self, x):
            return np.sum(self.w * x ** 2)
    x = np.array([1.0, 2.0])
    m1, m2 = Model("m", 1.0), Model("m", 5.0)
    assert m1 == m2
    for m in (m1, m2):
        assert nh.vjp(m, x)[0] == m(x)
        np.testing.assert_allclose(nh.jvp(m, (x,), (np.ones(2),))[1], 2 * m.w * np.sum(x))
        np.testing.assert_allclose(nh.functional.vjp(m, x)[1], 2 * m.w * x)


def test_jvp_takes_tuples_and_has_aux():
    f = lambda a, b: (np.sum(a * b), {"a": a})
    a, b = np.array([2.0, 3.0]), np.array([1.0, -1.0])
    with pytest.raises(TypeError, match="primals and tangents are tuples"):
        nh.jvp(lambda a: a * 2, a, b)
    out, t, aux = nh.jvp(f, (a, b), (np.ones(2), np.zeros(2)), has_aux=True)
    assert out == -1.0 and t == 0.0
    np.testing.assert_array_equal(aux["a"], a)
    with pytest.raises(TypeError) as err:       # hvp has no has_aux: not suggested
        nh.hvp(f)(a, np.ones(2), b)
    assert "has_aux" not in str(err.value)

def test_keywords_and_a_forgotten_has_aux_are_named():
    f = lambda x, scale=1.0: (scale * np.sum(x ** 2), {"x": x})
    with pytest.raises(TypeError, match="pass scale by position"):
        nh.grad(f, has_aux=True)(np.ones(2), scale=2.0)
    with pytest.raises(TypeError, match="pass has_aux=True"):
        nh.grad(f)(np.ones(2))


def test_scalar_style_loops():
    def chain(x):
        total = 0.0
        for i in range(len(x) - 1):
            total = total + 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
        return total
    x = np.random.default_rng(4).normal(size=8)
    assert_close(nh.hessian(chain)(x), rosen_hess(x), rtol=1e-12)


def test_list_and_int_inputs_are_converted():
    assert_close(nh.grad(rosenbrock)([1, 2, 3]), rosen_der(np.array([1.0, 2.0, 3.0])))
    assert_close(nh.hessian(lambda x: x ** 3)(2), 12.0)


def test_output_independent_of_input():
    assert_close(nh.grad(lambda x: 3.0)(np.ones(3)), np.zeros(3))
    assert_close(nh.hessian(lambda x: np.sum(np.floor(x)))(np.ones(3) * 0.5), np.zeros((3, 3)))
    assert_close(nh.jacfwd(lambda x: x)(np.ones(3)), np.eye(3))
    assert_close(nh.jacrev(lambda x: x)(np.ones(3)), np.eye(3))


def test_reused_workspaces_stay_clean():
    """Work buffers are kept between calls and chunks of different widths; constant
    sources (zero fill, constants, a constant where-branch) must not leak into them."""
    def f(x):
        y = np.concatenate([np.cumsum(x) ** 2, [2.0], np.pad(x[:3], 2) * x[0]])
        return np.where(x[:1] > 0, np.sin(y), 0.5) * y
    rng = np.random.default_rng(5)
    jr, jf, h = (nh.jacrev(f, chunk_size=3), nh.jacfwd(f, chunk_size=3),
                 nh.hessian(lambda x: np.sum(f(x) ** 2), chunk_size=3))
    for _ in range(4):
        x = rng.normal(size=7)
        J = central_diff(f, x)
        assert_close(jr(x), J)
        assert_close(jf(x), J)
        g = nh.grad(lambda x: np.sum(f(x) ** 2))
        assert_close(h(x), nh.hessian(lambda x: np.sum(f(x) ** 2), chunk_size=1)(x), rtol=1e-12)
        assert_close(h(x), central_diff(g, x))


def test_large_float_arguments_are_parameters():
    """A data matrix is loaded at every call, not compared and baked into the tape: new
    data needs no retrace and is never stale."""
    def f(w, A, y):
        return np.sum(np.logaddexp(0.0, -y * (A @ w))) + 0.5 * np.sum(w ** 2)
    rng = np.random.default_rng(6)
    A, y, w = rng.normal(size=(80, 10)), np.sign(rng.normal(size=80)), rng.normal(size=10)
    h, g = nh.hessian(f), nh.grad(f)
    for _ in range(3):
        p = 1.0 / (1.0 + np.exp(y * (A @ w)))
        assert_close(h(w, A, y), A.T @ (A * (p * (1 - p))[:, None]) + np.eye(10), rtol=1e-10)
        assert_close(g(w, A, y), central_diff(lambda z: f(z, A, y), w))
        A = A + rng.normal(size=A.shape)
        A[0, 0] += 1.0                       # also a change in place of one entry
    assert h.traced.n_traces == 1 and g.traced.n_traces == 1


def test_data_that_must_be_constant_falls_back():
    """Code that needs the data as a NumPy array while tracing (a library that converts
    it) still works: the data become constants compared by value. float() of an entry
    is a guarded value and needs no fallback."""
    def f(x, M):
        scale = float(M[0, 0])               # guarded
        # M converted (scipy.linalg.lu_factor): a constant
        return scale * (x @ scipy.linalg.lu_solve(scipy.linalg.lu_factor(M), np.eye(8)) @ x)
    M = np.arange(64.0).reshape(8, 8) / 64 + 2.0 * np.eye(8)
    g = nh.grad(f)
    for M in (M, M + np.eye(8)):
        Mi = np.linalg.inv(M)
        assert_close(g(np.ones(8), M), M[0, 0] * (Mi + Mi.T) @ np.ones(8))
    assert not g.traced.use_params


def test_parallel_chunks_agree_with_serial(monkeypatch):
    """The prange drivers (used for large problems only) give the serial results."""
    from numhess import blas, drivers
    f = lambda x: np.sum(np.sin(x) * np.roll(x, 1) ** 2) + np.prod(np.cos(x[:5]))
    r = lambda x: np.concatenate([np.sin(x) * x[0], np.cumsum(x) ** 2])
    rng = np.random.default_rng(8)
    x, A = rng.normal(size=23), rng.normal(size=(30, 23))
    # products and a factorization: their chunks run in parallel on one BLAS thread
    m = lambda x: (np.sum(np.tanh(A @ x) ** 2)
                   + np.linalg.slogdet(np.outer(x, x) + 5.0 * np.eye(23))[1])
    hm = nh.hessian(m, chunk_size=4)
    calls = lambda: (nh.hessian(f, chunk_size=4)(x), nh.jacfwd(r, chunk_size=3)(x),
                     nh.jacrev(r, chunk_size=5)(x), hm(x))
    serial = calls()
    monkeypatch.setattr(drivers, "PARALLEL_MIN_WORK", 0)
    hm = nh.hessian(m, chunk_size=4)        # plans are kept with the tape: a fresh one
    for _ in range(2):                      # twice: the kept work buffers stay clean
        parallel = calls()
    if blas.one_thread.controls is not None:
        [entry] = [e for es in hm.traced.cache.values() for e in es]
        assert entry.derived[("second", 23, 4)].workers > 1
        for a, b in zip(serial, parallel):
            np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)


def test_long_work_runs_in_steps_behind_a_progress_bar(request):
    """Long Hessians run chunk group by chunk group, updating a bar (tqdm on a terminal);
    the result is the same as in one go."""
    f = lambda x: np.sum(np.sin(x) * np.roll(x, 1) ** 2)
    x = np.random.default_rng(9).normal(size=30)
    want = nh.hessian(f, chunk_size=2)(x)
    updates = request.getfixturevalue("bar_updates")     # from here on, every work is long
    np.testing.assert_allclose(nh.hessian(f, chunk_size=2)(x), want, rtol=1e-14)
    assert sum(u for u in updates if u != "closed") == 15 and updates[-1] == "closed"


def test_no_progress_bar_off_a_terminal(monkeypatch):
    from numhess import progress
    monkeypatch.setattr("sys.stderr.isatty", lambda: False, raising=False)
    assert progress.bar(10, "Hessian") is None


def test_float64_inputs_are_read_in_place_never_kept():
    """A float64 x or v is read where it lies (no defensive copy): results own their
    memory, and strided, Fortran-ordered or byte-swapped inputs give the same answers."""
    f = lambda x: np.sum(np.sin(x) * x.ravel()[0])
    x, v = np.linspace(0.1, 1.0, 6), np.linspace(1.0, 2.0, 6)
    outs = [nh.grad(f)(x), nh.hessian(f)(x), nh.hvp(f)(x, v), nh.jacfwd(np.sin)(x),
            nh.jacrev(np.sin)(x), nh.value_and_grad(f)(x)[1], nh.jvp(np.sin, (x,), (v,))[1]]
    for out in outs:
        assert not np.shares_memory(out, x) and not np.shares_memory(out, v)
    before = [out.copy() for out in outs]
    x[:], v[:] = 7.0, 3.0
    for out, b in zip(outs, before):
        np.testing.assert_array_equal(out, b)
    x = np.linspace(0.1, 1.0, 6)
    h, hv = nh.hessian(f), nh.hvp(f)
    for y in (np.repeat(x, 2)[::2], x.astype(">f8"), x.reshape(2, 3).T.copy(order="F").T):
        assert_close(h(y), h(np.ascontiguousarray(y, dtype=np.float64)), rtol=0)
        assert_close(hv(y, y), hv(x.reshape(y.shape), x.reshape(y.shape)), rtol=0)


def test_strided_and_read_only_arrays_compile_no_kernel_again():
    """The kernels' array arguments are typed by Numba, layout and writability included:
    a caller's strided or read-only x, direction or weights must not reach them as they
    are (each would compile a sweep again, seconds to a minute)."""
    f = lambda x: np.sum(np.sin(x) ** 2) + x[0] * x[-1]
    x = np.linspace(0.1, 1.0, 6)
    g, h, hv = nh.grad(f), nh.hessian(f), nh.hvp(f)
    want = (g(x), h(x), hv(x, x))
    kernels = g.traced.evaluate((x,)).tape.kernels
    sweeps = (kernels.forward, kernels.adjoint, kernels.hessian_chunks_serial)
    compiled = [len(k.signatures) for k in sweeps]
    strided = np.repeat(x, 2)[::2]
    frozen = x.copy()
    frozen.setflags(write=False)
    for y in (strided, frozen):
        assert_close(g(y), want[0], rtol=0)
        assert_close(h(y), want[1], rtol=0)
        assert_close(hv(y, y), want[2], rtol=0)
    con = nh.constraint(lambda x: np.stack([np.sum(x ** 3), x[0] * x[1]]))
    weights = np.array([0.5, 2.0])
    weights.setflags(write=False)
    want_h = 0.5 * np.diag(6.0 * x) + 2.0 * (np.eye(6)[:, [1]] @ np.eye(6)[[0]]
                                             + np.eye(6)[:, [0]] @ np.eye(6)[[1]])
    assert_close(con.hess(x, weights), want_h, rtol=1e-14)
    assert [len(k.signatures) for k in sweeps] == compiled
