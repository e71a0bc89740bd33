"""Random NumPy programs for differential fuzzing, and the checks each one must pass.

A program is a list of steps `tK = <expression>` (or a few lines: `if`/`else`, loops,
assignments into arrays) over earlier values, starting from `x`. Each step is rendered
three ways from one description:

- ``numpy``: plain NumPy, the code numhess traces;
- ``jax``: the same program in ``jax.numpy`` (assignments become ``.at[...]``), the
  reference when JAX is installed;
- ``margin``: plain NumPy where every kink or jump (``abs``, ``max``, ``sort``,
  comparisons, ``floor``, ...) goes through ``_M``, which records how far the point is from
  it. A step is kept only when it runs in NumPy, its values are finite and moderate, and
  the point is at least ``MARGIN`` away from every kink, so that finite differences and
  subgradient conventions (ties in ``max``, ``abs`` at 0) cannot disagree legitimately.

Domains are kept safe by construction: ``log``, ``sqrt``, powers and divisions take a
positive expression (``a * a + 0.5``, ``exp(0.5 * a)``, ...), ``arcsin`` and friends take
``0.9 * tanh(a)``.

`check_program` compares numhess with finite differences (Richardson-extrapolated central
differences) and, if given, with JAX at two points, calling the same transformed
functions at both so the second call replays the cached tape (or retraces when a guard
flips), then at the first point again.
"""
import re
import warnings

import numpy as np

import numhess as nh

MAX_SIZE = 48        # elements in any intermediate value
MAX_ABS = 1e3        # largest magnitude of any intermediate value
MARGIN = 1e-3        # smallest distance of the point from any kink or jump
JAX_NAMES = {"fix": "trunc"}


# ---------------------------------------------------------------- three renderings
class Backend:
    def __init__(self, kind):
        self.kind = kind                          # "numpy", "jax" or "margin"
        self.mod = "jnp" if kind == "jax" else "np"

    def f(self, name):
        """A smooth NumPy function (or one numhess treats as a constant)."""
        if self.kind == "jax":
            name = JAX_NAMES.get(name, name)
        return f"{self.mod}.{name}"

    def k(self, name):
        """A NumPy function with kinks or jumps: the margin rendering records them."""
        return "_M." + name.replace(".", "_") if self.kind == "margin" else self.f(name)

    def meth(self, a, name, args=""):
        """a.name(args) for a method with kinks."""
        if self.kind == "margin":
            return f"_M.{name}({a}{', ' + args if args else ''})"
        return f"{a}.{name}({args})"

    def cmp(self, a, op, b):
        return f"_M.cmp({a}, {op!r}, {b})" if self.kind == "margin" else f"({a} {op} {b})"

    def builtin(self, name):
        return f"_M.py{name}" if self.kind == "margin" else name

    def assign(self, t, idx, value, op=""):
        """t[idx] op= value."""
        if self.kind == "jax":   # (callers never write one element twice)
            fn = {"": "set", "+": "add", "*": "multiply"}[op]
            return f"{t} = {t}.at[{idx}].{fn}(_fit({value}, {t}[{idx}].shape), " \
                   "unique_indices=True)"
        return f"{t}[{idx}] {op}= {value}"


BACKENDS = {k: Backend(k) for k in ("numpy", "jax", "margin")}


def _gap(a, axes, top):
    """Distance between the two largest (top) or smallest entries over axes."""
    a = np.asarray(a, dtype=float)
    if a.ndim == 0:
        return np.inf
    axes = tuple(range(a.ndim)) if axes is None else \
        tuple(ax % a.ndim for ax in np.atleast_1d(axes))
    keep = [i for i in range(a.ndim) if i not in axes]
    m = np.transpose(a, keep + list(axes)).reshape(-1, int(np.prod([a.shape[i] for i in axes])))
    if m.shape[1] < 2:
        return np.inf
    s = np.sort(m, axis=1)
    return s[:, -1] - s[:, -2] if top else s[:, 1] - s[:, 0]


class Margins:
    """The `_M` of the margin rendering: NumPy, recording distances to kinks."""

    def __init__(self):
        self.smallest = np.inf

    def note(self, d):
        d = np.abs(np.asarray(d, dtype=float))
        if d.size:
            self.smallest = min(self.smallest, float(np.min(d)))

    def _at_int(self, a, offset=0.0):
        a = np.asarray(a, dtype=float)
        self.note(a - offset - np.round(a - offset))

    def abs(self, a): self.note(a); return np.abs(a)
    def fabs(self, a): self.note(a); return np.fabs(a)
    def sign(self, a): self.note(a); return np.sign(a)
    def floor(self, a): self._at_int(a); return np.floor(a)
    def ceil(self, a): self._at_int(a); return np.ceil(a)
    def trunc(self, a): self._at_int(a); return np.trunc(a)
    def fix(self, a): self._at_int(a); return np.fix(a)
    def rint(self, a): self._at_int(a, 0.5); return np.rint(a)

    def round(self, a, decimals=0):
        s = 10.0 ** decimals
        self._at_int(np.asarray(a) * s, 0.5)
        return np.round(a, decimals)

    def _pair(self, fn, a, b): self.note(np.subtract(a, b)); return fn(a, b)
    def maximum(self, a, b): return self._pair(np.maximum, a, b)
    def minimum(self, a, b): return self._pair(np.minimum, a, b)
    def fmax(self, a, b): return self._pair(np.fmax, a, b)
    def fmin(self, a, b): return self._pair(np.fmin, a, b)
    def pymax(self, a, b): return self._pair(max, a, b)
    def pymin(self, a, b): return self._pair(min, a, b)
    def pyabs(self, a): return self.abs(a)
    def hypot(self, a, b): self.note(np.hypot(a, b)); return np.hypot(a, b)
    def arctan2(self, a, b): self.note(np.hypot(a, b)); return np.arctan2(a, b)

    def max(self, a, axis=None, keepdims=False):
        self.note(_gap(a, axis, True)); return np.max(a, axis=axis, keepdims=keepdims)

    def min(self, a, axis=None, keepdims=False):
        self.note(_gap(a, axis, False)); return np.min(a, axis=axis, keepdims=keepdims)

    amax, amin = max, min

    def maximum_reduce(self, a, axis=0): return self.max(a, axis)
    def minimum_reduce(self, a, axis=0): return self.min(a, axis)

    def sort(self, a, axis=-1):
        s = np.sort(a, axis=axis)
        if s.ndim and s.shape[axis] > 1:
            self.note(np.diff(s, axis=axis))
        return s

    def clip(self, a, lo=None, hi=None):
        for bound in (lo, hi):
            if bound is not None:
                self.note(np.subtract(a, bound))
        return np.clip(a, lo, hi)

    def std(self, a, axis=None, ddof=0, keepdims=False):
        r = np.std(a, axis=axis, ddof=ddof, keepdims=keepdims)
        self.note(r)
        return r

    def linalg_norm(self, a, ord=None, axis=None, keepdims=False):
        r = np.linalg.norm(a, ord, axis, keepdims)
        self.note(r)
        if ord not in (None, 2, "fro"):
            self.note(a)
            if ord in (np.inf, -np.inf, 1, -1) and (axis is None and np.ndim(a) == 2
                                                    or np.ndim(axis) == 1 and len(axis) == 2):
                r0, c0 = (0, 1) if axis is None else axis
                s = np.sum(np.abs(a), axis=c0 if ord in (np.inf, -np.inf) else r0)
                self.note(_gap(s, None, ord > 0))
            elif ord in (np.inf, -np.inf):
                self.note(_gap(np.abs(a), axis, ord > 0))
        return r

    def cmp(self, a, op, b):
        self.note(np.subtract(a, b))
        return {"<": np.less, "<=": np.less_equal, ">": np.greater,
                ">=": np.greater_equal}[op](a, b)


