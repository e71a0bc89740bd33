"""Hostile and unusual inputs: each gets a right answer or a clear error, never a wrong
number, and the caller's arrays are never modified. docs/inputs.md is the table of what
each input gets; this file is its proof.
"""
import math
import statistics
import warnings

import numpy as np
import pytest
import scipy.linalg
import scipy.special
import scipy.stats

import numhess as nh
from fuzz.fuzzgen import fd_jacobian

x3 = np.array([0.7, -1.3, 2.1])


def f(x):
    return np.sum(np.sin(x) * x ** 2)


def grad_f(x):
    return np.cos(x) * x ** 2 + 2 * x * np.sin(x)


def hess_f(x):
    x = np.asarray(x, float)
    return np.diag(-np.sin(x) * x ** 2 + 4 * x * np.cos(x) + 2 * np.sin(x))


ALL = {
    "grad": lambda fn: nh.grad(fn),
    "value_and_grad": lambda fn: nh.value_and_grad(fn),
    "hessian": lambda fn: nh.hessian(fn),
    "hessian chunked": lambda fn: nh.hessian(fn, chunk_size=2),
    "sparse hessian": lambda fn: nh.hessian(fn, sparse=True),
    "hvp": lambda fn: (lambda x: nh.hvp(fn)(x, np.ones(np.shape(x)))),
    "jacfwd": lambda fn: nh.jacfwd(fn),
    "jacrev": lambda fn: nh.jacrev(fn),
    "jvp": lambda fn: (lambda x: nh.jvp(fn, (x,), (np.ones(np.shape(x)),))),
    "vjp": lambda fn: (lambda x: nh.vjp(fn, x)[1](1.0)),
}


def _quiet(call, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")     # sparse=True on a dense Hessian warns
        return call(*args)


# ---------------------------------------------------------------- NaN and Inf
NAN_FUNCTIONS = {
    "smooth": f,
    "max": lambda x: np.max(x) * np.sum(x),
    "sort": lambda x: np.sum(np.sort(x) * np.arange(x.size)),
    "abs": lambda x: np.sum(np.abs(x) ** 3),
    "maximum": lambda x: np.sum(np.maximum(x, 0.5) ** 2),
    "where": lambda x: np.sum(np.where(x > 0, x ** 2, -x)),
    "clip": lambda x: np.sum(np.clip(x, -1, 1) ** 2),
    "guard": lambda x: np.sum(x ** 2) if x[0] > 0 else np.sum(x ** 3),
    "traced mask": lambda x: np.sum(x[x > 0] ** 2),
    "log": lambda x: np.sum(np.log(np.abs(x))),
    "prod": lambda x: np.prod(x),
    "norm": lambda x: np.linalg.norm(x),
}
BAD = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}


@pytest.mark.parametrize("bad", BAD)
@pytest.mark.parametrize("name", NAN_FUNCTIONS)
def test_nan_and_inf_propagate_and_never_crash(name, bad):
    fn = NAN_FUNCTIONS[name]
    vg, H, hv = nh.value_and_grad(fn), nh.hessian(fn), nh.hvp(fn)
    clean = np.array([0.8, 2.0, 0.3])   # away from the kinks (0.5, 1)
    hostile = clean.copy()
    hostile[1] = BAD[bad]
    for x in (clean, hostile, clean):    # trace clean, replay hostile, then clean again
        with np.errstate(all="ignore"):
            want = fn(x.copy())
        value, g = vg(x)
        Hx, hvx = H(x), hv(x, np.ones(3))
        assert g.shape == (3,) and Hx.shape == (3, 3) and hvx.shape == (3,)
        # the value is NumPy's, NaN and Inf included
        np.testing.assert_array_equal(value, want)
        if np.all(np.isfinite(x)):
            gd, _ = fd_jacobian(fn, x)
            np.testing.assert_allclose(g, gd, rtol=1e-6)


def test_nan_stays_in_its_own_rows_of_a_separable_hessian():
    x = np.array([0.7, np.nan, 2.1])
    H = nh.hessian(f)(x)
    assert np.isnan(H[1, 1])
    keep = [0, 2]
    np.testing.assert_allclose(H[np.ix_(keep, keep)], hess_f(x)[np.ix_(keep, keep)])
    np.testing.assert_allclose(nh.grad(f)(x)[keep], grad_f(x)[keep])


