"""Fused elementwise loops (fusion.py, fused.py) against the interpreter (itself tested
against finite differences and other libraries) on every rule they have, and on the ways
a region meets the rest of a tape: results read after it, broadcast, inactive and
overlapping operands, gathers, sums, several regions, the output, Hessians in chunks,
threads during a background compile."""
import threading

import numpy as np
import pytest

import numhess as nh
from numhess import drivers, fused, fusion
from numhess import kernels as K
from numhess.problems import rosenbrock

N = 40
rng = np.random.default_rng(5)
X = rng.uniform(0.2, 0.9, N)
V = rng.standard_normal(N)
MIN_WORK = fused.MIN_WORK


def _tape(transform):
    (entries,) = transform.traced.cache.values()
    return entries[0].tape


def _both(f, x=X, v=V, **kw):
    """Interpreted and fused results of grad, hvp, value_and_grad and hessian of f at x,
    then of grad, hvp and value_and_grad at another point (the fused forward sweep
    leaves results it keeps in registers unwritten: stale values would show; a first
    call's value is the trace's)."""
    out = []
    for mode in ("off", "now"):
        fused.MODE = mode
        g, h = nh.grad(f, **kw), nh.hvp(f, **kw)
        vg, H = nh.value_and_grad(f, **kw), nh.hessian(f, **kw)
        out.append((g(x), h(x, v), vg(x), H(x), g(x[::-1]), h(x[::-1], v), vg(x[::-1])))
        assert (_tape(g).fused is not None) == (mode == "now")
        assert (_tape(H).fused is not None) <= (mode == "now")
    return out


def _close(a, b):
    b = np.asarray(b)
    scale = np.max(np.abs(b[np.isfinite(b)]), initial=0.0)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * (1 + scale))


def _check(f, x=X, v=V, **kw):
    (g0, h0, vg0, H0, g2, h2, vg2), (g1, h1, vg1, H1, g3, h3, vg3) = _both(f, x, v, **kw)
    _close(g1, g0)
    _close(h1, h0)
    _close(h0, H0 @ v)
    np.testing.assert_array_equal(vg1[0], vg0[0])       # bit for bit (NaN is NaN)
    np.testing.assert_array_equal(vg3[0], vg2[0])
    _close(vg3[1], g2)
    _close(vg1[1], g0)
    _close(H1, H0)
    _close(g3, g2)
    _close(h3, h2)


UNARY = {
    K.NEG: lambda u: -u, K.EXP: np.exp, K.EXPM1: np.expm1, K.LOG: np.log,
    K.LOG1P: np.log1p, K.SQRT: np.sqrt, K.SQUARE: np.square, K.RECIP: np.reciprocal,
    K.ARCTAN: np.arctan, K.SINH: np.sinh,
    K.COSH: np.cosh, K.TANH: np.tanh, K.ABS: lambda u: np.abs(u - 0.5),
    K.POWC: lambda u: u ** 3 + u ** -2 + u ** 2.5 + u ** 0.0 * u ** 1.0,
    K.ADDC: lambda u: u + 2.0, K.MULC: lambda u: 3.0 * u, K.RSUBC: lambda u: 2.0 - u,
    K.DIVC: lambda u: u / 3.0, K.RDIVC: lambda u: 2.0 / u,
    K.EXP2: np.exp2, K.LOG2: np.log2, K.LOG10: np.log10, K.CBRT: np.cbrt,
    K.ARCSIN: np.arcsin, K.ARCCOS: np.arccos, K.ARCSINH: np.arcsinh,
    K.ARCCOSH: lambda u: np.arccosh(u + 1.0), K.ARCTANH: np.arctanh,
    K.RPOWC: lambda u: 3.0 ** u,
    K.MAXC: lambda u: np.maximum(u, 0.5) * u, K.MINC: lambda u: np.minimum(0.5, u) * u,
    K.FMAXC: lambda u: np.fmax(u, 0.5) * u, K.FMINC: lambda u: np.fmin(0.5, u) * u,
}


SPECIAL = {K.EXPIT: "expit", K.LOG_EXPIT: "log_expit", K.LOGIT: "logit", K.ERF: "erf",
           K.LOG_NDTR: "log_ndtr",
           K.ERFC: "erfc", K.GAMMALN: "gammaln", K.DIGAMMA: "digamma", K.ENTR: "entr"}


def test_every_rule_is_tested():
    assert set(fusion.UNARY) == set(UNARY) | set(SPECIAL) | set(FLAGS)
    assert set(fusion.BINARY) == set(BINARIES) | set(COMPARISONS)