# ---------------------------------------------------------------- programs
class Step:
    """One step writing `name`: render(B, name) gives its lines for backend B."""

    def __init__(self, kind, render):
        self.kind, self.render = kind, render


def _expr_step(kind, expr):
    return Step(kind, lambda B, name: [f"{name} = {expr(B)}"])


class Program:
    def __init__(self, shape, steps, names, output, extra, weights, x1, seed):
        self.shape, self.steps, self.names = shape, steps, names
        self.output, self.extra, self.weights = output, extra, weights
        self.x1, self.seed = x1, seed

    def body(self, B):
        lines = []
        for step, name in zip(self.steps, self.names):
            lines += step.render(B, name)
        return lines

    def source(self, kind="numpy"):
        B = BACKENDS[kind]
        body = "".join(f"    {ln}\n" for ln in self.body(B))
        terms = [f"0.5 * {B.f('sum')}({self.output} ** 2)"]
        terms += [f"{w!r} * {B.f('sum')}({t})" for t, w in zip(self.extra, self.weights)]
        return (f"def f(x):\n{body}    return {self.output}\n\n\n"
                f"def F(x):\n{body}    return {' + '.join(terms)}\n")

    def functions(self, kind="numpy"):
        """(f, F): the vector-valued program and its scalar objective."""
        env = {"np": np, "_M": Margins()}
        if kind == "jax":
            import jax.numpy as jnp
            env["jnp"] = jnp

            def _fit(v, shape):
                """v broadcast to shape as NumPy's assignment does (leading 1s dropped)."""
                v = jnp.asarray(v)
                extra = v.ndim - len(shape)
                return jnp.broadcast_to(v.reshape(v.shape[extra:]) if extra > 0 else v, shape)
            env["_fit"] = _fit
        exec(compile(self.source(kind), f"<fuzz program {kind}>", "exec"), env)
        return env["f"], env["F"]

    def margin_at(self, x):
        """(smallest distance to a kink, largest |value|) over the program at x."""
        env = {"np": np, "_M": Margins(), "x": np.array(x, dtype=float)}
        biggest = float(np.max(np.abs(x), initial=0.0))
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for step, name in zip(self.steps, self.names):
                exec("\n".join(step.render(BACKENDS["margin"], name)), env)
                biggest = max(biggest, _magnitude(env[name]))
        return env["_M"].smallest, biggest

    def __repr__(self):
        return (f"# x.shape = {self.shape}\n# x1 = np.array({self.x1.tolist()!r})\n"
                + self.source("numpy"))


def _magnitude(v):
    v = np.asarray(v, dtype=float)
    if not np.all(np.isfinite(v)):
        return np.inf
    return float(np.max(np.abs(v), initial=0.0))


# ---------------------------------------------------------------- the generator
def _fmt(c):
    return repr(round(float(c), 3))


class Gen:
    """Generation state: the pool of named values (at the point x1) and the draw."""

    def __init__(self, draw, st, x1):
        self.draw, self.st = draw, st
        self.pool = [("x", np.array(x1))]
        self.env = {"np": np, "_M": Margins(), "x": np.array(x1)}
        self.traced = {"x"}     # names that depend on x: Tracers when numhess runs

    def pick(self, min_ndim=0, min_size=0, pred=None, traced=False):
        ok = [(n, v) for n, v in self.pool if v.ndim >= min_ndim and v.size >= min_size
              and (pred is None or pred(v)) and (not traced or n in self.traced)]
        if not ok:
            return None
        i = self.draw(self.st.integers(0, len(ok) - 1))
        return ok[-1 - i]   # shrinks towards the newest value

    def integer(self, lo, hi):
        return self.draw(self.st.integers(lo, hi))

    def choice(self, options):
        return self.draw(self.st.sampled_from(options))

    def coin(self):
        return self.draw(self.st.booleans())

    def const(self, lo=-1.0, hi=1.0):
        return _fmt(self.draw(self.st.floats(lo, hi, allow_nan=False, allow_infinity=False)))

    def const_array(self, shape):
        shape = tuple(int(s) for s in shape)
        size = int(np.prod(shape))
        lo, hi = self.const(-1.0, 0.0), self.const(0.1, 1.0)
        return f"np.linspace({lo}, {hi}, {size}).reshape({shape})"

    def partner(self, shape):
        """A value or constant broadcastable with shape: (expression, value shape)."""
        def fits(v):
            try:
                out = np.broadcast_shapes(shape, v.shape)
            except ValueError:
                return False
            return int(np.prod(out)) <= MAX_SIZE
        kind = self.integer(0, 3)
        if kind <= 1:
            p = self.pick(pred=fits)
            if p is not None:
                return p[0]
        if kind == 2 and len(shape):
            k = self.integer(0, len(shape))
            sub = tuple(1 if self.coin() else s for s in shape[k:])
            return self.const_array(sub)
        return self.const()

    def axis(self, ndim, allow_none=True, allow_tuple=True):
        options = ["None"] if allow_none else []
        if ndim:
            options += [str(a) for a in range(-ndim, ndim)]
            if allow_tuple and ndim >= 2:
                options += [f"({a}, {b})" for a in range(ndim) for b in range(a + 1, ndim)]
        if not options:
            return None
        return self.choice(options)

    def shape_of(self, size):
        """A random shape with `size` elements."""
        if size == 0:
            return self.choice([(0,), (2, 0), (0, 1, 3)])
        dims, rest = [], size
        for _ in range(self.integer(0, 3)):
            divs = [d for d in range(1, rest + 1) if rest % d == 0]
            d = self.choice(divs)
            dims.append(d)
            rest //= d
        dims.append(rest)
        if self.coin() and len(dims) > 1:
            dims[self.integer(0, len(dims) - 1)] = -1
        return tuple(dims)

    def index(self, shape):
        """A random index expression for an array of this shape (validated by running it)."""
        parts, ellipsis = [], False
        for d in shape:
            r = self.integer(0, 9)
            if r == 0:
                parts.append(str(self.integer(-d, d - 1)) if d else ":")
            elif r == 1:
                a, b = self.integer(-d - 1, d), self.integer(-d - 1, d + 1)
                step = self.choice(["", ":2", ":-1", ":3", ":-2"])
                parts.append(f"{a}:{b}{step}")
            elif r == 2:
                parts.append(self.choice(["::-1", "1:", ":-1", "::2", "1::2"]))
            elif r == 3 and d:
                # distinct elements: NumPy's and JAX's writes to a repeated index differ
                k = self.integer(1, min(d, 4))
                rest, picked = list(range(d)), []
                for _ in range(k):
                    i = rest.pop(self.integer(0, len(rest) - 1))
                    picked.append(i - d if self.coin() else i)
                parts.append(f"np.array({picked})")
            elif r == 4 and d:
                mask = [self.coin() for _ in range(d)]
                parts.append(f"np.array({mask})")
            elif r == 5:
                parts.append("None")
                parts.append(":")
            elif r == 6 and not ellipsis:
                parts.append("...")
                ellipsis = True
                break
            else:
                parts.append(":")
        if self.coin() and parts:
            parts = parts[:self.integer(1, len(parts))]
        return ", ".join(parts) if parts else "..."