# ---------------------------------------------------------------- empty and 0-d
def test_empty_input():
    e = np.zeros(0)
    v = lambda x: np.sin(x) * x
    assert nh.grad(f)(e).shape == (0,)
    value, g = nh.value_and_grad(f)(e)
    assert value == 0.0 and g.shape == (0,)
    assert nh.hessian(f)(e).shape == (0, 0)
    assert _quiet(nh.hessian(f, sparse=True), e).shape == (0, 0)
    assert nh.hvp(f)(e, e).shape == (0,)
    assert nh.jacfwd(v)(e).shape == (0, 0)
    assert nh.jacrev(v)(e).shape == (0, 0)
    assert nh.hessian(v)(e).shape == (0, 0, 0)
    assert nh.hessian(f)(np.zeros((0, 3))).shape == (0, 3, 0, 3)
    assert nh.vjp(v, e)[1](e)[0].shape == (0,)


def test_empty_output():
    x = np.ones(3)
    assert nh.jacfwd(lambda x: x[:0])(x).shape == (0, 3)
    assert nh.jacrev(lambda x: x[:0])(x).shape == (0, 3)
    assert nh.hessian(lambda x: x[:0] * x[0])(x).shape == (0, 3, 3)
    assert nh.jacfwd(lambda x: [])(x).shape == (0, 3)
    with pytest.raises(ValueError, match="scalar output"):
        nh.grad(lambda x: x[:0])(x)


@pytest.mark.parametrize("x0", [1.5, np.float64(1.5), np.array(1.5), np.float32(1.5), 3])
def test_0d_input(x0):
    x = float(x0)
    g = nh.grad(f)(x0)
    assert isinstance(g, np.ndarray) and g.shape == () and g.dtype == np.float64
    np.testing.assert_allclose(g, grad_f(x))
    np.testing.assert_allclose(nh.hessian(f)(x0), hess_f([x])[0, 0])
    np.testing.assert_allclose(nh.hvp(f)(x0, 2.0), 2 * hess_f([x])[0, 0])
    assert nh.jacfwd(lambda x: np.stack([x, x ** 2]))(x0).shape == (2,)
    assert nh.hessian(lambda x: np.stack([x, x ** 2]))(x0).shape == (2,)


# ---------------------------------------------------------------- dtypes and containers
@pytest.mark.parametrize("make", [
    lambda: [1, -2, 3], lambda: (1.0, -2.0, 3.0), lambda: [1.0, -2, 3],
    lambda: np.array([1, -2, 3], dtype=np.int32), lambda: np.array([1, -2, 3], dtype=np.int64),
    lambda: np.array([1, 254, 3], dtype=np.uint8), lambda: np.array([True, False, True]),
    lambda: np.array([1.1, -2.2, 3.3], dtype=np.float32),
    lambda: np.array([1.1, -2.2, 3.3], dtype=np.float16),
    lambda: np.array([1.1, -2.2, 3.3], dtype=np.longdouble),
], ids=["list of ints", "tuple", "mixed list", "int32", "int64", "uint8", "bool", "float32",
        "float16", "longdouble"])
def test_numeric_inputs_are_converted_to_float64(make):
    x = make()
    x_before = np.array(x, copy=True)
    as64 = np.asarray(x).astype(np.float64)      # what numhess computes with
    g, H = nh.grad(f)(x), nh.hessian(f)(x)
    assert g.dtype == np.float64 and H.dtype == np.float64
    np.testing.assert_allclose(g, grad_f(as64), rtol=1e-14)
    np.testing.assert_allclose(H, hess_f(as64), rtol=1e-14, atol=1e-14)
    np.testing.assert_array_equal(np.asarray(x), x_before)   # untouched
    if isinstance(x, np.ndarray):
        assert x.dtype == x_before.dtype


def test_float32_is_computed_in_float64_not_float32():
    # the derivative at the float32 value, to float64 precision (not float32's 1e-7)
    x32 = np.array([0.1, 0.2, 0.3], dtype=np.float32)
    g = nh.grad(lambda x: np.sum(np.exp(x) * 1e8))(x32)
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, np.exp(x32.astype(np.float64)) * 1e8, rtol=1e-15)


