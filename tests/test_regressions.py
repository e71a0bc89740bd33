"""Every failure the differential fuzzer (tests/fuzz) or the hostile-input tests found,
kept as an explicit test with the smallest program that showed it.

Bugs still open in the engine are xfail(strict=True): when one is fixed the test passes,
strict makes that an error, and the marker (and the entry in fuzzgen.KNOWN_ENGINE_BUGS)
comes off.
"""
import numpy as np
import pytest
import scipy.special

import numhess as nh
from fuzz.fuzzgen import fd_jacobian


def check(F, x, rtol=1e-6):
    """grad and Hessian of a scalar F against Richardson finite differences, at x."""
    g = nh.grad(F)(x)
    gd, ge = fd_jacobian(F, x)
    np.testing.assert_allclose(g, gd, rtol=rtol, atol=rtol * max(1, np.abs(gd).max()))
    H = nh.hessian(F)(x)
    Hd, he = fd_jacobian(nh.grad(F), x)
    np.testing.assert_allclose(H, Hd, rtol=rtol, atol=rtol * max(1, np.abs(Hd).max()))
    return g, H


x4 = np.array([0.3, -1.2, 0.8, 1.7])


# ---------------------------------------------------------------- fixed
def test_fix_is_supported():
    # NumPy 2's np.fix is a function, not a ufunc: it reached __array_function__ unhandled
    g, H = check(lambda x: np.sum(np.fix(3 * x) * x ** 2), x4)
    np.testing.assert_allclose(g, 2 * np.fix(3 * x4) * x4)


@pytest.mark.parametrize("reduce", [
    lambda t: np.add.reduce(t, axis=0), lambda t: np.sum(t, axis=-1),
    lambda t: np.max(t, axis=0), lambda t: np.prod(t, axis=0),
    lambda t: np.cumsum(t, axis=0)])
def test_reduction_with_axis_0_of_a_0d_value(reduce):
    # NumPy accepts axis 0 and -1 on 0-d arrays (np.vdot returns one); numhess raised
    # AxisError. Fuzz program: t3 = np.vdot(...); t6 = np.add.reduce(t3, axis=0)
    F = lambda x: np.sum(reduce(np.vdot(x, x) * 0.5))
    g, H = check(F, x4)
    np.testing.assert_allclose(g, x4)


def test_split_into_unequal_parts_raises_as_in_numpy():
    # np.split was lowered as np.array_split, so a call NumPy rejects ran
    with pytest.raises(ValueError, match="equal division"):
        nh.grad(lambda x: np.sum(np.split(x, 3)[0]))(np.arange(4.0))
    g = nh.grad(lambda x: np.sum(np.array_split(x, 3)[0] ** 2))(np.arange(4.0))
    np.testing.assert_allclose(g, [0, 2, 0, 0])


def test_writing_through_a_view_reaches_the_base():
    # x[1:] is a view in NumPy: writing into it changes x. numhess made it a copy, and so
    # differentiated another function than the one written (silently).
    def F(x):
        v = x[1:]
        v[0] = 0.0
        return np.sum(x ** 2)
    g, _ = check(F, x4)
    np.testing.assert_allclose(g, [2 * x4[0], 0.0, 2 * x4[2], 2 * x4[3]])


def test_a_view_sees_later_writes_to_its_base():
    def F(x):
        v = x[1:]
        x[1] = 10.0
        return np.sum(v ** 2)
    g, _ = check(F, x4)
    np.testing.assert_allclose(g, [0.0, 0.0, 2 * x4[2], 2 * x4[3]])


def test_augmented_assignment_changes_every_alias():
    # y = x; y *= 2 doubles x too in NumPy; numhess rebound y only
    def F(x):
        y = x
        y *= 2.0
        return np.sum(x ** 2)
    g, _ = check(F, x4)
    np.testing.assert_allclose(g, 8 * x4)


def test_augmented_assignment_into_a_reshaped_input():
    def F(x):
        X = x.reshape(2, 2)
        X[:, 0] -= X[0, 1]
        return np.sum(x * np.arange(1.0, 5.0))
    x = x4.copy()
    g, _ = check(F, x)
    # x' = (x0 - x1, x1, x2 - x1, x3); F = x0' + 2 x1 + 3 x2' + 4 x3
    np.testing.assert_allclose(g, [1.0, -1.0 + 2.0 - 3.0, 3.0, 4.0])
    np.testing.assert_array_equal(x, x4)