# The positive and the unit-interval expressions feeding functions with restricted domains.
POSITIVE = [lambda B, a: f"({a} * {a} + 0.5)", lambda B, a: f"{B.f('exp')}(0.5 * {a})",
            lambda B, a: f"(2.0 + {B.f('sin')}({a}))", lambda B, a: f"{B.f('hypot')}({a}, 0.7)",
            lambda B, a: f"{B.f('cosh')}({a})", lambda B, a: f"{B.f('logaddexp')}({a}, 1.0)"]
UNIT = [lambda B, a: f"(0.9 * {B.f('tanh')}({a}))", lambda B, a: f"(0.8 * {B.f('sin')}({a}))"]

UNARY_ANY = ["sin", "cos", "tanh", "arctan", "arcsinh", "negative", "square", "exp", "expm1",
             "exp2", "sinh", "cosh", "deg2rad", "positive"]
UNARY_POS = ["log", "log2", "log10", "log1p", "sqrt", "cbrt", "reciprocal"]
UNARY_UNIT = ["arcsin", "arccos", "arctanh", "tan"]
OPERATOR_FORMS = ["-{a}", "+{a}", "{a} ** 2", "{a} ** 3", "{a} * {a}", "2.0 ** {a}",
                  "{a} * {c}", "{c} * {a}", "{a} + {c}", "{c} - {a}", "{a} / 3.0",
                  "{a} - {c}"]
POS_FORMS = ["1.0 / {p}", "{p} ** 2.5", "{p} ** -1.5", "{p} ** 0.5", "{c} / {p}",
             "{F}({p}, 1.5)", "{P}({p}, -0.7)", "{ACOSH}(1.0 + {p})"]
BINARY_SMOOTH = ["add", "subtract", "multiply", "logaddexp", "logaddexp2"]
BINARY_KINK = ["maximum", "minimum", "fmax", "fmin", "hypot", "arctan2"]
BINARY_OPS = ["+", "-", "*"]
NOGRAD = ["sign", "floor", "ceil", "rint", "trunc", "fix"]


def op_unary(g):
    a = g.pick()
    if a is None:
        return None
    a = a[0]
    r = g.integer(0, 4)
    if r == 0:
        fn = g.choice(UNARY_ANY)
        return _expr_step(fn, lambda B: f"{B.f(fn)}({a})")
    if r == 1:
        form, c = g.choice(OPERATOR_FORMS), g.const()
        return _expr_step("operator", lambda B: form.format(a=a, c=c))
    if r == 2:
        fn, pos = g.choice(UNARY_POS), g.choice(POSITIVE)
        return _expr_step(fn, lambda B: f"{B.f(fn)}({pos(B, a)})")
    if r == 3:
        form, pos, c = g.choice(POS_FORMS), g.choice(POSITIVE), g.const(0.2, 2.0)
        return _expr_step("power", lambda B: form.format(
            p=pos(B, a), c=c, F=B.f("float_power"), P=B.f("power"), ACOSH=B.f("arccosh")))
    fn, unit = g.choice(UNARY_UNIT), g.choice(UNIT)
    return _expr_step(fn, lambda B: f"{B.f(fn)}({unit(B, a)})")


def op_kink_unary(g):
    a = g.pick()
    if a is None:
        return None
    a = a[0]
    r = g.integer(0, 2)
    if r == 0:
        return _expr_step("abs", lambda B: f"{B.k('abs')}({a})")
    if r == 1:
        return _expr_step("fabs", lambda B: f"{B.k('fabs')}({a})")
    return _expr_step("builtin abs", lambda B: f"{B.builtin('abs')}({a})")


def op_binary(g):
    a = g.pick()
    if a is None:
        return None
    a, av = a
    b = g.partner(av.shape)
    r = g.integer(0, 5)
    if r == 0:
        fn = g.choice(BINARY_SMOOTH)
        return _expr_step(fn, lambda B: f"{B.f(fn)}({a}, {b})")
    if r == 1:
        op = g.choice(BINARY_OPS)
        return _expr_step(op, lambda B: f"{a} {op} {b}")
    if r == 2:
        fn = g.choice(BINARY_KINK)
        return _expr_step(fn, lambda B: f"{B.k(fn)}({a}, {b})")
    pos = g.choice(POSITIVE)
    form = g.choice(["{a} / {pb}", "{D}({a}, {pb})", "{pa} ** {b}", "{P}({pa}, {ub})",
                     "{FP}({pa}, {b})", "{AT}({a}, {pb})"])
    unit = g.choice(UNIT)
    return _expr_step("binary", lambda B: form.format(
        a=a, b=b, pa=pos(B, a), pb=pos(B, b), ub=unit(B, b), D=B.f("divide"),
        P=B.f("power"), FP=B.f("float_power"), AT=B.f("arctan2")))