def test_hvp_direction_and_static_arguments_of_other_dtypes():
    hv = nh.hvp(lambda x, a: np.sum(a * x ** 3))
    got = hv(np.arange(3), [1, 0, 1], np.array([1, 2, 3], dtype=np.int8))
    np.testing.assert_allclose(got, [0.0, 0.0, 6 * 2 * 3])


@pytest.mark.parametrize("bad, err", [
    ("text", "numeric"), (np.array(["a", "b"]), "numeric"), ([1, None], "numeric"),
    (np.array(["2020-01-01"], dtype="datetime64[D]"), "numeric"), (1 + 2j, "complex"),
    ((i for i in range(3)), "numeric"), ({"a": 1.0}, "numeric"),
])
def test_non_numeric_inputs_raise(bad, err):
    with pytest.raises(TypeError, match=err):
        nh.grad(f)(bad)


def test_ragged_list_input_raises():
    with pytest.raises(ValueError, match="inhomogeneous"):
        nh.grad(f)([[1.0, 2.0], [3.0]])


# ---------------------------------------------------------------- memory layouts
def _layouts():
    base = np.linspace(-1.0, 2.0, 24).reshape(4, 6)
    ro = base.copy()
    ro.flags.writeable = False
    return {
        "strided": base[:, ::2], "transposed": base.T, "fortran": np.asfortranarray(base),
        "negative strides": base[::-1, ::-1], "read-only": ro,
        "broadcast (read-only, zero strides)": np.broadcast_to(base[0], (4, 6)),
        "memoryview": memoryview(base.copy()),
    }


@pytest.mark.parametrize("name", list(_layouts()))
def test_any_memory_layout_gives_the_result_of_a_contiguous_copy(name):
    x = _layouts()[name]
    arr = np.asarray(x)
    before, flags = arr.copy(), (arr.flags.writeable, arr.flags.c_contiguous)
    c = np.ascontiguousarray(arr)
    fn = lambda x: np.sum(np.sin(x) * x[::-1] ** 2) + np.sum(x.T @ x)
    for name_, T in ALL.items():
        if name_ in ("jacfwd", "jacrev"):
            continue
        got, want = _quiet(T(fn), x), _quiet(T(fn), c)
        for a, b in zip(np.atleast_1d(got) if name_ != "value_and_grad" else got,
                        np.atleast_1d(want) if name_ != "value_and_grad" else want):
            a = a.toarray() if hasattr(a, "toarray") else a
            b = b.toarray() if hasattr(b, "toarray") else b
            np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(arr, before)
    assert (arr.flags.writeable, arr.flags.c_contiguous) == flags


def test_read_only_and_strided_static_arguments():
    a = np.arange(1.0, 13.0)[::2]
    a.flags.writeable = False
    g = nh.grad(lambda x, a: np.sum(a * x ** 2), argnums=0)
    np.testing.assert_allclose(g(np.ones(6), a), 2 * a)
    assert not a.flags.writeable


# ---------------------------------------------------------------- what the function returns
@pytest.mark.parametrize("ret, shape", [
    (lambda x: 3.0, ()), (lambda x: 3, ()), (lambda x: np.float64(2.0), ()),
    (lambda x: np.ones(2), (2,)), (lambda x: [1.0, 2.0], (2,)),
], ids=["python float", "python int", "numpy scalar", "constant array", "constant list"])
def test_constant_outputs_have_zero_derivatives(ret, shape):
    x = x3.copy()
    assert np.all(nh.jacfwd(ret)(x) == 0) and nh.jacfwd(ret)(x).shape == shape + (3,)
    assert np.all(nh.hessian(ret)(x) == 0) and nh.hessian(ret)(x).shape == shape + (3, 3)
    if shape == ():
        assert np.all(nh.grad(ret)(x) == 0)