def test_any_and_all_of_an_empty_traced_array():
    # NumPy: any() of nothing is False, all() is True; numhess raised "zero-size array to
    # reduction operation". Fuzz program: t1 = x[np.array([False])]; np.any(t1 > 0) * t1
    def F(x):
        e = x[np.zeros(x.shape, bool)]
        return (np.sum(x ** 2) * np.all(e > 0) + np.sum(x) * np.any(e > 0)
                + np.sum(np.any(x[:, :0] > 0, axis=1) * x[:, 0]))
    x = x4.reshape(2, 2)
    g, _ = check(F, x)
    np.testing.assert_allclose(g, 2 * x)


def test_products_over_an_empty_axis_and_extremes_of_nothing_with_initial():
    # sums of no terms are zeros (np.dot(x[:0], x[:0]) raised "cannot reshape array of
    # size 0", einsum a broadcast error), and max(x[:0], initial=c) is c (it raised "zero-
    # size array to reduction operation"): a probe of NumPy code found them
    def F(x):
        A = x.reshape(2, 2)
        return (np.dot(x[:0], x[:0]) + np.einsum("i,i->", x[:0], x[:0])
                + np.sum(np.einsum("ij,jk->ik", A[:, :0], np.ones((0, 3))))
                + np.inner(x[:0], x[:0]) + np.tensordot(x[:0], x[:0], 1)
                + np.sum(A[:, :0] @ np.ones((0, 3))) + np.sum(x ** 2)
                + np.max(x[:0], initial=0.5) + np.sum(np.min(A[:, :0], axis=1, initial=x[1])))
    g, _ = check(F, x4)
    np.testing.assert_allclose(g, 2 * x4 + 2 * (np.arange(4) == 1))


@pytest.mark.parametrize("a", [np.zeros((2, 2)), [[0.0, 1.0], [0.0, 0.0]],
                               [[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 2.0]],
                               np.outer([1.0, 2.0, 3.0], [1.0, -1.0, 2.0]),
                               np.outer([1.0, 2.0, 3.0, 4.0], [1.0, -1.0, 2.0, 0.5]),
                               [[1e-300, 0.0], [0.0, 0.0]]],
                         ids=["zeros", "nilpotent", "repeated rows", "rank 1", "rank 1 4x4",
                              "tiny pivot"])
def test_det_at_a_zero_pivot(a):
    # elimination met a column with nothing left to eliminate and took its pivot as 1:
    # the derivatives through that column's other entries were lost (the 2x2 zero
    # matrix's Hessian lacked its -1s, silently; a pivot of 1e-300 made it NaN). det is
    # then the sum over permutations of signed products, traced at the singular point
    a = np.asarray(a, float)
    n = a.shape[0]
    F = lambda x: np.linalg.det(x.reshape(n, n)) + np.sum(x ** 3)
    check(F, a.ravel())
    h = nh.hessian(F)       # the singular point's tape, then a regular point's
    for x in (a.ravel(), a.ravel() + 0.1 * np.sin(np.arange(n * n) + 1.0)):
        Hd, _ = fd_jacobian(nh.grad(F), x)
        np.testing.assert_allclose(h(x), Hd, rtol=1e-6, atol=1e-6 * max(1, np.abs(Hd).max()))


def test_infinite_first_partials_meet_no_second_order_cotangent():
    # x ** p of a constant array p at x = 0: the partial p x^(p - 1) is infinite, and the
    # binary rule multiplied it by the result's second-order cotangent, known to be zero
    # (Tape.gzero; in the support sweeps, not chained): NaN on the diagonal, where
    # x ** 0.5 gave -inf (JAX: -inf and inf). A probe of vector functions found it
    from numhess import supports
    from numhess.traced import TracedFunction
    p = np.array([0.5, -1.0, 2.0, 0.5])
    F = lambda x: np.sum(x ** p)
    x = np.array([0.0, 0.0, 1.5, 4.0])
    want = [-np.inf, np.inf, 2.0, -1.0 / 32.0]
    np.testing.assert_array_equal(np.diag(nh.hessian(F)(x)), want)
    i = np.arange(4)
    np.testing.assert_array_equal(nh.hessian(lambda x: x ** p)(x)[i, i, i], want)
    rep = TracedFunction(F, 0).evaluate((x,))
    for k in (1, 3):
        H = supports.hessian(rep, supports.Plan(supports.maps(rep.tape), k, 1.0))
        np.testing.assert_array_equal(np.diag(H), want)