def op_where(g):
    a = g.pick()
    if a is None:
        return None
    a, av = a
    b, c = g.partner(av.shape), g.partner(av.shape)
    t = g.const(-0.5, 0.5)
    r = g.integer(0, 4)
    op = g.choice(["<", ">", "<=", ">="])
    if r == 0:
        return _expr_step("where", lambda B: f"{B.f('where')}({B.cmp(a, op, t)}, {b}, {c})")
    if r == 1:
        return _expr_step("where", lambda B: f"{B.f('where')}({B.cmp(a, op, t)}, {a} ** 2, "
                                             f"{B.f('sin')}({b}))")
    if r == 2:
        lo, hi = g.const(-1.0, 0.0), g.const(0.1, 1.0)
        form = g.choice(["k", "meth", "none"])
        if form == "k":
            return _expr_step("clip", lambda B: f"{B.k('clip')}({a}, {lo}, {hi})")
        if form == "meth":
            return _expr_step("clip", lambda B: B.meth(a, "clip", f"{lo}, {hi}"))
        return _expr_step("clip", lambda B: f"{B.k('clip')}({a}, None, {hi})")
    if r == 3:
        return _expr_step("clip", lambda B: f"{B.k('clip')}({a}, {b} - 0.5, {b} + 0.5)")
    return _expr_step("where", lambda B: f"{B.f('where')}({B.cmp(a, op, b)}, {a}, {c})")


def op_nograd(g):
    a = g.pick()
    if a is None:
        return None
    a, av = a
    b = g.partner(av.shape)
    r = g.integer(0, 6)
    if r == 0:
        fn = g.choice(NOGRAD)
        scale = g.choice(["", "3.0 * "])
        return _expr_step(fn, lambda B: f"{B.k(fn)}({scale}{a}) * {b}")
    if r == 1:
        d = g.integer(0, 1)
        return _expr_step("round", lambda B: f"{B.k('round')}(3.0 * {a}, {d}) * {b}")
    if r == 2:
        op, t = g.choice(["<", ">", "<=", ">="]), g.const(-0.5, 0.5)
        return _expr_step("comparison", lambda B: f"{B.cmp(a, op, t)} * {b}")
    if r == 3:
        t1, t2 = g.const(-1.0, -0.1), g.const(0.1, 1.0)
        form = g.choice(["logical_and", "logical_or", "&", "|", "^"])
        if form.startswith("logical"):
            return _expr_step(form, lambda B: f"{B.f(form)}({B.cmp(a, '>', t1)}, "
                                              f"{B.cmp(a, '<', t2)}) * {b}")
        return _expr_step(form, lambda B: f"({B.cmp(a, '>', t1)} {form} {B.cmp(a, '<', t2)}) "
                                          f"* {b}")
    if r == 4:
        fn = g.choice(["isfinite", "isnan", "isinf"])
        return _expr_step(fn, lambda B: f"{B.f('where')}({B.f(fn)}({a}), {a}, {b})")
    if r == 5:
        t = g.const(-0.5, 0.5)
        return _expr_step("not", lambda B: f"{B.f('logical_not')}({B.cmp(a, '>', t)}) * {b} + "
                                           f"~{B.cmp(a, '>', t)} * {a}")
    fn, t = g.choice(["all", "any"]), g.const(-1.0, 1.0)
    ax = g.axis(av.ndim, allow_tuple=False)
    return _expr_step(fn, lambda B: f"{B.f(fn)}({B.cmp(a, '>', t)}, axis={ax}, "
                                    f"keepdims=True) * {a}")


def op_reduce(g):
    a = g.pick(min_size=1)
    if a is None:
        return None
    a, av = a
    ax = g.axis(av.ndim)
    kd = g.choice(["", ", keepdims=True"])
    r = g.integer(0, 9)
    if r == 0:
        fn = g.choice(["sum", "mean", "prod", "var"])
        return _expr_step(fn, lambda B: f"{B.f(fn)}({a}, axis={ax}{kd})")
    if r == 1:
        fn = g.choice(["sum", "mean", "prod", "var"])
        return _expr_step(fn, lambda B: f"{a}.{fn}(axis={ax}{kd})")
    if r == 2:
        fn = g.choice(["max", "min", "amax", "amin"])
        return _expr_step(fn, lambda B: f"{B.k(fn)}({a}, axis={ax}{kd})")
    if r == 3:
        fn = g.choice(["max", "min"])
        return _expr_step(fn, lambda B: B.meth(a, fn, f"axis={ax}{kd}"))
    if r == 4:
        return _expr_step("var ddof", lambda B: f"{B.f('var')}({a}, axis={ax}, ddof=1{kd})")
    if r == 5:
        return _expr_step("std", lambda B: f"{B.k('std')}({a}, axis={ax}{kd})")
    if r == 6:
        fn, ax1 = g.choice(["cumsum", "cumprod"]), g.axis(av.ndim, allow_tuple=False)
        if g.coin():
            return _expr_step(fn, lambda B: f"{B.f(fn)}({a}, axis={ax1})")
        return _expr_step(fn, lambda B: f"{a}.{fn}(axis={ax1})")
    if r == 7:
        ax1 = g.axis(av.ndim, allow_none=False, allow_tuple=False) or "0"
        fn = g.choice(["add.reduce", "multiply.reduce", "add.accumulate",
                       "multiply.accumulate", "maximum.reduce", "minimum.reduce"])
        if fn.startswith(("maximum", "minimum")):
            return _expr_step(fn, lambda B: f"{B.k(fn)}({a}, axis={ax1})")
        return _expr_step(fn, lambda B: f"{B.f(fn)}({a}, axis={ax1})")
    if r == 8:
        return _expr_step("builtin sum", lambda B: f"sum({a})")
    ords = ["None", "1", "2", "3", "np.inf", "-np.inf"]
    if av.ndim == 2:
        ords += ["'fro'", "'matrix1'", "'matrixinf'"]
    o = g.choice(ords)
    if o.startswith("'matrix"):
        o = "1" if o == "'matrix1'" else "np.inf"
        return _expr_step("norm", lambda B: f"{B.k('linalg.norm')}({a}, {o}, axis=(0, 1))")
    if o == "'fro'" or av.ndim != 1 and g.coin():
        return _expr_step("norm", lambda B: f"{B.k('linalg.norm')}({a}, {o})"
                          if o in ("None", "'fro'") else
                          f"{B.k('linalg.norm')}({a}.ravel(), {o})")
    ax1 = g.axis(av.ndim, allow_none=False, allow_tuple=False) or "None"
    return _expr_step("norm", lambda B: f"{B.k('linalg.norm')}({a}, {o}, axis={ax1})")


def op_index(g):
    a = g.pick(min_ndim=1)
    if a is None:
        return None
    a, av = a
    if g.integer(0, 5) == 0:
        t = g.const(-0.5, 0.5)
        return _expr_step("traced mask", lambda B: f"{a}[{B.cmp(a, '>', t)}]")
    idx = g.index(av.shape)
    return _expr_step("index", lambda B: f"{a}[{idx}]")


