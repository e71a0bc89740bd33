"""Bad input gets a clear error, never a wrong answer."""
import copy
import math

import numpy as np
import pytest
import scipy.optimize as so
import scipy.special as sc

import numhess as nh
from test_rules import central_diff

x3 = np.array([1.0, 2.0, 3.0])


@pytest.mark.parametrize("transform", [nh.grad, nh.value_and_grad])
def test_non_scalar_output(transform):
    with pytest.raises(ValueError, match="scalar output"):
        transform(lambda x: x ** 2)(x3)


def test_hvp_non_scalar_output():
    with pytest.raises(ValueError, match="scalar output"):
        nh.hvp(lambda x: x ** 2)(x3, x3)


def test_complex_input():
    with pytest.raises(TypeError, match="complex"):
        nh.hessian(lambda x: np.sum(x ** 2))(x3 + 1j)


def test_complex_constant():
    with pytest.raises(TypeError, match="complex"):
        nh.grad(lambda x: np.sum(np.abs(x * 1j)))(x3)


def test_unsupported_function_is_named():
    with pytest.raises(NotImplementedError, match="numpy.linalg.eig"):
        nh.hessian(lambda x: np.sum(np.linalg.eig(np.outer(x, x))[0]))(x3)
    with pytest.raises(NotImplementedError, match="unwrap"):
        nh.grad(lambda x: np.sum(np.unwrap(x)))(x3)


@pytest.mark.parametrize("cut", [float, int, lambda t: math.exp(t), lambda t: t.item()])
def test_cutting_the_derivative_raises(cut):
    def f(x):
        return np.sum(x) * cut(x[0])
    with pytest.raises(nh.TraceError):
        nh.grad(f)(x3)


def test_asarray_of_a_traced_scalar_keeps_the_derivative():
    g = nh.grad(lambda x: np.sum(x) * np.asarray(x[0]))(x3)
    np.testing.assert_allclose(g, [7.0, 1.0, 1.0])


def test_asarray_of_traced_array_passes_it_through():
    """While a trace runs np.asarray and friends return traced arrays (np.array a copy);
    a non-float dtype would drop the derivative and raises, as NumPy's own does."""
    def f(x):
        x = np.asarray(x, dtype=float)
        y = np.array(x)
        y[0] = 3.0                      # a copy: x keeps its first element
        z = np.asarray([x[0], x[1] ** 2, 1.0])
        return (np.sum(x ** 2) + np.sum(y) + np.sum(z ** 3)
                + np.sum(np.ascontiguousarray(x[::2])) + np.sum(np.array(x, ndmin=2)))
    a, b = x3[0], x3[1]
    want = 2 * x3 + [0.0, 1.0, 1.0] + [3 * a ** 2, 6 * b ** 5, 0.0] + [1.0, 0.0, 1.0] + 1.0
    np.testing.assert_allclose(nh.grad(f)(x3), want)
    assert not hasattr(np.asarray, "__wrapped__")       # NumPy's own again after the trace
    with pytest.raises(nh.TraceError, match="asarray"):
        nh.grad(lambda x: np.sum(np.asarray(x, dtype=int)))(x3)


def test_scipy_optimize_rosen_as_it_is():
    """scipy.optimize's Rosenbrock functions start with x = np.asarray(x)."""
    x = np.array([1.3, 0.7, 0.8, 1.9, 1.2])
    np.testing.assert_allclose(nh.hessian(so.rosen)(x), so.rosen_hess(x), rtol=1e-12)
    np.testing.assert_allclose(nh.jacfwd(so.rosen_der)(x), so.rosen_hess(x), rtol=1e-12)
    np.testing.assert_allclose(nh.grad(so.rosen)(x), so.rosen_der(x), rtol=1e-12)
    v = np.array([0.3, -1.0, 2.0, 0.5, 1.5])
    np.testing.assert_allclose(nh.hvp(so.rosen)(x, v), so.rosen_hess_prod(x, v), rtol=1e-12)


def test_scipy_special_while_tracing():
    """scipy.special.logsumexp (and softmax, log_softmax) are numhess's during a trace
    and SciPy's after; a name bound to SciPy's beforehand raises and names numhess's."""
    import scipy.special
    from scipy.special import logsumexp
    g = nh.grad(lambda x: scipy.special.logsumexp(x))(x3)
    np.testing.assert_allclose(g, scipy.special.softmax(x3), rtol=1e-14)
    assert scipy.special.logsumexp is logsumexp
    with pytest.raises(nh.TraceError, match="numhess.special.logsumexp"):
        nh.grad(lambda x: logsumexp(x))(x3)