def test_orders_k_and_a_follow_memory_numhess_knows_or_refuse():
    """ravel/flatten in order 'K' or 'A' read the memory order of a view of a 1-D array
    (and of asfortranarray's and asarray(order='F')'s copies); of another array (a
    ufunc's result, whose order NumPy takes from its operands) or a broadcast they raise
    rather than guess: (x.T + 1).ravel('K') was C's order, silently."""
    x = np.arange(12.0)
    for fn in [lambda z: z.reshape(3, 4).T.ravel("K"),
               lambda z: np.asarray(z.reshape(3, 4) * 2.0, order="F").ravel("K"),
               lambda z: np.array(z.reshape(3, 4), order="F").flatten("A")]:
        np.testing.assert_array_equal(nh.jacfwd(fn)(x) @ x, fn(x))
    for fn in [lambda z: (z.reshape(3, 4).T + 1.0).ravel("K"),
               lambda z: np.broadcast_to(z[:4], (3, 4)).ravel("K")]:
        with pytest.raises(NotImplementedError, match="order 'K' or 'A'"):
            nh.jacfwd(fn)(x)
    with pytest.raises(ValueError, match="3-dimensional vectors"):
        nh.grad(lambda z: np.sum(np.linalg.cross(z[:2], z[2:4])))(x[:4])


def test_nested_lists_and_lists_of_arrays_are_arrays():
    # a list was packed one level deep only: [[x0, x1], [x2, 1]] and [x, x**2] raised
    # "np.array() of traced arrays of different sizes" (NumPy makes them (2, 2), (2, n))
    J = nh.jacfwd(lambda x: [[x[0], x[1]], [x[2], 1.0]])(x4[:3])
    np.testing.assert_array_equal(J.reshape(4, 3), np.vstack([np.eye(3), np.zeros(3)]))
    J = nh.jacfwd(lambda x: [x, x ** 2])(x4)
    np.testing.assert_allclose(J, np.stack([np.eye(4), np.diag(2 * x4)]))


EMPTY_PATTERN = {
    "empty gather": lambda x: np.sum(x[:0]) + np.sum(x ** 3),
    "empty constant times traced": lambda x: np.sum(np.tanh(np.zeros((1, 0))) * x[0])
    + np.sum(x ** 3),
}


@pytest.mark.parametrize("n, sparse", [(3, True), (40, False)])
@pytest.mark.parametrize("case", EMPTY_PATTERN)
def test_empty_values_in_hessian_pattern(case, n, sparse):
    # sparsity.py: an empty value (x[:0], x[5:2], an empty constant) broke the Hessian
    # pattern ('blocks must be 2-D' from the gather rule, 'shapes (0,) and (1,) not aligned'
    # from interact), so sparse=True failed, and so did the dense Hessian for n >= 32, which
    # uses the pattern. Fuzz programs: x[-5:12:-2]; np.broadcast_to(x[1:], (2, 0)) * const.
    x = np.linspace(0.1, 1.0, n)
    H = nh.hessian(EMPTY_PATTERN[case], sparse=sparse)(x)
    H = H.toarray() if sparse else H
    np.testing.assert_allclose(H, np.diag(6 * x))


# ---------------------------------------------------------------- open (engine)
# (none here now: see test_hostile.py and test_concurrency.py for the open ones)


def test_numba_compiles_inside_a_trace():
    """A Numba function compiled during a trace, while np.ascontiguousarray and
    np.asarray are numhess's wrappers, types them as NumPy's own."""
    import numba

    @numba.njit
    def helper(a):
        return np.ascontiguousarray(a).sum() + np.asarray(a, np.float32)[0]

    def f(x):
        return np.sum(x ** 2) * helper(np.ones(3))      # compiled now, inside the trace
    x = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(nh.grad(f)(x), 8 * x)


def test_work_buffers_span_a_bounded_address_space(monkeypatch):
    """The buffers hold every slot, a data matrix's too; their width is capped so the
    address space they span stays granted (x @ A @ x with A 2000 x 2000 had asked 30 GB).
    Here the cap is lowered to 64 MB on a 300 x 300 matrix."""
    from numhess import drivers
    monkeypatch.setattr(drivers, "ADDRESS_BYTES", 64 * 2 ** 20)
    n = 300
    A = np.random.default_rng(3).standard_normal((n, n))
    x = np.linspace(-1.0, 1.0, n)
    f = lambda x, A: 0.5 * x @ A @ x + np.sum(np.tanh(x))
    H = nh.hessian(f)(x, A)
    t = np.tanh(x)
    np.testing.assert_allclose(H, 0.5 * (A + A.T) - np.diag(2 * t * (1 - t * t)), atol=1e-12)
    tf = nh.traced.TracedFunction(f)
    rep = tf.evaluate((x, A))
    plan = drivers._cached_plan(rep, "second", n)
    assert plan.workers * plan.k * rep.tape.total * 8 * 2 <= drivers.ADDRESS_BYTES
    assert plan.k < n