def op_shape(g):
    a = g.pick()
    if a is None:
        return None
    a, av = a
    nd = av.ndim
    r = g.integer(0, 11)
    if r == 0:
        shape = g.shape_of(av.size)
        if g.coin():
            return _expr_step("reshape", lambda B: f"{a}.reshape({shape})")
        return _expr_step("reshape", lambda B: f"{B.f('reshape')}({a}, {shape})")
    if r == 1:
        form = g.choice(["{np}.ravel({a})", "{a}.ravel()", "{a}.flatten()", "{a}.reshape(-1)",
                         "{a}.T", "{np}.transpose({a})", "{np}.copy({a})", "{a}.copy()",
                         "{np}.atleast_2d({a})", "{np}.atleast_1d({a})",
                         "{np}.squeeze({a})"])
        return _expr_step(form.split("(")[0], lambda B: form.format(
            a=a, np=B.mod))
    if nd == 0:
        return None
    ax = g.integer(-nd, nd - 1)
    if r == 2:
        perm = list(g.draw(g.st.permutations(range(nd))))
        return _expr_step("transpose", lambda B: f"{B.f('transpose')}({a}, {tuple(perm)})")
    if r == 3:
        ax2 = g.integer(-nd, nd - 1)
        fn = g.choice(["swapaxes", "moveaxis"])
        return _expr_step(fn, lambda B: f"{B.f(fn)}({a}, {ax}, {ax2})")
    if r == 4:
        e = g.integer(-nd - 1, nd)
        return _expr_step("expand_dims", lambda B: f"{B.f('expand_dims')}({a}, {e})")
    if r == 5:
        lead = g.integer(1, 3)
        shape = (lead,) + tuple(s if s != 1 or g.coin() else g.integer(1, 3) for s in av.shape)
        return _expr_step("broadcast_to", lambda B: f"{B.f('broadcast_to')}({a}, {shape})")
    if r == 6:
        fn = g.choice(["flip", "roll", "repeat", "take", "delete", "diff", "sort"])
        if fn == "flip":
            axs = g.choice(["", f", {ax}"])
            return _expr_step(fn, lambda B: f"{B.f('flip')}({a}{axs})")
        if fn == "roll":
            s = g.integer(-3, 3)
            axs = g.choice(["", f", axis={ax}"])
            return _expr_step(fn, lambda B: f"{B.f('roll')}({a}, {s}{axs})")
        if fn == "repeat":
            k = g.integer(1, 3)
            axs = g.choice(["", f", axis={ax}"])
            return _expr_step(fn, lambda B: f"{B.f('repeat')}({a}, {k}{axs})")
        if fn == "take":
            d = av.shape[ax]
            if not d:
                return None
            idx = [g.integer(-d, d - 1) for _ in range(g.integer(1, 4))]
            return _expr_step(fn, lambda B: f"{B.f('take')}({a}, np.array({idx}), axis={ax})")
        if fn == "delete":
            d = av.shape[ax]
            if not d:
                return None
            i = g.integer(0, d - 1)
            return _expr_step(fn, lambda B: f"{B.f('delete')}({a}, {i}, axis={ax})")
        if fn == "diff":
            n = g.integer(1, 2)
            return _expr_step(fn, lambda B: f"{B.f('diff')}({a}, n={n}, axis={ax})")
        return _expr_step(fn, lambda B: f"{B.k('sort')}({a}, axis={ax})")
    if r == 7:
        reps = tuple(g.integer(1, 2) for _ in range(g.integer(1, nd + 1)))
        return _expr_step("tile", lambda B: f"{B.f('tile')}({a}, {reps})")
    if r == 8:
        width = g.choice(["1", "(1, 2)", "((0, 1),) * %d" % nd])
        mode = g.choice(["", ", mode='edge'", ", mode='reflect'", ", mode='wrap'",
                         ", mode='symmetric'", ", constant_values=0.5"])
        return _expr_step("pad", lambda B: f"{B.f('pad')}({a}, {width}{mode})")
    if r == 9:
        fn = g.choice(["fliplr", "flipud", "rot90", "atleast_3d", "resize"])
        if fn == "resize":
            size = g.integer(1, MAX_SIZE // 2)
            return _expr_step(fn, lambda B: f"{B.f('resize')}({a}, {size})")
        return _expr_step(fn, lambda B: f"{B.f(fn)}({a})")
    if r == 10:
        d = av.shape[ax]
        if not d:
            return None
        shape = list(av.shape)
        shape[ax] = g.integer(1, 3)
        rng = np.random.default_rng(g.integer(0, 1000))
        ind = rng.integers(0, d, size=shape).tolist()
        return _expr_step("take_along_axis", lambda B: f"{B.f('take_along_axis')}({a}, "
                                                       f"np.array({ind}), axis={ax})")
    # matrix structure
    fn = g.choice(["diag", "diagflat", "diagonal", "trace", "triu", "tril"])
    if fn in ("diagonal", "trace", "triu", "tril") and nd < 2 or fn == "diag" and nd > 2:
        return None
    k = g.integer(-1, 1)
    if fn == "diagflat":
        return _expr_step(fn, lambda B: f"{B.f(fn)}({a})")
    return _expr_step(fn, lambda B: f"{B.f(fn)}({a}, {k})")


def op_join(g):
    a = g.pick()
    if a is None:
        return None
    a, av = a
    same = g.pick(pred=lambda v: v.shape == av.shape)[0]   # at least a itself
    bform = g.choice(["{s}", "{np}.sin({s})", "{s} ** 2"])
    bb = lambda B: bform.format(s=same, np=B.mod)
    r = g.integer(0, 7)
    if r == 0:
        ax = g.choice(["0", "-1", "1", "None"])
        return _expr_step("concatenate", lambda B: f"{B.f('concatenate')}([{a}, {bb(B)}], "
                                                   f"axis={ax})")
    if r == 1:
        ax = g.integer(-1, max(av.ndim, 0))
        return _expr_step("stack", lambda B: f"{B.f('stack')}([{a}, {bb(B)}], axis={ax})")
    if r == 2:
        fn = g.choice(["hstack", "vstack", "column_stack"])
        return _expr_step(fn, lambda B: f"{B.f(fn)}([{a}, {bb(B)}])")
    if r == 3:
        ax = g.choice(["", ", axis=0", ", axis=-1"])
        return _expr_step("append", lambda B: f"{B.f('append')}({a}, {bb(B)}{ax})")
    if r == 4:
        k = g.integer(1, 3)
        i = g.integer(0, k - 1)
        fn = g.choice(["split", "array_split"])
        ax = g.choice(["", ", axis=-1"])
        return _expr_step(fn, lambda B: f"{B.f(fn)}({a}, {k}{ax})[{i}]")
    if r == 5:
        # np.array of traced scalars
        items = []
        for _ in range(g.integer(1, 4)):
            c = g.pick(min_size=1)
            if c is None:
                return None
            i = g.integer(0, c[1].size - 1)
            items.append((c[0], i, g.choice(["{s}", "{s} * {s}", "sin({s})", "1.5"])))

        def render(B, items=items):
            parts = []
            for name, i, form in items:
                s = f"{name}.ravel()[{i}]"
                parts.append(form.format(s=s).replace("sin(", f"{B.f('sin')}("))
            return f"{B.f('stack')}([{', '.join(parts)}])"

        def render_array(B, items=items):
            # np.array of traced scalars is a NumPy object array: numhess packs it when it
            # meets a traced value (alone, NumPy's object loops would handle it)
            return f"{items[0][0]}.ravel()[0] * {render(B).replace('stack', 'array', 1)}"
        return _expr_step("array of scalars", render if g.coin() else render_array)
    if r == 6:
        if av.ndim == 0 or len(av) == 0:
            return None
        form = g.choice(["{np}.stack([{np}.sum(r ** 2) for r in {a}])",
                         "{np}.stack([r * {i} for i, r in enumerate({a})])",
                         "{np}.stack([{np}.sin(r) for r in {a}])",
                         "{a}.ravel()[0] * {np}.array([{np}.sum(r ** 2) for r in {a}])"])
        return _expr_step("iterate", lambda B: form.format(np=B.mod, a=a, i="i"))
    # a Python loop of scalar operations
    if av.size < 2:
        return None
    n = min(av.size, 4)
    return Step("loop", lambda B, name: [
        f"{name}_r = {a}.ravel()",
        f"{name} = {name}_r[0] * 1.0",
        f"for i in range(1, {n}):",
        f"    {name} = {name} * 0.5 + {B.f('sin')}({name}_r[i]) * {name}_r[i - 1]"])


def op_assign(g):
    a = g.pick(traced=True)
    if a is None:
        return None
    a, av = a
    make = g.choice(["zeros_like", "ones_like", "full_like", "copy"])
    if av.ndim == 0:
        return None
    idx = g.index(av.shape)
    try:
        target_shape = np.zeros(av.shape)[eval(f"np.s_[{idx}]", {"np": np})].shape
    except Exception:
        return None
    value = g.partner(target_shape)
    if make == "copy":
        op = g.choice(["", "+", "*"])
        first = lambda B: f"{a}.copy()"
    else:
        op = ""
        first = (lambda B: f"{B.f(make)}({a}, 0.5)") if make == "full_like" else \
            (lambda B: f"{B.f(make)}({a})")
    form = g.choice(["{v}", "{v} * 2.0", "{np}.sin({v})"])

    def render(B, name):
        return [f"{name} = {first(B)}",
                B.assign(name, idx, form.format(v=value, np=B.mod), op)]
    return Step(f"assign{op}", render)


VIEWS = ["[{i}]", ".T", ".reshape({shape})", ".ravel()", "[..., None]", "[::-1]",
         "[1:]", ".swapaxes(0, -1)"]


def op_view_write(g):
    """Writes through a view of a fresh copy, which reach the copy (NumPy's semantics).

    JAX has no views: its rendering writes the same elements of the copy, found by
    applying the view to an index array."""
    a = g.pick(min_ndim=1, min_size=1, traced=True)
    if a is None:
        return None
    a, av = a
    form = g.choice(VIEWS)
    view = form.format(i=g.index(av.shape), shape=g.shape_of(av.size))
    try:
        vshape = eval(f"p{view}", {"p": np.zeros(av.shape), "np": np}).shape
        idx = g.index(vshape) if g.coin() else "..."
        tshape = eval(f"p[{idx}]", {"p": np.zeros(vshape), "np": np}).shape
    except Exception:
        return None
    op = g.choice(["", "+", "*"])
    value = g.partner(tshape)

    def render(B, name):
        if B.kind == "jax":
            fn = {"": "set", "+": "add", "*": "multiply"}[op]
            sel = f"np.arange({name}.size).reshape({name}.shape){view}[{idx}]"
            return [f"{name} = {a}",
                    f"{name}_s = {sel}",
                    f"{name} = {name}.ravel().at[{name}_s.ravel()].{fn}(_fit("
                    f"{value}, {name}_s.shape).ravel(), unique_indices=True)"
                    f".reshape({name}.shape)"]
        lines = [f"{name} = {a}.copy()", f"{name}_v = {name}{view}"]
        if B.kind == "margin":    # keep the step only where NumPy makes a view
            lines.append(f"assert np.shares_memory({name}_v, {name})")
        return lines + [B.assign(f"{name}_v", idx, value, op)]
    return Step("view write", render)


def op_product(g):
    a = g.pick(min_ndim=1, min_size=1)
    if a is None:
        return None
    a, av = a
    r = g.integer(0, 6)
    p = av.shape[-1]

    def operand(shape):
        """A value reshaped to `shape`, or a constant."""
        need = int(np.prod(shape))
        c = g.pick(min_size=need) if g.integer(0, 2) else None
        if c is None:
            return g.const_array(shape)
        return f"{c[0]}.ravel()[:{need}].reshape({tuple(shape)})"
    if r == 0:
        q = g.integer(1, 4)
        b = operand((p, q) if g.coin() else (p,))
        fn = g.choice(["@", "matmul", "dot"])
        if fn == "@":
            return _expr_step("matmul", lambda B: f"{a} @ {b}")
        return _expr_step(fn, lambda B: f"{B.f(fn)}({a}, {b})")
    if r == 1:
        if av.ndim < 2:
            return None
        m = av.shape[-2]
        b = operand((g.integer(1, 3), m))
        return _expr_step("matmul left", lambda B: f"{b} @ {a}")
    if r == 2:
        b = operand(av.shape)
        fn = g.choice(["vdot", "inner"])
        return _expr_step(fn, lambda B: f"{B.f(fn)}({a}, {b})")
    if r == 3:
        b = operand((g.integer(1, 4),))
        return _expr_step("outer", lambda B: f"{B.f('outer')}({a}, {b})")
    if r == 4:
        b = operand((p, g.integer(1, 3)))
        return _expr_step("tensordot", lambda B: f"{B.f('tensordot')}({a}, {b}, axes=1)")
    if r == 5:
        if av.ndim < 2:
            return None
        b = operand(av.shape[-2:][::-1])
        return _expr_step("tensordot", lambda B: f"{B.f('tensordot')}({a}, {b}, "
                                                 f"axes=([-1, -2], [0, 1]))")
    if av.ndim < 3:
        return None
    b = operand(av.shape[-3:-2] + (p, g.integer(1, 3)))
    return _expr_step("batched matmul", lambda B: f"{B.f('matmul')}({a}, {b})")


def op_branch(g):
    a = g.pick(min_size=1)
    if a is None:
        return None
    a, av = a
    b = g.pick()[0]
    t = g.const(-0.5, 0.5)
    r = g.integer(0, 3)
    i = g.integer(0, av.size - 1)
    cond_of = g.choice([lambda B: f"{B.f('sum')}({a})", lambda B: f"{a}.ravel()[{i}]",
                        lambda B: f"{B.f('mean')}({a} ** 2)"])
    f1, f2 = g.choice(UNARY_ANY[:5]), g.choice(UNARY_ANY[:5])
    if r <= 1:
        op = g.choice(["<", ">"])
        return Step("if", lambda B, name: [
            f"if {B.cmp(cond_of(B), op, t)}:",
            f"    {name} = {B.f(f1)}({b}) * {a}.ravel()[{i}]",
            "else:",
            f"    {name} = {B.f(f2)}({b}) + {a}.ravel()[{i}]"])
    if r == 2:
        # a while loop whose trip count depends on the value
        return Step("while", lambda B, name: [
            f"{name} = {b} * 1.0",
            f"{name}_n = 0",
            f"while {B.cmp(B.f('sum') + f'({name} * {name})', '<', 2.0)} and {name}_n < 4:",
            f"    {name} = {name} * 1.3 + 0.1",
            f"    {name}_n += 1"])
    if av.size < 2:
        return None
    j = (i + g.integer(1, av.size - 1)) % av.size
    fn = g.choice(["max", "min"])
    return _expr_step("builtin " + fn, lambda B: f"{B.builtin(fn)}({a}.ravel()[{i}], "
                                                 f"{a}.ravel()[{j}]) * {b}")


OPS = [op_unary, op_unary, op_binary, op_binary, op_kink_unary, op_where, op_nograd,
       op_reduce, op_index, op_shape, op_shape, op_join, op_assign, op_view_write, op_product,
       op_branch]


def programs(st, max_steps=10, max_n=12):
    """A hypothesis strategy for Programs."""

    @st.composite
    def strategy(draw):
        ndim = draw(st.sampled_from([0, 1, 1, 1, 2, 2, 3]))
        shape = tuple(draw(st.integers(1, 4)) for _ in range(ndim))
        if ndim == 1 and draw(st.booleans()):
            shape = (draw(st.integers(1, max_n)),)
        elif ndim == 1 and draw(st.integers(0, 5)) == 0:   # dense Hessians use colouring
            shape = (draw(st.integers(32, 40)),)
        seed = draw(st.integers(0, 2 ** 32 - 1))
        x1 = np.random.default_rng(seed).uniform(-1.5, 1.5, size=shape)
        g = Gen(draw, st, x1)
        n_steps = draw(st.integers(1, max_steps))
        steps, names, attempts = [], [], 0
        while len(steps) < n_steps and attempts < 4 * n_steps:
            attempts += 1
            op = draw(st.sampled_from(OPS))
            step = op(g)
            if step is None:
                continue
            name = f"t{len(steps) + 1}"
            if _try_step(g, step, name):
                steps.append(step)
                names.append(name)
                g.pool.append((name, np.asarray(g.env[name])))
                text = "\n".join(step.render(BACKENDS["numpy"], name))
                if any(re.search(rf"\b{t}\b", text) for t in g.traced):
                    g.traced.add(name)
        outputs = [n for n in names if np.asarray(g.env[n]).dtype.kind == "f"] or ["x"]
        output = outputs[-1]
        extra = [n for n in outputs[:-1] if draw(st.booleans())][:3]
        weights = [round(draw(st.floats(-1.0, 1.0)), 2) for _ in extra]
        return Program(shape, steps, names, output, extra, weights, x1, seed)
    return strategy()


def _try_step(g, step, name):
    """Run the step's margin rendering at x1; keep it if it is well-behaved there."""
    env = dict(g.env)
    env["_M"] = m = Margins()
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exec("\n".join(step.render(BACKENDS["margin"], name)), env)
    except Exception:
        return False
    v = env.get(name)
    if not isinstance(v, (np.ndarray, np.generic, float)):
        return False
    v = np.asarray(v)
    if v.dtype.kind != "f" or v.size > MAX_SIZE or _magnitude(v) > MAX_ABS or m.smallest < MARGIN:
        return False
    g.env = env
    return True


# ---------------------------------------------------------------- finite differences
def richardson(fn, x, direction, h):
    """d/dt fn(x + t * direction) at 0: central differences at h and h/2, extrapolated.

    Returns (estimate, error estimate)."""
    d1 = (np.asarray(fn(x + h * direction)) - np.asarray(fn(x - h * direction))) / (2 * h)
    h2 = h / 2
    d2 = (np.asarray(fn(x + h2 * direction)) - np.asarray(fn(x - h2 * direction))) / (2 * h2)
    return (4 * d2 - d1) / 3, np.abs(d2 - d1)


def fd_jacobian(fn, x, h=1e-5):
    """Richardson-extrapolated Jacobian of fn at x: shape fn(x).shape + x.shape, and its
    error estimate."""
    x = np.asarray(x, dtype=float)
    cols, errs = [], []
    for i in range(x.size):
        e = np.zeros(x.size)
        e[i] = 1.0
        d, err = richardson(fn, x, e.reshape(x.shape), h * max(1.0, abs(x.flat[i])))
        cols.append(d)
        errs.append(err)
    out_shape = np.shape(fn(x.copy()))     # (fn may write into its argument)
    shape = out_shape + x.shape
    move = lambda c: np.moveaxis(np.array(c).reshape((x.size,) + out_shape), 0, -1)
    return move(cols).reshape(shape), move(errs).reshape(shape)


def second_directional(F, x, v, h=1e-3):
    """v^T H v from values of F alone: Richardson-extrapolated second differences."""
    def d2(h):
        return (F(x + h * v) - 2.0 * F(x) + F(x - h * v)) / (h * h)
    a, b = d2(h), d2(h / 2)
    return (4 * b - a) / 3, abs(b - a)


# ---------------------------------------------------------------- the checks
class Mismatch(AssertionError):
    pass


def assert_close(got, want, rtol, what, err=None):
    got, want = np.asarray(got, dtype=float), np.asarray(want, dtype=float)
    if got.shape != want.shape:
        raise Mismatch(f"{what}: shape {got.shape} != {want.shape}")
    scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))
    tol = rtol * scale + (0.0 if err is None else 10.0 * np.asarray(err))
    bad = ~(np.abs(got - want) <= tol)
    if np.any(bad):
        i = np.unravel_index(np.argmax(np.where(bad, np.abs(got - want), 0)), got.shape) \
            if got.ndim else ()
        raise Mismatch(f"{what}: {int(bad.sum())} of {got.size} entries differ; at {i}: "
                       f"got {got[i]!r}, want {want[i]!r} (rtol {rtol}, scale {scale:.3g})")