def test_writing_traced_values_into_a_numpy_array_raises():
    def f(x):
        out = np.zeros(3)
        out[0] = x[0]
        return np.sum(out)
    with pytest.raises(nh.TraceError, match="zeros_like"):   # (NumPy raised a ValueError)
        nh.grad(f)(x3)


def test_writing_a_traced_array_into_a_numpy_array_names_the_fix():
    def cholesky_factor(x):
        L = np.zeros((2, 2))
        L[np.tril_indices(2)] = x
        return np.sum(L ** 2)

    def padded(x):
        out = np.zeros(5)
        out[1:4] = x
        return np.sum(out ** 2)
    for f in (cholesky_factor, padded):
        with pytest.raises(nh.TraceError, match=r"writing a traced array into a NumPy "
                                                r"array.*np.zeros_like\(x, shape="):
            nh.grad(f)(x3)


def test_compiled_code_given_a_traced_array_says_so():
    import scipy.interpolate
    t = np.linspace(0.0, 1.0, 10)
    spline = scipy.interpolate.CubicSpline(t, t ** 2)
    with pytest.raises(nh.TraceError, match="code that takes NumPy arrays only"):
        nh.grad(lambda p: np.sum(spline(p)))(x3 / 4)


def test_numpy_scalars_of_traced_values_say_so_and_copies_are_traced():
    for f in (lambda x: np.float64(x[0]) * x[1], lambda x: np.sum(np.fromiter(x, float))):
        with pytest.raises(nh.TraceError, match=r"float\(\), int\(\)"):
            nh.grad(f)(x3)
    g = nh.grad(lambda x: np.sum(copy.deepcopy(x) ** 2) + np.sum(copy.copy(x) ** 3))
    np.testing.assert_allclose(g(x3), 2 * x3 + 3 * x3 ** 2, rtol=1e-14)


def test_keywords_are_named_with_the_partial_that_binds_them():
    f = lambda p, t, data: np.sum((p[0] * t - data) ** 2)
    with pytest.raises(TypeError, match=r"functools.partial\(f, t=..., data=...\)"):
        nh.grad(f)(x3, t=1.0, data=2.0)


@pytest.mark.parametrize("argnums, err", [(1, ValueError), ((0, 0), ValueError),
                                          ((0, 3), ValueError), (1.5, TypeError),
                                          ((), TypeError), (True, TypeError)])
def test_bad_argnums(argnums, err):
    with pytest.raises(err):
        nh.grad(lambda x: np.sum(x ** 2), argnums=argnums)(x3)


@pytest.mark.parametrize("chunk", [0, -2, 1.5])
def test_bad_chunk_size(chunk):
    with pytest.raises((ValueError, TypeError), match="chunk_size"):
        nh.hessian(lambda x: np.sum(x ** 2), chunk_size=chunk)


def test_bad_outputs():
    with pytest.raises(TypeError, match="None"):
        nh.grad(lambda x: None)(x3)
    with pytest.raises(TypeError, match="boolean"):
        nh.jacfwd(lambda x: x > 0)(x3)
    with pytest.raises(TypeError):
        nh.grad(lambda x: "text")(x3)


def test_ambiguous_truth_value():
    def f(x):
        if x > 0:
            return np.sum(x)
        return -np.sum(x)
    with pytest.raises(ValueError, match="ambiguous"):
        nh.grad(f)(x3)


def test_out_argument_must_be_traced():
    def f(x, make):
        y = make(x)
        np.sin(x, out=y)
        return np.sum(y)
    np.testing.assert_allclose(nh.grad(f)(x3, np.zeros_like), np.cos(x3))
    with pytest.raises(nh.TraceError, match="zeros_like"):
        nh.grad(f)(x3, lambda x: np.empty(3))


def test_not_callable():
    with pytest.raises(TypeError, match="function"):
        nh.hessian(3.0)


def test_tangent_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        nh.hvp(lambda x: np.sum(x ** 3))(x3, np.ones(2))


@pytest.mark.parametrize("f", [
    lambda z: np.linalg.det([[z[0], z[1]], [z[2], z[3]]]),
    lambda z: np.sum(np.linalg.inv([[z[0], z[1]], [z[2], z[3]]])),
    lambda z: np.mean([z[0], z[1] ** 2]),
    lambda z: np.std([z[0], z[1], z[2]]),
], ids=["det", "inv", "mean", "std"])
def test_a_list_of_traced_scalars_numpy_cannot_read_names_the_fix(f):
    """NumPy converts a list argument itself, to an object array its compiled code cannot
    read: the error says so and names np.array / np.stack (which work), not NumPy's
    casting error."""
    with pytest.raises(nh.TraceError, match="list .* of traced values") as info:
        nh.grad(f)(np.arange(1.0, 5.0))
    assert isinstance(info.value.__cause__, (TypeError, ValueError))