def test_a_logistic_loss_through_one_minus_expit_keeps_its_precision():
    """expit's derivative is y (1 - y) of the rounded y, as JAX's and torch's: log1p's
    1 / (1 - y) then cancels it exactly. With the exact 1 - y = expit(-z) the gradient of
    log(1 - expit(z)) was 1e-3 off at z = 30 and the Hessian's sign wrong near z = 20."""
    f = lambda z: np.sum(np.log1p(-scipy.special.expit(z)))
    for z in (5.0, 19.77, 30.0):
        p, q = scipy.special.expit(z), scipy.special.expit(-z)
        np.testing.assert_allclose(nh.grad(f)(np.array([z])), [-p], rtol=1e-15)
        # (the rounded 1 - p is the function's own: 2e-4 off the exact one at z = 30)
        np.testing.assert_allclose(nh.hessian(f)(np.array([z])), [[-p * q]], rtol=1e-3)


def _cutoff(x):
    return np.sum(x ** 2) if np.linalg.norm(x) > 1.0 else np.sum(x ** 4)


@pytest.mark.parametrize("f, x, grad, hess", [
    (lambda x: np.sum(np.where(np.sqrt(x) > 1.5, x, 2 * x)), [0.0, 1.0], [2, 2], [0, 0]),
    (lambda x: np.sum(x ** 2) if np.sqrt(x[0]) > 1 else np.sum(x ** 3), [0.0, 1.0],
     [0, 3], [0, 6]),
    (_cutoff, [0.0, 0.0], [0, 0], [0, 0]),
    (lambda x: np.sum(np.copysign(x ** 2, x)), [0.0, 1.0], [0, 2], [2, 2]),   # abs'(0) = 1
    (lambda x: np.sum(x[np.log(x) < 0.5] ** 2), [0.0, 1.0], [0, 2], [2, 2]),
], ids=["where", "if", "norm cutoff", "copysign", "mask"])
def test_values_only_compared_have_no_derivatives(f, x, grad, hess):
    """A value that only decides (a condition, a mask, an `if`, copysign's sign) is not
    active: its infinite partial at 0 (sqrt, log, 1 / x, a norm) had made NaN gradients
    and Hessians through its zero cotangent."""
    x, H = np.array(x), np.diag(hess).astype(float)
    np.testing.assert_array_equal(nh.grad(f)(x), grad)
    np.testing.assert_array_equal(nh.hessian(f)(x), H)
    np.testing.assert_array_equal(nh.hvp(f)(x, np.ones(2)), H @ np.ones(2))
    np.testing.assert_array_equal(nh.jacrev(f)(x), grad)