def second_point(prog, tries=8):
    """A second point where the program is also away from kinks (or None)."""
    rng = np.random.default_rng(prog.seed + 1)
    for t in range(tries):
        x = rng.uniform(-1.5, 1.5, size=prog.shape) if t < tries // 2 else \
            prog.x1 + rng.normal(scale=0.05, size=prog.shape)
        try:      # a traced mask may change a shape so that the program fails there
            margin, big = prog.margin_at(x)
        except Exception:
            continue
        if margin >= MARGIN and big <= MAX_ABS:
            return x
    return None


def jax_reference(prog):
    """JAX versions of f and F with x64 enabled, or None when JAX is not installed."""
    try:
        import jax
    except ImportError:
        return None
    import jax.numpy as jnp
    jax.config.update("jax_enable_x64", True)
    f, F = prog.functions("jax")
    return (lambda x: f(jnp.asarray(x))), (lambda x: F(jnp.asarray(x)))


JAX_RTOL = 1e-8
FD_RTOL = 1e-6


# Engine bugs the fuzzer found that are not fixed yet: (exception type, message), each with
# an xfail(strict=True) test in tests/test_regressions.py. The fuzzer steps around them
# (and counts them in KNOWN) so it keeps looking for new ones; remove an entry once fixed.
KNOWN_ENGINE_BUGS = [
    # (ValueError, "blocks must be 2-D"), empty values in the Hessian pattern: fixed,
    # tests/test_regressions.py::test_empty_values_in_hessian_pattern
]
KNOWN = {}