def test_a_list_made_inside_a_library_names_the_library():
    """(not np.array / np.stack, which the caller cannot apply inside SciPy)"""
    with pytest.raises(nh.TraceError, match="library function made an array of Python "
                       "objects .*Here scipy.special.multigammaln converted"):
        nh.grad(lambda z: sc.multigammaln(np.exp(z[0]) + 3.0, 2))(np.arange(1.0, 5.0))


def test_a_library_that_calls_f_back_is_named():
    """scipy.integrate's quad and solve_ivp convert what the integrand returns (float(),
    a write into their arrays): the error names them (it had advised np.exp, which the
    integrand already used)."""
    import scipy.integrate as si
    with pytest.raises(nh.TraceError, match="Here scipy.integrate.quad converted it"):
        nh.grad(lambda x: si.quad(lambda t: np.exp(-x[0] * t), 0, 1)[0])(np.ones(2))
    with pytest.raises(nh.TraceError, match="Here scipy.integrate.*solve_ivp converted"):
        nh.grad(lambda x: si.solve_ivp(lambda t, y: -x[0] * y, (0, 1), [1.0]).y[0, -1])(
            np.ones(2))
    with pytest.raises(nh.TraceError) as info:
        nh.grad(lambda x: float(x[0]) * x[1])(np.ones(2))
    assert "Here" not in str(info.value)


def test_compiled_code_raising_its_own_error_for_a_conversion_is_named():
    """scipy.signal.lfilter's C code replaces the TraceError of the conversion it asked for
    with its own ValueError (no chain back); one raised elsewhere after a refused
    conversion f caught is f's own."""
    import scipy.signal as ss
    with pytest.raises(nh.TraceError, match="Here scipy.signal.lfilter converted it"):
        nh.grad(lambda c: np.sum(ss.lfilter([1.0], c, np.ones(5))))(np.array([1, -0.5, 0.1]))

    def caught_then_raises(x):
        try:
            np.ones(2).dot(x)
        except nh.TraceError:
            pass
        raise ValueError("f's own")
    with pytest.raises(ValueError, match="f's own"):
        nh.grad(caught_then_raises)(np.ones(2))


def test_writes_into_numpy_arrays_name_what_the_user_wrote():
    """`a += t` and `a[i] += t` into a NumPy array are np.add(a, t, out=a): the error says
    so, not only np.add(..., out=); a library reached through uarray's dispatch is named
    by its function."""
    import scipy.fft

    def assemble(t):
        K = np.zeros((4, 4))
        K[np.ix_([0, 1], [0, 1])] += t[0] * np.eye(2)
        return np.sum(K)
    for f in [assemble, lambda t: np.sum(np.ones(2).__iadd__(t))]:
        with pytest.raises(nh.TraceError, match=r"a \+= t or a\[i\] \+= t .*shape=a.shape"):
            nh.grad(f)(np.ones(2))
    with pytest.raises(nh.TraceError, match=r"np.add\(..., out=\) .*shape=..."):
        nh.grad(lambda t: np.sum(np.add(t, 1.0, out=np.zeros(2))))(np.ones(2))
    with pytest.raises(nh.TraceError, match="Here scipy.fft.rfft converted it"):
        nh.grad(lambda u: np.sum(scipy.fft.rfft(u).real))(np.ones(8))


def test_casting_to_int_names_the_fix_that_works():
    with pytest.raises(nh.TraceError, match=r"np.floor\(x / h\).astype\(int\)"):
        nh.grad(lambda x: np.sum((x * 2).astype(int) * x))(np.ones(2))
    g = nh.grad(lambda x: np.sum(np.floor(x * 2).astype(int) * x))
    np.testing.assert_array_equal(g(np.array([0.7, 1.2])), [1.0, 2.0])


def test_the_named_fixes_for_lists_of_traced_values():
    det = lambda z: np.linalg.det(np.array([[z[0], z[1]], [z[2], z[3]]]))
    np.testing.assert_allclose(nh.grad(det)(np.arange(1.0, 5.0)), [4.0, -3.0, -2.0, 1.0])
    mean = lambda z: np.mean(np.stack([z[0], z[1] ** 2]))
    np.testing.assert_allclose(nh.grad(mean)(np.arange(1.0, 5.0)), [0.5, 2.0, 0.0, 0.0])