@pytest.mark.parametrize("ret, shape", [
    (lambda x: [x[0] * x[1], x[2]], (2,)), (lambda x: (np.sum(x), x[0]), (2,)),
    (lambda x: [[x[0], x[1]], [x[2], 1.0]], (2, 2)), (lambda x: [x, x ** 2], (2, 3)),
], ids=["list of scalars", "tuple", "nested list", "list of arrays"])
def test_lists_and_tuples_are_arrays(ret, shape):
    J = nh.jacfwd(ret)(x3)
    assert J.shape == shape + (3,)
    Jd, _ = fd_jacobian(lambda x: np.array(ret(x), dtype=float), x3)
    np.testing.assert_allclose(J, Jd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("ret, err, match", [
    (lambda x: None, TypeError, "returned None"),
    (lambda x: "text", TypeError, "not an array of numbers"),
    (lambda x: {"a": x}, TypeError, "not an array of numbers"),
    (lambda x: object(), TypeError, "not an array of numbers"),
    (lambda x: x > 0, TypeError, "booleans"),
    (lambda x: True, TypeError, "booleans"),
    (lambda x: 1j * np.sum(x), TypeError, "complex"),
    (lambda x: [x[0], x[1:]], ValueError, "different shapes"),
    (lambda x: print(x), TypeError, "returned None"),
], ids=["None", "str", "dict", "object", "bool array", "bool", "complex", "ragged list",
        "nothing (print)"])
def test_outputs_that_are_not_arrays_of_numbers_raise(ret, err, match):
    with pytest.raises(err, match=match):
        nh.jacfwd(ret)(x3)


# ---------------------------------------------------------------- writing into arrays
def _set_first(x):
    x[0] = 5.0
    return np.sum(x ** 2 * np.arange(1.0, x.size + 1))


def _augmented(x):
    x += 1.0
    x *= x
    return np.sum(np.sin(x))


def _alias(x):
    y = x
    y *= 2.0
    return np.sum(x ** 3)


def _view_write(x):
    v = x[1:]
    v[0] = x[0] ** 2       # reaches x[1]
    return np.sum(x ** 2)


def _stale_view(x):
    v = x[::2]
    x[0] = 3.0 * x[1]      # v[0] is x[0]: it sees this
    return np.sum(v ** 3) + np.sum(x)


def _reshape_write(x):
    X = x.reshape(3, 2)
    X[:, 0] -= X[0, 1]
    return np.sum(np.cos(x) * np.arange(6.0))


def _sort_in_place(x):
    y = x.copy()
    y.sort()
    return np.sum(y * np.arange(y.size)) + np.sum(x ** 2)


def _fill_and_copyto(x):
    y = np.zeros_like(x)
    np.copyto(y, x ** 2)
    z = x.copy()
    z.fill(2.0)
    np.copyto(z, x, where=x > 0)
    return np.sum(y * z)


def _split_views(x):
    a, b = np.split(x, 2)
    b[0] = a[0] * a[1]
    return np.sum(x ** 2)


def _through_iteration(x):
    for row in x.reshape(2, 3):
        row[0] = row[1] * row[2]     # rows are views
    return np.sum(x ** 2)


IN_PLACE = [_set_first, _augmented, _alias, _view_write, _stale_view, _reshape_write,
            _sort_in_place, _fill_and_copyto, _split_views, _through_iteration]


@pytest.mark.parametrize("fn", IN_PLACE, ids=[g.__name__[1:] for g in IN_PLACE])
def test_functions_writing_into_their_input(fn):
    """The derivative of the function as NumPy runs it (on a copy: NumPy would modify the
    caller's array, numhess never does), at two points, from every transform."""
    rng = np.random.default_rng(0)
    for x in (rng.uniform(0.2, 1.5, 6), rng.uniform(0.2, 1.5, 6)):
        x_before = x.copy()
        value, g = nh.value_and_grad(fn)(x)
        np.testing.assert_allclose(value, fn(x.copy()), rtol=1e-13)
        gd, _ = fd_jacobian(fn, x)
        np.testing.assert_allclose(g, gd, rtol=1e-6, atol=1e-8)
        H = nh.hessian(fn)(x)
        Hd, _ = fd_jacobian(nh.grad(fn), x)
        np.testing.assert_allclose(H, Hd, rtol=1e-6, atol=1e-8)
        for T in ALL.values():
            _quiet(T(fn), x)
        np.testing.assert_array_equal(x, x_before)


@pytest.mark.parametrize("make", [
    lambda x: x.flatten(), lambda x: x.astype(float), lambda x: x.astype(float, copy=False),
    lambda x: +x, lambda x: np.positive(x), lambda x: np.conjugate(x), lambda x: x.conj(),
    lambda x: x.ravel(), lambda x: np.ascontiguousarray(x), lambda x: x.reshape(3, copy=True),
    lambda x: np.ascontiguousarray(np.stack([x, x]).T)[:, 0],
    lambda x: np.asfortranarray(np.stack([x, x]))[0]],
    ids=["flatten", "astype", "astype copy=False", "+x", "positive", "conjugate", "conj",
         "ravel", "ascontiguousarray", "reshape copy=True", "ascontiguousarray of .T",
         "asfortranarray"])
def test_copies_and_views_as_in_numpy(make):
    """A write into the result reaches x exactly when NumPy's result shares x's memory."""
    def fn(x):
        y = make(x)
        y[0] = 100.0
        return np.sum(x ** 2) + y[1]
    x = np.array([1.0, 2.0, 3.0])
    v, g = nh.value_and_grad(fn)(x)
    assert v == fn(x.copy())
    np.testing.assert_allclose(g, fd_jacobian(fn, x)[0], rtol=1e-6, atol=1e-6)


def test_read_only_views_refuse_writes_as_in_numpy():
    def fn(x):
        b = np.broadcast_to(x, (2, 3))
        b[0, 0] = 1.0
        return np.sum(b)
    with pytest.raises(ValueError, match="read-only"):
        fn(x3.copy())
    with pytest.raises(ValueError, match="read-only"):
        nh.grad(fn)(x3)


def test_writing_a_traced_value_into_a_numpy_array_raises():
    def fn(x):
        out = np.zeros(3)
        out += x
        return np.sum(out)
    with pytest.raises(nh.TraceError, match="zeros_like"):    # out += x is add(out=)
        nh.grad(fn)(x3)

    def fn2(x):
        out = np.zeros(3)
        out[0] = x[0]
        return np.sum(out)
    with pytest.raises((nh.TraceError, ValueError), match="zeros_like|sequence"):
        nh.grad(fn2)(x3)


def test_a_function_writing_into_a_static_argument():
    """Static arguments are passed as they are: the function writes into the caller's array
    (as it would without numhess), numhess only sees a different argument next time."""
    def fn(x, count):
        count[0] += 1
        return np.sum(x ** 2) * count[0]
    count = np.zeros(1)
    g = nh.grad(fn)
    np.testing.assert_allclose(g(x3, count), 2 * x3 * 1)
    np.testing.assert_allclose(g(x3, count), 2 * x3 * 2)
    assert count[0] == 2


# ---------------------------------------------------------------- code numhess cannot trace
@pytest.mark.parametrize("call, err, match", [
    (lambda x: math.fsum(x), nh.TraceError, "math"),
    (lambda x: math.exp(x[0]), nh.TraceError, "math"),
    (lambda x: float(np.sum(x)), nh.TraceError, "float"),
    (lambda x: round(x[0]) * x[1], nh.TraceError, "round"),
    (lambda x: x[0].item(), nh.TraceError, "item"),
    (lambda x: np.sum(scipy.special.zeta(x, 2.0)), NotImplementedError, "zeta"),
    (lambda x: np.sum(scipy.linalg.lu_solve(scipy.linalg.lu_factor(np.eye(3)), x)),
     nh.TraceError, "Here scipy.linalg.lu_solve converted it .numhess traces np.linalg's "
     "solve, .* and scipy.linalg's solve, solve_triangular, cholesky, cho_factor, cho_solve"),
    (lambda x: np.sum(scipy.linalg.solveh_banded(np.array([[0, 1, 1], [2, 2, 2.]]), x)),
     nh.TraceError, "Here scipy.linalg.solveh_banded converted"),  # (a decorator's wrapper)
    (lambda x: np.sum(scipy.special.polygamma(1, x)), nh.TraceError,
     "Here scipy.special.polygamma converted"),
    (lambda x: np.sum(np.frompyfunc(math.sin, 1, 1)(x)), NotImplementedError, "ufunc"),
    (lambda x: np.sum(np.vectorize(math.sin)(x)), nh.TraceError, r"math\.\* on a traced"),
    (lambda x: np.sum(scipy.linalg.sqrtm(np.outer(x, x) + np.eye(3))), nh.TraceError,
     "code that takes NumPy arrays only .*Here scipy.linalg.sqrtm converted"),
    (lambda x: np.sum(scipy.stats.gaussian_kde(x)(x)),
     nh.TraceError, "Here scipy.stats.gaussian_kde.__init__ converted"),
    (lambda x: np.sum(np.asarray(x, dtype=int)), nh.TraceError, "NumPy array"),
    (lambda x: np.sum(np.eye(3).dot(x)), nh.TraceError, "A @ x"),
    (lambda x: np.linalg.eig(np.outer(x, x))[0][0], NotImplementedError, "linalg.eig"),
    (lambda x: np.sum(np.put(x, [0], [1.0])), NotImplementedError, "put"),
    (lambda x: np.sum(np.unique(x)), NotImplementedError, "np.unique of values with a"),
    (lambda x: np.add.at(np.zeros(3), [0], x[0]), nh.TraceError, "zeros_like"),
    (lambda x: statistics.mean(x), TypeError, "Tracer"),
    (lambda x: np.sum(nh.grad(lambda y: np.sum(y ** 2))(x)), nh.TraceError, "nested"),
], ids=["math.fsum", "math.exp", "float()", "round()", ".item()", "scipy.special.zeta",
        "scipy.linalg.lu_solve", "scipy.linalg.solveh_banded", "scipy.special.polygamma",
        "np.frompyfunc", "np.vectorize", "scipy.linalg.sqrtm", "scipy.stats",
        "np.asarray with an int dtype", "ndarray.dot", "np.linalg.eig", "np.put", "np.unique",
        "np.add.at into NumPy", "statistics.mean", "nested transform"])
def test_untraceable_code_raises_clearly(call, err, match):
    with pytest.raises(err, match=match):
        nh.grad(call)(np.array([1.5, 2.0, 0.5]))


def test_numba_jitted_function_on_a_traced_value_raises():
    numba = pytest.importorskip("numba")
    jitted = numba.njit(lambda a: a.sum())
    with pytest.raises(Exception, match="Tracer|pyobject|type"):
        nh.grad(lambda x: jitted(x))(x3)


def test_array_of_traced_scalars_is_a_traced_array():
    # np.array([...]) of traced scalars is one traced array while the trace runs, so
    # NumPy's functions take it alone (np.mean)
    g = nh.grad(lambda x: np.mean(np.array([x[0], x[1] ** 2])))(x3)
    np.testing.assert_allclose(g, [0.5, x3[1], 0.0])
    # combined with a traced value it is packed into one array
    g = nh.grad(lambda x: np.sum(x[:2] * np.array([x[0], x[1]])))(x3)
    np.testing.assert_allclose(g, [2 * x3[0], 2 * x3[1], 0.0])


# ---------------------------------------------------------------- misuse of the options
@pytest.mark.parametrize("argnums, err", [
    (2, ValueError), (-3, ValueError), ((0, 0), ValueError), ((0, -2), ValueError),
    ((), TypeError), ([], TypeError), ("0", TypeError), (None, TypeError), (0.0, TypeError),
    (True, TypeError), ((0, 1.0), TypeError),
])
def test_argnums_misuse(argnums, err):
    with pytest.raises(err, match="argnums"):
        nh.hessian(lambda x, y: np.sum(x * y), argnums=argnums)(x3, x3)


def test_argnums_naming_a_non_numeric_argument():
    with pytest.raises(TypeError, match="argument 1 must be numeric"):
        nh.grad(lambda x, s: np.sum(x), argnums=1)(x3, "text")


@pytest.mark.parametrize("transform", [nh.hessian, nh.jacfwd, nh.jacrev])
@pytest.mark.parametrize("chunk, err", [(0, ValueError), (-1, ValueError), (1.5, TypeError),
                                        ("2", TypeError), (True, TypeError),
                                        ([2], TypeError)])
def test_chunk_size_misuse_fails_at_construction(transform, chunk, err):
    with pytest.raises(err, match="chunk_size"):
        transform(f, chunk_size=chunk)


@pytest.mark.parametrize("chunk", [1, 2, np.int32(2), 3, 10 ** 9])
def test_any_valid_chunk_size_gives_the_same_hessian(chunk):
    np.testing.assert_allclose(nh.hessian(f, chunk_size=chunk)(x3), hess_f(x3), rtol=1e-13)


@pytest.mark.parametrize("ret", [
    lambda x: np.sum(x), lambda x: (np.sum(x),), lambda x: (np.sum(x), 1, 2),
    lambda x: [np.sum(x), 1],
], ids=["no pair", "1-tuple", "triple", "list"])
def test_has_aux_without_a_pair(ret):
    with pytest.raises(ValueError, match="pair"):
        nh.grad(ret, has_aux=True)(x3)


def test_has_aux_returns_plain_values_never_tracers():
    g, aux = nh.grad(lambda x: (np.sum(x ** 2), {"x2": x * 2, "n": 3, "l": [x[0]]}),
                     has_aux=True)(x3)
    assert isinstance(aux["x2"], np.ndarray) and aux["n"] == 3
    assert isinstance(aux["l"][0], np.ndarray)
    np.testing.assert_allclose(aux["x2"], 2 * x3)


def test_aux_is_not_the_output():
    # without has_aux a pair is a 2-vector output: grad says so rather than guessing
    with pytest.raises(ValueError, match="scalar output"):
        nh.grad(lambda x: (np.sum(x), np.sum(x ** 2)))(x3)


def test_other_call_misuse():
    with pytest.raises(ValueError, match="out of range"):
        nh.grad(f)()
    with pytest.raises(TypeError):
        nh.grad(f)(x=x3)
    with pytest.raises(TypeError, match=r"\(x, v"):
        nh.hvp(f)(x3)
    with pytest.raises(ValueError, match="shape"):
        nh.hvp(f)(x3, np.ones(4))
    with pytest.raises(ValueError, match="tangent"):
        nh.jvp(f, (x3,), (x3, x3))
    with pytest.raises(ValueError, match="cotangent"):
        nh.vjp(lambda x: x ** 2, x3)[1](np.ones(2))
    with pytest.raises(TypeError, match="function"):
        nh.grad(np.ones(3))


# ---------------------------------------------------------------- inputs NumPy treats otherwise
@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_matrix_input_is_refused():
    x = np.matrix([[1.0, 2.0]])
    with pytest.raises(TypeError):
        nh.grad(lambda x: np.sum(x * x.T))(x)


def test_masked_array_input_is_refused():
    x = np.ma.array([1.0, 2.0, 3.0], mask=[0, 1, 0])
    with pytest.raises(TypeError):
        nh.grad(lambda x: np.sum(x ** 2))(x)


def test_a_dense_hessian_too_large_for_memory_says_what_to_do():
    with pytest.raises(Exception) as err:     # 128 GiB: refused before any work
        nh.hessian(lambda x: np.sum(x ** 2))(np.ones(2 ** 17))
    assert "sparse=True" in str(err.value), str(err.value)


def test_other_arguments_mutated_or_reshaped_trace_again():
    """Lists and dicts are compared by value, mutated in place too; floats exactly (NaN
    is itself, -0.0 is not 0.0); a parameter's shape is part of the key."""
    x = np.array([1.0, 2.0, 3.0])
    g = nh.grad(lambda x, c, d: c[0] * d["w"] * np.sum(x ** 2))
    c, d = [1.0], {"w": 2.0}
    np.testing.assert_allclose(g(x, c, d), 4 * x)
    c[0], d["w"] = 10.0, 3.0
    np.testing.assert_allclose(g(x, c, d), 60 * x)
    gs = nh.grad(lambda x, s: np.sum(np.copysign(1.0, s) * x ** 2))
    np.testing.assert_allclose(gs(x, 0.0), 2 * x)
    np.testing.assert_allclose(gs(x, -0.0), -2 * x)
    gn = nh.grad(lambda x, s: np.sum(x ** 2) + 0.0 * s)
    for _ in range(3):
        gn(x, float("nan"))
    assert gn.traced.n_traces == 1
    ga = nh.grad(lambda x, A: np.sum(A[0]) * np.sum(x ** 2))
    A = np.arange(64.0)
    np.testing.assert_allclose(ga(x, A), 0 * x)
    np.testing.assert_allclose(ga(x, A.reshape(8, 8)), 56 * x)
    gx = nh.grad(lambda w, X: np.sum((X @ w) ** 2))
    X = np.ones((100, 3))
    np.testing.assert_allclose(gx(x, X[:80]), 960.0)     # a smaller last batch
    np.testing.assert_allclose(gx(x, X), 1200.0)