class KnownBug(Exception):
    pass


def _known_failure(fn, *args, skip=True):
    """fn(*args); None (skip=True) or KnownBug when it fails with a known engine bug."""
    try:
        return fn(*args)
    except Exception as err:
        for kind, text in KNOWN_ENGINE_BUGS:
            if isinstance(err, kind) and text in str(err):
                KNOWN[text] = KNOWN.get(text, 0) + 1
                if skip:
                    return None
                raise KnownBug(text) from err
        raise


def check_program(prog, jax_fns=None, rng_seed=0):
    """Every derivative numhess gives for the program, at two points, against finite
    differences and (if jax_fns) JAX. Raises Mismatch on disagreement; returns the number
    of points checked (0 when a known engine bug stopped the check)."""
    try:
        return _check_program(prog, jax_fns, rng_seed)
    except KnownBug:
        return 0


def _check_program(prog, jax_fns, rng_seed):
    f, F = prog.functions("numpy")
    rng = np.random.default_rng(rng_seed)
    n = int(np.prod(prog.shape))
    chunk = int(rng.integers(1, max(n, 1) + 1)) if rng.random() < 0.5 else None
    vg, g, H, hv = nh.value_and_grad(F), nh.grad(F), nh.hessian(F, chunk_size=chunk), nh.hvp(F)
    Hs = nh.hessian(F, sparse=True)
    jf, jr = nh.jacfwd(f), nh.jacrev(f, chunk_size=chunk)
    Hv = nh.hessian(f)
    points = [prog.x1]
    x2 = second_point(prog)
    if x2 is not None:
        points.append(x2)
    first = None
    for k, x in enumerate(points + [prog.x1]):
        x = np.array(x)
        x_before = x.copy()
        value, grad = vg(x)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            hess = _known_failure(H, x, skip=False)
            hess_sparse = _known_failure(Hs, x)
        v = rng.normal(size=prog.shape)
        hvp = hv(x, v)
        J = jf(x), jr(x)
        HV = Hv(x)
        np.testing.assert_array_equal(x, x_before)
        results = (value, grad, hess, hvp, J[0], J[1], HV)
        if k == len(points):      # back at x1: the same numbers
            for name, a, b in zip(("value", "grad", "hessian", "hvp", "jacfwd", "jacrev",
                                   "vector hessian"), results, first):
                if name != "hvp":
                    assert_close(a, b, 1e-13, f"{name} at x1 again (after x2)")
            break
        if k == 0:
            first = results
        where = f"at x{k + 1}"
        with np.errstate(all="ignore"):
            Fx, fx = F(x.copy()), np.asarray(f(x.copy()), dtype=float)
        assert_close(value, Fx, 1e-10, f"value {where}")
        assert_close(g(x), grad, 1e-14, f"grad vs value_and_grad {where}")
        Hm = hess.reshape(n, n)
        assert_close(Hm, Hm.T, 1e-9, f"Hessian symmetry {where}")
        if hess_sparse is not None:
            assert_close(hess_sparse.toarray().reshape(hess.shape), hess, 1e-9,
                         f"sparse Hessian vs dense {where}")
        assert_close(hvp, (Hm @ v.ravel()).reshape(prog.shape), 1e-9, f"hvp vs H @ v {where}")
        assert_close(J[1], J[0], 1e-9, f"jacrev vs jacfwd {where}")
        assert_close(HV.shape, fx.shape + prog.shape * 2, 0, f"vector Hessian shape {where}")
        # finite differences
        with np.errstate(all="ignore"):
            gd, ge = fd_jacobian(F, x)
            assert_close(grad, gd, FD_RTOL, f"gradient vs finite differences {where}", ge)
            Jd, Je = fd_jacobian(f, x)
            assert_close(J[0], Jd, FD_RTOL, f"jacfwd vs finite differences {where}", Je)
            Hd, He = fd_jacobian(g, x)
            assert_close(hess, Hd, FD_RTOL, f"Hessian vs finite differences of grad {where}",
                         He)
            HVd, HVe = fd_jacobian(jr, x)
            assert_close(HV, HVd, FD_RTOL, f"vector Hessian vs finite differences of jacrev "
                         f"{where}", HVe)
            vn = v / max(np.linalg.norm(v), 1e-300)
            q, qe = second_directional(F, x, vn, h=1e-3)
            scale = max(1.0, abs(Fx))
            assert_close(vn.ravel() @ Hm @ vn.ravel(), q, 1e-6 * scale / max(1.0, abs(q)),
                         f"v^T H v vs second differences of F {where}", qe)
        if jax_fns is not None:
            _check_jax(jax_fns, x, v, value, grad, hess, hvp, J[0], where)
    return len(points)


def _check_jax(jax_fns, x, v, value, grad, hess, hvp, J, where):
    """Two JAX calls per point (op-by-op JAX compiles every primitive, so few calls)."""
    import jax
    jf, jF = jax_fns
    xj = jax.numpy.asarray(x)

    def grad_twice(x):
        g = jax.grad(jF)(x)
        return g, g
    jH, jg = jax.jacfwd(grad_twice, has_aux=True)(xj)
    assert_close(grad, jg, JAX_RTOL, f"grad vs jax {where}")
    assert_close(hess, jH, JAX_RTOL, f"Hessian vs jax {where}")
    assert_close(hvp, (np.asarray(jH).reshape(v.size, v.size) @ v.ravel()).reshape(v.shape),
                 JAX_RTOL, f"hvp vs jax {where}")
    assert_close(J, jax.jacfwd(jf)(xj), JAX_RTOL, f"jacobian vs jax {where}")