@pytest.mark.parametrize("opcode", sorted(UNARY), ids=lambda o: str(o))
def test_unary_rules_as_the_interpreters(opcode):
    op = UNARY[opcode]
    _check(lambda x: np.sum(op(0.5 * x + 0.25) * x))


@pytest.mark.parametrize("name", sorted(SPECIAL.values()))
def test_special_rules_as_the_interpreters(name):
    import scipy.special as sc
    op = getattr(sc, name)
    _check(lambda x: np.sum(op(0.8 * x + 0.05) * x))


BINARIES = {
    K.ADD: np.add, K.SUB: np.subtract, K.MUL: np.multiply, K.DIV: np.divide,
    K.LOGADDEXP: np.logaddexp, K.HYPOT: np.hypot, K.ARCTAN2: np.arctan2,
    K.MAXIMUM: np.maximum, K.MINIMUM: np.minimum, K.FMAX: np.fmax, K.FMIN: np.fmin,
    K.POW: lambda a, b: np.abs(a) ** b, K.LOGADDEXP2: np.logaddexp2,
    K.XLOGY: lambda a, b: _sc("xlogy")(a, np.abs(b) + 0.1),
    K.XLOG1PY: lambda a, b: _sc("xlog1py")(a, np.abs(b)),
    K.REL_ENTR: lambda a, b: _sc("rel_entr")(np.abs(a) + 0.1, np.abs(b) + 0.2),
    K.REMAINDER: lambda a, b: np.remainder(a, b + 1.5), K.FMOD: lambda a, b: np.fmod(a, b - 1.5),
}


def _sc(name):
    import scipy.special
    return getattr(scipy.special, name)


@pytest.mark.parametrize("opcode", sorted(BINARIES), ids=lambda o: str(o))
def test_binary_rules_as_the_interpreters(opcode):
    op = BINARIES[opcode]
    _check(lambda x: np.sum(op(x[:-1] * 2.0 - 0.7, np.sin(x[1:])) * x[1:]))