def test_a_list_of_traced_arrays_given_to_numpy_names_the_cause():
    with pytest.raises(nh.TraceError, match=r"np.sum\(\[a, b\]\)"):
        nh.grad(lambda z: np.sum([z[:2], z[2:] ** 2]))(np.arange(4.0))


def test_an_attribute_only_numpy_arrays_have_names_the_cause():
    """A library reading NumPy's memory (np.ctypeslib: the array interface) raises
    TraceError, not AttributeError; a misspelt attribute stays AttributeError."""
    with pytest.raises(nh.TraceError, match=r"\.__array_interface__") as info:
        nh.grad(lambda x: np.sum(np.ctypeslib.as_ctypes(x)))(np.ones(4))
    assert isinstance(info.value.__cause__, AttributeError)
    with pytest.raises(AttributeError, match="lenght"):
        nh.grad(lambda x: x.lenght)(np.ones(4))


def test_a_dense_hessian_larger_than_free_memory_names_the_alternatives(monkeypatch):
    """205 outputs x 205 x 205 (69 MB) is checked against free memory, here one page:
    a MemoryError naming sparse=True and hvp instead of a failed allocation."""
    import os
    sysconf = os.sysconf
    monkeypatch.setattr(os, "sysconf", lambda name: 1 if name == "SC_AVPHYS_PAGES"
                        else sysconf(name))
    with pytest.raises(MemoryError, match="sparse=True.*hvp"):
        nh.hessian(lambda x: x ** 2)(np.ones(205))
    assert nh.hessian(lambda x: x ** 2)(np.ones(20)).shape == (20, 20, 20)   # below: unchecked


def test_nested_transforms_are_named_as_such():
    """Directly, or reaching the outer function's x through a closure."""
    x = np.array([1.0, 2.0])
    with pytest.raises(nh.TraceError, match="nested transforms"):
        nh.grad(lambda x: np.sum(nh.grad(lambda y: np.sum(y ** 3))(x)))(x)
    with pytest.raises(nh.TraceError, match="nested transforms"):
        nh.grad(lambda x: np.sum(nh.grad(lambda y: np.sum(y * x))(np.ones(2))))(x)


def _cholesky_or_penalty(x):
    A = np.array([[x[0], x[1]], [x[1], x[2]]])
    try:
        return 2.0 * np.sum(np.log(np.diag(np.linalg.cholesky(A))))
    except np.linalg.LinAlgError:
        return 1e3 * np.sum(x ** 2)


def test_an_except_clause_runs_where_the_error_comes():
    """f's `except LinAlgError:` runs wherever NumPy would raise, whichever point came
    first: such a trace is not kept, and a replay that fails traces again."""
    definite, indefinite = np.array([2.0, 0.5, 3.0]), np.array([-1.0, 0.0, 1.0])
    for first in (definite, indefinite):
        vg, H = nh.value_and_grad(_cholesky_or_penalty), nh.hessian(_cholesky_or_penalty)
        for x in (first, indefinite, definite, definite, indefinite, indefinite):
            det = x[0] * x[2] - x[1] ** 2
            if x[0] > 0:
                want = (np.log(det), np.array([x[2], -2 * x[1], x[0]]) / det)
            else:
                want = (1e3 * np.sum(x ** 2), 2e3 * x)
            value, g = vg(x)
            assert value == pytest.approx(want[0], rel=1e-13)
            np.testing.assert_allclose(g, want[1], rtol=1e-13)
            np.testing.assert_allclose(H(x), central_diff(lambda z: vg(z)[1], x), rtol=1e-6,
                                       atol=1e-6)


def test_a_sparse_matrix_of_traced_values_says_so():
    import scipy.sparse as sp

    def f(k):
        K = sp.diags([k[:-1], -0.5 * k[:-1]], [0, 1], shape=(5, 6))
        return np.sum((K @ k) ** 2)
    with pytest.raises(nh.TraceError, match="values must be constants.*scipy.sparse.diags"):
        nh.grad(f)(np.linspace(0.2, 1.2, 6))
    with pytest.raises(nh.TraceError, match=r"np.c_ \(write np.concatenate, np.column_stack"):
        nh.grad(lambda u: np.sum(np.c_[u, u ** 2] ** 2))(np.ones(4))


def test_a_matrix_norm_of_a_vector_is_numpys_error():
    """'fro' and 'nuc' of a vector: NumPy's ValueError (it had been a TraceError about
    lists of traced values)."""
    for ord in ("fro", "nuc"):
        with pytest.raises(ValueError, match=f"Invalid norm order '{ord}' for vectors"):
            nh.grad(lambda x: np.linalg.norm(x, ord))(np.ones(3))