def test_a_loop_writing_elements_one_by_one_is_one_gather():
    """y[i] = ... in a loop (reading y[i - 1], and through a view) makes no gather until
    y is read whole: the tape grows with n, where a gather of all of y per write had
    made it n^2 (n = 5000: 4 GB)."""
    def f(x):
        y = np.zeros_like(x)
        tail = y[1:]                   # a view: writes through it reach y
        y[0] = x[0]
        for i in range(1, x.size):
            tail[i - 1] = y[i - 1] * 0.5 + np.sin(x[i]) * x[i - 1]
        return np.sum(y ** 2) + y[3] * y[-1]

    x = np.linspace(0.1, 1.0, 300)
    g, h = nh.grad(f), nh.hessian(f)
    np.testing.assert_allclose(g(x), fd_jacobian(f, x)[0], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(h(x), fd_jacobian(g, x)[0], rtol=1e-7, atol=1e-7)
    (entry,) = next(iter(g.traced.cache.values()))
    assert entry.tape.total < 20 * x.size


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("name, f, at_nan, later", [
    ("argsort", lambda x: np.sum(x[np.argsort(x)] ** 2 * np.array([1.0, 2.0, 3.0])),
     [1.0, 2.0, np.nan], [0.3, 1.7, -0.9]),
    ("interp", lambda x: np.sum(np.interp(x, [0.0, 1.0, 2.0, 3.0], [0.0, 7.0, 8.0, 2.0]) * x),
     [0.5, np.nan, 2.5], [0.5, 0.2, 2.5]),
    ("expm", lambda x: np.sum(scipy.linalg.expm(np.reshape(x, (2, 2)))),
     [np.nan, 1.0, 1.0, 1.0], [40.0, 5.0, -3.0, 45.0]),
    ("expm inf", lambda x: np.sum(scipy.linalg.expm(np.reshape(x, (2, 2)))),
     [np.inf, 1.0, 1.0, 1.0], [40.0, 5.0, -3.0, 45.0]),
])
def test_a_trace_at_nan_is_not_replayed_where_its_decisions_do_not_hold(name, f, at_nan,
                                                                          later):
    """Guards that assert the trace's choice still holds (a sort order, an interval, a
    number of squarings) are true at the trace point, NaN or not: recorded false at a
    NaN, a later point where they fail matched them and replayed the NaN's tape."""
    vg = nh.value_and_grad(f)
    vg(np.array(at_nan))
    value, g = vg(np.array(later))
    fresh_value, fresh_g = nh.value_and_grad(f)(np.array(later))
    np.testing.assert_allclose(value, f(np.array(later)), rtol=1e-9)
    np.testing.assert_allclose(value, fresh_value, rtol=1e-12)
    np.testing.assert_allclose(g, fresh_g, rtol=1e-12)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nan_in_order_statistics_and_sorted_bins_is_numpys():
    """A NaN makes a median or quantile NaN, an all-NaN slice's nanmax NaN, and a NaN's
    insertion point the end of the bins (NumPy sorts NaN last)."""
    x = np.array([np.nan, 1.0, 2.0, 0.5])
    for f in [np.median, lambda x: np.quantile(x, [0.3, 0.9]),
              lambda x: np.percentile(np.reshape(x, (2, 2)), 50.0, axis=1),
              lambda x: np.nanmax(np.reshape(x, (2, 2)) * np.array([[np.nan], [1.0]]), axis=1),
              lambda x: np.nanmin(x * np.nan)]:
        np.testing.assert_array_equal(_value(f, x), f(x))
    bins = np.array([0.0, 1.0, 2.0, np.nan])
    W = np.arange(1.0, 6.0)
    for side in ("left", "right"):
        g = lambda x: np.sum(W[np.searchsorted(bins, x, side=side)] * x)
        for point in ([np.nan, 1.5], [0.5, 1.5], [np.nan, np.nan]):
            np.testing.assert_array_equal(_value(g, np.array(point)), g(np.array(point)))
    d = lambda x: np.sum(W[np.digitize(x, bins[:3])] * x)
    np.testing.assert_array_equal(_value(d, x), d(x))


def _value(f, x):
    """f's value as numhess replays it (a Jacobian's transform carries it along)."""
    return nh.vjp(f, x)[0]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_remainder_floor_divide_and_fmod_are_numpys_exactly():
    """%, //, divmod and fmod take NumPy's values (the remainder exact, from fmod):
    a - b * floor(a / b) had made 1.0 % 0.1 zero (NumPy 0.0999...) and 1e17 % 3 zero.
    Their derivatives are those of a - b q, q the whole quotient of the piece."""
    a = np.array([1.0, 5.0, 1e17, -5.0, 0.7, -0.7, 3.0, 0.0, -0.0, 2.5, np.inf, 1.0])
    b = np.array([0.1, 0.1, 3.0, 0.1, -0.3, 0.3, 1.5, 2.0, -2.0, 0.0, 2.0, np.nan])
    x = np.concatenate([a, b])
    n = a.size
    for op in (np.remainder, np.fmod, np.floor_divide, lambda a, b: np.divmod(a, b)[1],
               lambda a, b: np.divmod(a, b)[0]):
        f = lambda x: op(x[:n], x[n:])
        np.testing.assert_array_equal(_value(f, x), f(x))
    # smooth points: derivatives against NumPy's own pieces
    a, b = np.array([1.3, -2.2, 7.9]), np.array([0.4, 0.7, -1.6])
    x = np.concatenate([a, b])
    for op, q in ((np.remainder, np.floor_divide(a, b)), (np.fmod, np.trunc(a / b))):
        J = nh.jacfwd(lambda x: op(x[:3], x[3:]))(x)
        np.testing.assert_array_equal(J, np.hstack([np.eye(3), -np.diag(q)]))
        assert not nh.hessian(lambda x: np.sum(op(x[:3], x[3:])))(x).any()
    assert not nh.jacfwd(lambda x: np.floor_divide(x, 0.3))(a).any()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("fuse", ["off", "now"])
def test_logaddexp_weights_come_from_the_difference(fuse, monkeypatch):
    """logaddexp's partials are expit(a - b) and expit(b - a): from exp(a - y) of the
    rounded y they summed to 2 at a = b = 1e16, and logaddexp(inf, 0)'s was NaN."""
    from numhess import fused
    monkeypatch.setattr(fused, "MODE", fuse)
    x = np.array([1e16, 1e16 + 2.0, 1e308, 1e308, np.inf, 0.0, 3.0, -1.0] * 512)
    for f, s in ((np.logaddexp, 1.0), (np.logaddexp2, np.log(2.0))):
        grad = nh.grad(lambda x: np.sum(f(x[::2] * 1.0, x[1::2] * 1.0)))
        g = grad(x)
        assert (grad.traced.evaluate((x,)).tape.fused is not None) == (fuse == "now")
        d = s * (x[::2] - x[1::2])
        np.testing.assert_allclose(g[::2], scipy.special.expit(d), rtol=1e-15)
        np.testing.assert_allclose(g[1::2], scipy.special.expit(-d), rtol=1e-15)


def test_many_small_batched_blocks_are_products_and_sums():
    """A batched product of small blocks is elementwise products and a sum (the
    product's rules called BLAS block by block: a finite-element energy's gradient 10x
    JAX's); the values are NumPy's, derivatives against finite differences."""
    from numhess import kernels as K
    G = np.random.default_rng(2).normal(size=(40, 2, 3))
    R = np.random.default_rng(3).normal(size=(3, 3))
    fs = [lambda u: np.sum(np.sqrt(1.0 + np.sum(np.einsum("tij,tj->ti", G, u.reshape(40, 3))
                                                 ** 2, axis=1))),
          lambda u: np.sum(np.sin(R @ u.reshape(40, 3, 1))),
          lambda u: np.sum((u.reshape(40, 1, 3) @ G.transpose(0, 2, 1)) ** 2)]
    u = np.random.default_rng(4).normal(size=120)
    for f in fs:
        tape = nh.grad(f).traced.evaluate((u,)).tape
        assert K.MATMUL not in tape.op
        np.testing.assert_allclose(_value(f, u), f(u), rtol=1e-14)
        check(f, u)


def test_matmul_into_a_traced_out():
    """np.matmul(A, x, out=np.zeros_like(x)), as numhess's error for a NumPy out advises,
    had raised an IndexError (out= was filled as by an elementwise ufunc)."""
    A = np.arange(9.0).reshape(3, 3)
    for f in [lambda x: np.sum(np.matmul(A, x, out=np.zeros_like(x)) ** 2),
              lambda x: np.sum(np.matmul(A * x, A, out=np.zeros_like(x, shape=(3, 3))) ** 2)]:
        x = np.array([1.0, 2.0, -1.0])
        np.testing.assert_allclose(nh.grad(f)(x), fd_jacobian(f, x)[0], rtol=1e-6)
        np.testing.assert_allclose(nh.hessian(f)(x), fd_jacobian(nh.grad(f), x)[0], rtol=1e-6)


def test_tapes_kept_within_a_memory_budget(monkeypatch):
    """Past the newest, a function's tapes (and the functions jvp keeps) are dropped,
    oldest first, beyond CACHE_BYTES: a function traced again at every call had kept 32
    tapes of 70 MB."""
    from numhess import api, traced
    g = traced.TracedFunction(lambda x: np.sum(np.exp(x) * x))
    for n in (100, 200, 300):
        g.evaluate((np.ones(n),))
    assert sum(map(len, g.cache.values())) == 3
    budget = g.nbytes() - 1
    monkeypatch.setattr(traced, "CACHE_BYTES", budget)
    g.evaluate((np.ones(400),))
    assert list(g.cache)[-1] == ((400,),) and ((100,),) not in g.cache
    assert g.nbytes() <= budget
    monkeypatch.setattr(traced, "CACHE_BYTES", 1)
    g.evaluate((np.ones(500),))
    assert list(g.cache) == [((500,),)]
    fs = [lambda x, i=i: np.sum(x * i) for i in range(3)]
    for f in fs:
        nh.jvp(f, (np.ones(3),), (np.ones(3),))
    assert sum(e[0] in fs for e in api._memo.built.values()) == 1
    np.testing.assert_allclose(nh.jvp(fs[0], (np.ones(3),), (np.ones(3),))[1], 0.0)