def test_ties_split_evenly_as_the_interpreters():
    x = np.repeat(X[:N // 2], 2)
    x[1::4] = x[::4] * 1.5           # ties at the first point, not at the second (reversed)
    _check(lambda x: np.sum(np.maximum(x[::2] * 1.0, x[1::2] * 1.0) ** 2), x=x)


def test_zero_bases_as_the_interpreters():
    """Powers of a zero base with traced exponents: no NaN (the log factors of the
    derivatives count as 0 where the power is 0)."""
    a, b = np.where(np.arange(N) % 3 == 0, 0.0, X), np.tile([1.0, 2.0, 2.5, 3.0], N // 4)
    f = lambda x: np.sum((x * 0.0 + a) ** (x * 0.0 + b) * x + 0.0 ** (x + 1.0))
    _check(f)
    assert np.isfinite(nh.hessian(f)(X)).all()


def test_trigonometric_functions_stay_interpreted():
    """sin, cos and tan break the fused regions (their libm fallback for far arguments
    kept a fused loop from vectorizing: 2.4x slower): the rest fuses around them, and far
    arguments take libm's values."""
    f = lambda x: np.sum(np.exp(np.sin(x * 0.5)) * np.tanh(x) + np.log1p(x * x))
    _check(f)
    _check(lambda x: np.sum(np.sin(x * 1.0) * np.cos(x * 1.0) + x * x), x=X * 1e6)
    g = nh.grad(f)
    g(X)
    tape = _tape(g)
    assert not any(K.SIN in tape.op[r.t0:r.t1] for r in fusion.regions(tape, 0))


def test_rosenbrock_shifted_operands():
    _check(rosenbrock)


@pytest.mark.parametrize("f", [
    lambda x: np.sum(np.sin(x[:-2]) * x[1:-1] ** 2 + np.exp(x[2:] * 0.3) * x[:-2]),
    lambda x: np.sum(x[:-4] ** 2 * np.cos(x[1:-3]) * x[3:-1] + np.tanh(x[4:])),
    lambda x: np.sum(x[:-3] ** 2 * x[1:-2] + 3.0 * x[3:]),   # the furthest enters linearly
    lambda x: np.sum(x[:-9] * x[1:-8] ** 2 + np.sin(x[9:]) * x[0]),   # shift 9: parked
    lambda x: np.sum(np.diff(x.reshape(8, 5), axis=0) ** 2 * x[4:-1].reshape(7, 5)),
], ids=["shifts-1-2", "shifts-1-3-4", "linear-last", "parked", "rows"])
def test_overlapping_operands_carried_or_parked(f):
    """Windows of one array a few elements apart (x[:-2], x[1:-1], x[2:]) add their
    cotangents through registers; further apart, after the loop."""
    _check(f)


@pytest.mark.parametrize("f, aside", [
    (rosenbrock, True),
    (lambda x: np.sum(np.exp(x * 0.3) * x) + np.sum(np.sort(x)[:3]), False),  # sort reads x
    (lambda x: np.sum(np.tanh(x) * x[::-1] ** 2), False),       # a gather of x in the loop
    (lambda x: np.sum(np.tanh(x) * x) * (1.0 if x[0] > 0 else 2.0), False),  # a guard on x
])
def test_inputs_read_where_the_caller_holds_them(f, aside):
    """A gradient or HVP whose loops alone read x and v reads them in place, not copied
    into the buffers (stale there from the call before): at points one after another,
    read-only and strided ones too, the interpreter's results."""
    points = [X, X[::-1].copy(), X * 0.5, X[::-1], X + 0.1]
    points[2].flags.writeable = False
    fused.MODE = "off"
    want = [(nh.grad(f)(x), nh.hvp(f)(x, V * (1 + i))) for i, x in enumerate(points)]
    fused.MODE = "now"
    g, h = nh.grad(f), nh.hvp(f)
    for i, x in enumerate(points):
        _close(g(x), want[i][0])
        _close(h(x, V * (1 + i)), want[i][1])
    assert _tape(g).fused.inputs_aside == aside


def test_constants_written_when_read():
    """A fused forward sweep writes the tape's constants only when something reads one
    (a fresh value buffer holds garbage there)."""
    w = np.cos(np.arange(N)) + 2.0                  # a constant array, read by the region
    for f, read in ((lambda x: np.sum(np.exp(x * 0.5) * w), True), (rosenbrock, False)):
        _check(f)
        g = nh.grad(f)
        g(X)
        first = _tape(g).fused.values[0]
        assert (first[2] is None and first[:2] == (0, 0)) == read


def test_gradients_skip_a_region_only_the_output_reads(monkeypatch):
    """grad and hvp leave out a values step whose results only the output reads (a sum of
    arithmetic terms: the reverse steps recompute them); value_and_grad, a transcendental
    term's stored value, or a sum read by a later instruction keep it. Large buffers are
    recycled here: a gradient's buffer then lacks the output, which the next call writes."""
    from numhess import traced
    monkeypatch.setattr(traced, "RECYCLE_MIN", 1)
    for f, skipped in ((rosenbrock, True), (lambda x: 0.5 * rosenbrock(x), False),
                       (lambda x: np.sum(np.exp(x[1:]) * x[:-1]), False)):
        _check(f)
        g, vg = nh.grad(f), nh.value_and_grad(f)
        for y in (X, X[::-1]):
            g0 = g(y)
            value, g1 = vg(y)
            np.testing.assert_allclose(value, f(y), rtol=1e-14)   # not a stale one
            _close(g1, g0)
        prog = _tape(g).fused
        region = [s for s in prog.values if s[2] is not None]
        assert len(region) == 1 and (region[0] in prog.derivative_values) != skipped


def test_results_read_after_the_region_and_broadcast_operands():
    def f(x):
        y = np.exp(x * 0.5) * x[0]          # x[0]: a broadcast operand
        z = y[::3]                          # a gather of a region's result
        return np.sum(y * 2.0) + np.sum(z ** 2) + y[1] * np.sum(np.sort(y))
    _check(f)


def test_inactive_operands_and_parameters():
    A = np.linspace(1.0, 2.0, 100)          # a parameter (64+ floats)

    def f(x, A):
        c = np.cos(A[:N]) * 2.0 + 1.0       # an inactive region of its own
        return np.sum(np.tanh(x * c) * c + x * A[N:2 * N])
    (g0, h0, *_), (g1, h1, *_) = [
        (nh.grad(f)(X, A), nh.hvp(f)(X, V, A)) for fused.MODE in ("off", "now")]
    _close(g1, g0)
    _close(h1, h0)


def test_two_regions_and_a_product_between():
    M = np.random.default_rng(1).standard_normal((N, N))

    def f(x):
        u = np.tanh(x * 0.3) + x * x
        w = M @ u
        return np.sum(np.log1p(w * w) * 0.5 + w)
    _check(f)


def test_vector_outputs_and_vjp():
    f = lambda x: np.exp(x * 0.5) * x + 1.0
    J = nh.jacrev(f)(X)
    w = np.cos(np.arange(N))
    fused.MODE = "now"
    _, pull = nh.vjp(f, X)
    (got,) = pull(w)
    np.testing.assert_allclose(got, w @ J, rtol=1e-13)


def test_aux_values_of_a_region():
    f = lambda x: (np.sum(np.exp(x * 0.5) * x), np.exp(x * 0.5) * 2.0)
    want = nh.grad(f, has_aux=True)(X)
    fused.MODE = "now"
    got = nh.grad(f, has_aux=True)(X)
    _close(got[0], want[0])
    _close(got[1], want[1])


def test_background_compile(monkeypatch, tmp_path):
    monkeypatch.setattr(fused, "MODE", "auto")
    monkeypatch.setattr(fused, "_DIRECTORY", [str(tmp_path)])    # nothing compiled before
    f = lambda x: np.sum(np.exp(x * 0.25) * x - x ** 3)
    g = nh.grad(f)
    first = g(X)                      # interpreted, while the loops compile
    assert isinstance(_tape(g).fusion, threading.Event)
    fused.wait(_tape(g))
    assert _tape(g).fused is not None
    _close(g(X), first)
    g2 = nh.grad(f)                   # compiled before: loaded at the first call
    _close(g2(X), first)
    assert _tape(g2).fused is not None
    assert {p.suffix for p in tmp_path.iterdir()} >= {".py", ".done"}


def test_small_regions_stay_interpreted(monkeypatch):
    monkeypatch.setattr(fused, "MODE", "now")
    monkeypatch.setattr(fused, "MIN_WORK", MIN_WORK)
    g = nh.grad(rosenbrock)
    g(X)
    assert _tape(g).fused is None and _tape(g).fusion is False


@pytest.fixture(autouse=True)
def _restore_mode(monkeypatch):
    monkeypatch.setattr(fused, "MODE", fused.MODE)
    monkeypatch.setattr(fused, "MIN_WORK", 0)
    monkeypatch.setattr(fused, "HESSIAN_MIN_WORK", 0)


def test_division_by_zero_is_a_rule_not_an_error():
    _check(lambda x: np.sum(np.exp(x * 0.5) * x / 0.0 * 0.0 + x ** 2))


def test_a_parameter_sweep_compiles_one_loop():
    """The tape's constants are read at run time: tapes that differ in them alone have
    one source (a loop had been compiled per value, in the background, waited for at
    exit); whole powers stay written out (squarings)."""
    from numhess.traced import TracedFunction
    f = lambda x, c: np.sum(np.exp(-c * x ** 2) / (c + 2.0) + np.maximum(x, c) - c +
                            (x + 2.0) ** (c + 1.5) + np.minimum(c, x) * c + (c * c) ** x)
    texts = set()
    for c in (0.45, 0.7, -0.3):
        tape = TracedFunction(f).evaluate((X, c)).tape
        (r,) = fusion.regions(tape)
        texts.add(fusion.source(tape, r))
        _check(lambda x: f(x, c))
    assert len(texts) == 1


@pytest.mark.parametrize("hess", ["exact", "hvp"])
def test_one_tape_for_value_gradient_and_hessian(hess):
    """minimize replays one tape for f, its gradient and its Hessian or HVPs: the fused
    forward sweep must leave every value the interpreter's Hessian reads."""
    f = lambda x: np.sum(np.log1p(np.exp(x * 0.5)) * x + (x - 0.3) ** 4)
    res = []
    for fused.MODE in ("off", "now"):
        res.append(nh.minimize(f, X, method="trust-exact" if hess == "exact" else
                               "trust-ncg", hess=hess))
    assert res[0].nit == res[1].nit
    _close(res[1].x, res[0].x)


@pytest.mark.parametrize("chunk_size", [None, 3])
def test_hessians_of_several_outputs_in_chunks(chunk_size):
    """Cotangent rows and chunks of k directions through the wide loops."""
    f = lambda x: np.stack([np.sum(np.exp(x * 0.5) * x[0] + x ** 3),
                            np.sum(np.tanh(x * 0.3) * np.sin(x) - x / x[-1])])
    got = []
    for fused.MODE in ("off", "now"):
        H = nh.hessian(f, chunk_size=chunk_size)
        got.append(H(X))
        assert (_tape(H).fused is not None) == (fused.MODE == "now")
    _close(got[1], got[0])


def test_sparse_hessian_through_the_wide_loops():
    got = []
    for fused.MODE in ("off", "now"):
        H = nh.hessian(rosenbrock, sparse=True)
        got.append(H(X).toarray())
        assert (_tape(H).fused is not None) == (fused.MODE == "now")
    _close(got[1], got[0])


FLAGS = {K.SIGN: np.sign, K.FLOOR: np.floor, K.CEIL: np.ceil, K.RINT: np.rint,
         K.TRUNC: np.trunc, K.ROUNDC: lambda u: np.round(u, 2), K.ISNAN: np.isnan,
         K.ISINF: np.isinf, K.ISFINITE: np.isfinite, K.NOT: np.logical_not}
COMPARISONS = {K.LT: np.less, K.LE: np.less_equal, K.GT: np.greater,
               K.GE: np.greater_equal, K.EQ: np.equal, K.NE: np.not_equal,
               K.AND: np.logical_and, K.OR: np.logical_or, K.XOR: np.logical_xor,
               K.FLOORDIV: lambda a, b: np.floor_divide(a, b + 1.5)}


@pytest.mark.parametrize("opcode", sorted(FLAGS), ids=lambda o: str(o))
def test_non_differentiable_unary_ops_in_a_region(opcode):
    op = FLAGS[opcode]
    _check(lambda x: np.sum(op(x * 7.0 - 3.0) * x ** 2 + x * 0.5))


@pytest.mark.parametrize("opcode", sorted(COMPARISONS), ids=lambda o: str(o))
def test_comparisons_in_a_region(opcode):
    op = COMPARISONS[opcode]
    x = np.round(X, 1)                   # ties for EQ and kin
    _check(lambda x: np.sum(op(x * 2.0 - 1.0, np.round(x[::-1] * 3.0) / 3.0) * x ** 2
                            + x * 0.5), x=x)


def test_where_as_the_interpreters():
    """Selects, with NaN in the branch not taken (its own rules still pass NaN back, as
    the interpreter's and JAX's do)."""
    with np.errstate(invalid="ignore"):
        _check(lambda x: np.sum(np.where(x > 0.5, np.log(x - 0.5), x ** 2) * x
                                + np.where(x < 0.4, x * 2.0, 0.0)))
    _check(lambda x: np.sum(np.where(x > 0.5, x * x, np.sin(x)) * x + x[0] * x))


def test_sums_joined_to_their_region():
    """A sum right after a region runs in its reverse steps: with its terms read again
    later, with a second-order cotangent of its own (its square), over an axis."""
    def f(x):
        u = np.exp(x * 0.3) * x
        rows = np.sum((np.sin(x) * x).reshape(8, 5), axis=1)
        return np.sum(u) * np.sum(u[::2] ** 2) + np.sum(np.tanh(x) * x) ** 2 + \
            np.sum(rows ** 3)
    _check(f)
    fused.MODE = "now"
    g = nh.grad(f)
    g(X)
    tape = _tape(g)
    assert any(steps is not None and tape.op[t1 - 1] == K.SUMALL
               for t0, t1, steps, _ in tape.fused.reverse)


@pytest.mark.parametrize("n", [2, 7, 8, 13, 255, 1003])
def test_sums_in_the_values_step_bit_for_bit(n):
    """A SUMALL's value from its region's values loop is _sum's (eight running sums,
    the last n % 8 terms after), at sizes below 8, not a multiple of 8, over several
    tiles; lean (value_and_grad) and not (an aux output)."""
    f = lambda x: np.sum(x * x * 3.0 - x)       # IEEE operations: NumPy's terms are its
    x = np.random.default_rng(n).uniform(0.5, 2.0, n)
    for fused.MODE in ("off", "now"):
        vg, ga = nh.value_and_grad(f), nh.grad(lambda x: (f(x), f(x)), has_aux=True)
        vg(x), ga(x)                  # (a first call's value is the trace's)
        for y in (x, x[::-1], x * 0.7):
            want = K._sum.py_func(y * y * 3.0 - y).tobytes()
            assert vg(y)[0].tobytes() == ga(y)[1].tobytes() == want
    tape = _tape(vg)
    assert [(t0, t1) for t0, t1, steps, _ in tape.fused.values if steps is not None] == \
        [(0, tape.op.size)]          # the sum in the loop, no interpreter stretch after
    _check(f, x=x, v=np.cos(np.arange(n)))


def test_summed_terms_read_later_guarded_and_not_finite():
    """The sum's terms read after it (a lean forward sweep stores them then), its value
    guarded; inf, both infinities (NaN) and NaN among the terms."""
    def f(x):
        u = np.exp(x * 0.5) * x
        s = np.sum(u)
        return (s * u[3] if s > 1.0 else -s) + np.sum(u[::2] ** 2)
    x = rng.uniform(0.2, 0.9, 45)
    v = rng.standard_normal(45)
    _check(f, x=x, v=v)
    _check(f, x=-x, v=v)             # the other branch
    f = lambda x: np.sum(x * x * x + x)
    for bad in ({17: 1e200}, {17: 1e200, 30: -1e200}, {17: np.nan}):
        y = x.copy()
        y[list(bad)] = list(bad.values())
        got = []
        for fused.MODE in ("off", "now"):
            vg = nh.value_and_grad(f)
            with np.errstate(over="ignore", invalid="ignore"):
                got.append((vg(x), vg(y)))
        assert got[1][1][0].tobytes() == got[0][1][0].tobytes()
        _close(got[1][1][1], got[0][1][1])


def test_gathers_join_regions():
    """Broadcasts, reversals, padding (zero fill: positions without a cotangent) and
    pairwise differences read their sources through their positions in the loop."""
    def pairs(x):
        P = x.reshape(-1, 2)
        D = P[:, None, :] - P[None, :, :]
        r2 = np.sum(D ** 2, -1) + np.eye(P.shape[0])
        return np.sum(1.0 / r2 ** 3)
    _check(pairs)
    _check(lambda x: np.sum(np.pad(x, 2) ** 2 * 3.0)
           + np.sum(np.outer(x, x[::-1]).ravel()[:N] * x))
    fused.MODE = "now"
    g = nh.grad(pairs)
    g(X)
    tape = _tape(g)
    assert any(steps is not None and K.GATHER in tape.op[t0:t1] and
               tape.op[t1 - 1] == K.SCATTER for t0, t1, steps, _ in tape.fused.reverse)


def test_threads_while_the_loops_compile(monkeypatch, tmp_path):
    """Calls from several threads, before, during and after the background compile, all
    give the interpreter's answers."""
    from concurrent.futures import ThreadPoolExecutor
    f = lambda x: np.sum(np.cosh(x * 0.2) * x ** 2 - np.exp(-x))
    fused.MODE = "off"
    want = nh.hvp(f)(X, V)
    monkeypatch.setattr(fused, "MODE", "auto")
    monkeypatch.setattr(fused, "_DIRECTORY", [str(tmp_path)])
    h = nh.hvp(f)
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda _: h(X, V), range(400)))
    fused.wait(_tape(h))
    assert _tape(h).fused is not None
    for g in got + [h(X, V)]:
        _close(g, want)


def test_hvp_again_after_a_gather_from_the_inputs(monkeypatch):
    """A region's gather from x (pairs by broadcasting) writes the inputs' first-order
    cotangents; cleared by each HVP, or the pool (here for buffers of any size) hands
    them to the next one as second-order cotangents (it had returned H v + grad from
    the second call on)."""
    monkeypatch.setattr(drivers.Workspaces, "SMALL", 0)
    f = lambda x: np.sum((x[:, None] - x[None, :]) ** 4)
    x, v = X[:40], V[:40]
    fused.MODE = "now"
    hv, H = nh.hvp(f), nh.hessian(f)(x)
    for _ in range(3):
        _close(hv(x, v), H @ v)
    assert _tape(hv).fused is not None
    np.testing.assert_array_equal(hv(x, np.zeros(40)), 0.0)


def test_gathers_stay_out_of_a_region_with_a_function_of_its_own():
    """A gather loads by index, so a loop with one runs element by element: before tanh
    the gather stays the interpreter's (a net's bias broadcast over its batch); before
    plain arithmetic (pairwise differences, not written out) it joins the region."""
    from numhess.traced import TracedFunction
    x, v = np.linspace(0.1, 1.0, 2000), np.cos(np.arange(2000.0))
    for f, gathered in ((lambda x: np.sum(np.tanh(x.reshape(40, 50) + x[:50])), False),
                        (lambda x: np.sum((x[:60, None] - x[None, :60]) ** 2), True)):
        tape = TracedFunction(f).evaluate((x,)).tape
        (r,) = fusion.regions(tape)
        assert any(tape.op[t] == K.GATHER for t in range(r.t0, r.t1)) == gathered
        _check(f, x, v)
