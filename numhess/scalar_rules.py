"""The scalar form of each elementwise rule, for the fused loops (fusion.py): source
expressions of the value and of the first and second partials, given the names of the
operands (and of the value).

Each is the interpreter's rule (kernels.unary_values, unary_derivs, binary_values,
binary_derivs) over one element: the same helpers, the same operations in the same
order, so values agree bit for bit and derivatives to rounding (tests/test_fusion.py
compares the two op by op). A rule's partials come as names of temporaries it emits
(`e.tmp(expression)`) or as the constants "0.0", "1.0", "-1.0", "2.0", which the fused
sums fold; the function's own constants are parenthesized (`lit`), never folded.
"""
import numpy as np

from . import kernels as K

# unary: value(x, p) -> expression; derivs(e, x, y, p) -> (d1, d2), names or constants


class Param(float):
    """An instruction's parameter, named by where the fused loop reads it at run time: a
    loop's source, and so its compile, then serve every value (a parameter sweep had
    compiled a loop per value, in the background, waited for at exit)."""

    def __new__(cls, value, name):
        p = super().__new__(cls, value)
        p.name = name
        return p


def _lit(v):
    """A constant of the tape (parenthesized: the sums below fold the rules' own zeros
    and ones, never a constant of the function's, as the kernels multiply by those); a
    Param by its name."""
    if isinstance(v, Param):
        return v.name
    v = float(v)
    return "(" + (repr(v) if np.isfinite(v) else ("np.nan" if np.isnan(v) else
                                                  ("np.inf" if v > 0 else "-np.inf"))) + ")"


def _int_power(e, x, p):
    """x ** p for a whole p by squaring from the leading bit, as kernels._int_power."""
    q = int(abs(p))
    if q == 0:
        return "1.0"
    r, bits = x, bin(q)[3:]
    for bit in bits:
        r = e.tmp(f"{r} * {r}")
        if bit == "1":
            r = e.tmp(f"{r} * {x}")
    return e.tmp(f"1.0 / {r}") if p < 0 else r


def _powc_value(e, x, p):
    return _int_power(e, x, p) if K._whole.py_func(p) else f"{x} ** {_lit(p)}"


def _powc_derivs(e, x, y, p):
    if p == 0.0 or p == 1.0:
        return _lit(p), _lit(0.0)
    if K._whole.py_func(p):
        d1 = e.tmp(f"{_int_power(e, x, p - 1.0)} * {_lit(p)}")
        return d1, e.tmp(f"{_int_power(e, x, p - 2.0)} * {_lit(p * (p - 1.0))}")
    far = f"{x} == 0.0 or not np.isfinite({x})"
    q, q1, q2 = _lit(p), f"({_lit(p)} - 1.0)", f"({_lit(p)} - 2.0)"
    d1 = e.tmp(f"{q} * {x} ** {q1} if {far} else {q} * {y} / {x}")
    d2 = e.tmp(f"{q} * {q1} * {x} ** {q2} if {far} else {q1} * {d1} / {x}")
    return d1, d2


def _expit_derivs(e, x, y, p):
    q = e.tmp(f"1.0 - {y}")
    d1 = e.tmp(f"{y} * {q}")
    return d1, e.tmp(f"{d1} * ({q} - {y})")


def _log_expit_derivs(e, x, y, p):
    q = e.tmp(f"_expit(-{x})")
    return q, e.tmp(f"-{q} * _expit({x})")


def _log_ndtr_derivs(e, x, y, p):
    d = e.tmp(f"_log_ndtr_derivatives({x})")
    return e.tmp(f"{d}[0]"), e.tmp(f"{d}[1]")


def _with_d1(d1, d2):
    """derivs from formulas of (x, y, p) and of (x, y, d1)."""
    def derivs(e, x, y, p):
        a = e.tmp(d1(x, y, p))
        return a, e.tmp(d2(x, y, a))
    return derivs


def _chosen_with(nan_p, d1):
    """maximum(x, p) and kin, as kernels.unary_derivs: the derivative follows the chosen
    operand, a tie takes the branch x >= p; nan_p is x's derivative where p is NaN."""
    return lambda e, x, y, p: (nan_p if np.isnan(p) else e.tmp(d1(x, _lit(p))), "0.0")


def _const(d1):
    return lambda e, x, y, p: (d1(p), "0.0")


UNARY = {
    K.NEG: (lambda e, x, p: f"-{x}", _const(lambda p: "-1.0")),
    K.EXP: (lambda e, x, p: f"_exp({x})", lambda e, x, y, p: (y, y)),
    K.EXPM1: (lambda e, x, p: f"_expm1({x})", _with_d1(lambda x, y, p: f"{y} + 1.0",
                                                       lambda x, y, d: d)),
    K.LOG: (lambda e, x, p: f"_log({x})", _with_d1(lambda x, y, p: f"1.0 / {x}",
                                                   lambda x, y, d: f"-{d} * {d}")),
    K.LOG1P: (lambda e, x, p: f"_log1p({x})",
              _with_d1(lambda x, y, p: f"1.0 / (1.0 + {x})", lambda x, y, d: f"-{d} * {d}")),
    K.SQRT: (lambda e, x, p: f"np.sqrt({x})",
             _with_d1(lambda x, y, p: f"0.5 / {y}", lambda x, y, d: f"-0.25 / ({y} * {y} * {y})")),
    K.SQUARE: (lambda e, x, p: f"{x} * {x}",
               lambda e, x, y, p: (e.tmp(f"2.0 * {x}"), "2.0")),
    K.RECIP: (lambda e, x, p: f"1.0 / {x}",
              _with_d1(lambda x, y, p: f"-{y} * {y}", lambda x, y, d: f"2.0 * {y} * {y} * {y}")),
    # (no sin, cos or tan: they stay the interpreter's, whose vectorized loop fixes the
    # arguments past kernels.TRIG_MAX in a pass after; fused, libm's call for those left
    # the loop unvectorized: exp(sin x) tanh x + log1p(x^2)'s gradient at n = 10^5 ran
    # 2.3 ms fused, 0.94 interpreted, and 0.63 with sin left out)
    K.ARCTAN: (lambda e, x, p: f"_atan({x})",
               _with_d1(lambda x, y, p: f"1.0 / (1.0 + {x} * {x})",
                        lambda x, y, d: f"-2.0 * {x} * {d} * {d}")),
    K.SINH: (lambda e, x, p: f"_sinh({x})", lambda e, x, y, p: (e.tmp(f"_cosh({x})"), y)),
    K.COSH: (lambda e, x, p: f"_cosh({x})", lambda e, x, y, p: (e.tmp(f"_sinh({x})"), y)),
    K.TANH: (lambda e, x, p: f"_tanh({x})",
             _with_d1(lambda x, y, p: f"1.0 - {y} * {y}", lambda x, y, d: f"-2.0 * {y} * {d}")),
    K.ABS: (lambda e, x, p: f"abs({x})", lambda e, x, y, p: (
        e.tmp(f"1.0 if {x} >= 0.0 else (-1.0 if {x} < 0.0 else {x})"), "0.0")),
    K.MAXC: (lambda e, x, p: f"np.maximum({x}, {_lit(p)})", _chosen_with(
        "0.0", lambda x, p: f"1.0 if {x} >= {p} or np.isnan({x}) else 0.0")),
    K.MINC: (lambda e, x, p: f"np.minimum({x}, {_lit(p)})", _chosen_with(
        "0.0", lambda x, p: f"0.0 if {x} >= {p} else 1.0")),
    K.FMAXC: (lambda e, x, p: f"np.fmax({x}, {_lit(p)})", _chosen_with(
        "1.0", lambda x, p: f"1.0 if {x} >= {p} else 0.0")),
    K.FMINC: (lambda e, x, p: f"np.fmin({x}, {_lit(p)})", _chosen_with(
        "1.0", lambda x, p: f"1.0 if {x} < {p} else 0.0")),
    K.POWC: (_powc_value, _powc_derivs),
    K.ADDC: (lambda e, x, p: f"{x} + {_lit(p)}", _const(lambda p: "1.0")),
    K.MULC: (lambda e, x, p: f"{x} * {_lit(p)}", _const(_lit)),
    K.RSUBC: (lambda e, x, p: f"{_lit(p)} - {x}", _const(lambda p: "-1.0")),
    K.DIVC: (lambda e, x, p: f"{x} / {_lit(p)}",
             lambda e, x, y, p: (e.tmp(f"1.0 / {_lit(p)}"), "0.0")),
    K.RDIVC: (lambda e, x, p: f"{_lit(p)} / {x}",
              _with_d1(lambda x, y, p: f"-{y} / {x}", lambda x, y, d: f"-2.0 * {d} / {x}")),
    K.EXPIT: (lambda e, x, p: f"_expit({x})", _expit_derivs),
    K.LOG_EXPIT: (lambda e, x, p: f"_log_expit({x})", _log_expit_derivs),
    K.LOG_NDTR: (lambda e, x, p: f"_log_ndtr({x})", _log_ndtr_derivs),
}
def _from_x(d1, d2):
    """derivs from formulas of x (and p) and of (x, d1)."""
    return _with_d1(lambda x, y, p: d1(x, p), lambda x, y, d: d2(x, d))


def _erf_derivs(sign):
    return _from_x(lambda x, p: f"{sign} * {_lit(K.TWO_OVER_SQRT_PI)} * _exp(-{x} * {x})",
                   lambda x, d: f"-2.0 * {x} * {d}")


def _rpowc_derivs(e, x, y, p):
    lp = e.tmp(f"_log_or_zero({_lit(p)})")
    d1 = e.tmp(f"{y} * {lp}")
    return d1, e.tmp(f"{d1} * {lp}")


def _logit_derivs(e, x, y, p):
    r = e.tmp(f"1.0 / ({x} * (1.0 - {x}))")
    return r, e.tmp(f"(2.0 * {x} - 1.0) * {r} * {r}")


UNARY.update({
    K.EXP2: (lambda e, x, p: f"2.0 ** {x}",
             _with_d1(lambda x, y, p: f"{y} * {_lit(K.LN2)}",
                      lambda x, y, d: f"{y} * {_lit(K.LN2)} * {_lit(K.LN2)}")),
    K.LOG2: (lambda e, x, p: f"np.log2({x})", _from_x(
        lambda x, p: f"1.0 / ({x} * {_lit(K.LN2)})", lambda x, d: f"-{d} / {x}")),
    K.LOG10: (lambda e, x, p: f"np.log10({x})", _from_x(
        lambda x, p: f"1.0 / ({x} * {_lit(K.LN10)})", lambda x, d: f"-{d} / {x}")),
    K.CBRT: (lambda e, x, p: f"np.cbrt({x})", _with_d1(
        lambda x, y, p: f"1.0 / (3.0 * {y} * {y})", lambda x, y, d: f"-2.0 * {d} / (3.0 * {x})")),
    K.ARCSIN: (lambda e, x, p: f"_asin({x})", _from_x(
        lambda x, p: f"1.0 / np.sqrt((1.0 - {x}) * (1.0 + {x}))", lambda x, d: f"{x} * {d} ** 3")),
    K.ARCCOS: (lambda e, x, p: f"_acos({x})", _from_x(
        lambda x, p: f"-1.0 / np.sqrt((1.0 - {x}) * (1.0 + {x}))", lambda x, d: f"{x} * {d} ** 3")),
    K.ARCSINH: (lambda e, x, p: f"_asinh({x})", _from_x(
        lambda x, p: f"1.0 / np.sqrt({x} * {x} + 1.0)", lambda x, d: f"-{x} * {d} ** 3")),
    K.ARCCOSH: (lambda e, x, p: f"_acosh({x})", _from_x(
        lambda x, p: f"1.0 / np.sqrt(({x} - 1.0) * ({x} + 1.0))", lambda x, d: f"-{x} * {d} ** 3")),
    K.ARCTANH: (lambda e, x, p: f"_atanh({x})", _from_x(
        lambda x, p: f"1.0 / ((1.0 - {x}) * (1.0 + {x}))", lambda x, d: f"2.0 * {x} * {d} * {d}")),
    K.RPOWC: (lambda e, x, p: f"{_lit(p)} ** {x}", _rpowc_derivs),
    K.LOGIT: (lambda e, x, p: f"_logit({x})", _logit_derivs),
    K.ERF: (lambda e, x, p: f"math.erf({x})", _erf_derivs("1.0")),
    K.ERFC: (lambda e, x, p: f"math.erfc({x})", _erf_derivs("-1.0")),
    K.GAMMALN: (lambda e, x, p: f"_gammaln({x})",
                lambda e, x, y, p: (e.tmp(f"_digamma({x})"), e.tmp(f"_trigamma({x})"))),
    K.DIGAMMA: (lambda e, x, p: f"_digamma({x})",
                lambda e, x, y, p: (e.tmp(f"_trigamma({x})"), e.tmp(f"_tetragamma({x})"))),
    K.ENTR: (lambda e, x, p: f"_entr({x})", _from_x(
        lambda x, p: f"-np.log({x}) - 1.0", lambda x, d: f"-1.0 / {x}")),
})
# non-differentiable ops: never active, so never asked for partials
_FLAG = "1.0 if {} else 0.0"
UNARY.update({
    K.SIGN: (lambda e, x, p: f"np.sign({x})", None),
    K.FLOOR: (lambda e, x, p: f"np.floor({x})", None),
    K.CEIL: (lambda e, x, p: f"np.ceil({x})", None),
    K.RINT: (lambda e, x, p: f"np.rint({x})", None),
    K.TRUNC: (lambda e, x, p: f"np.trunc({x})", None),
    K.ROUNDC: (lambda e, x, p: f"np.rint({x} * 10.0 ** {_lit(p)}) / 10.0 ** {_lit(p)}", None),
    K.ISNAN: (lambda e, x, p: _FLAG.format(f"np.isnan({x})"), None),
    K.ISINF: (lambda e, x, p: _FLAG.format(f"np.isinf({x})"), None),
    K.ISFINITE: (lambda e, x, p: _FLAG.format(f"np.isfinite({x})"), None),
    K.NOT: (lambda e, x, p: _FLAG.format(f"{x} == 0.0"), None),
})
# ops whose value the reverse steps recompute (cheaper than a load)
ARITHMETIC = {K.NEG, K.SQUARE, K.RECIP, K.ABS, K.ADDC, K.MULC, K.RSUBC, K.DIVC, K.RDIVC,
              K.ADD, K.SUB, K.MUL, K.DIV, K.WHERE}


# binary: value(a, b) -> expression; derivs(e, a, b, y) -> (fa, fb, faa, fab, fbb)
def _div_derivs(e, a, b, y):
    r = e.tmp(f"1.0 / {b}")
    return (r, e.tmp(f"-{y} * {r}"), "0.0", e.tmp(f"-{r} * {r}"),
            e.tmp(f"2.0 * {y} * {r} * {r}"))


def _weights(e, a, b, s="1.0"):
    """expit(d) and expit(-d) of d = (a - b) s, as kernels.binary_derivs'."""
    d = e.tmp(f"({a} - {b}) * {s}")
    x = e.tmp(f"_exp(-abs({d}))")
    r = e.tmp(f"1.0 / (1.0 + {x})")
    return e.tmp(f"{r} if {d} >= 0.0 else {x} * {r}"), e.tmp(f"{x} * {r} if {d} >= 0.0 else {r}")


def _logaddexp_derivs(e, a, b, y):
    fa, fb = _weights(e, a, b)
    faa = e.tmp(f"{fa} * {fb}")
    return fa, fb, faa, e.tmp(f"-{faa}"), faa


def _hypot_derivs(e, a, b, y):     # as kernels.binary_derivs: no square of a or b
    fa, fb = e.tmp(f"{a} / {y}"), e.tmp(f"{b} / {y}")
    return (fa, fb, e.tmp(f"{fb} * {fb} / {y}"), e.tmp(f"-{fa} * {fb} / {y}"),
            e.tmp(f"{fa} * {fa} / {y}"))


def _atan2_derivs(e, a, b, y):
    q = e.tmp(f"1.0 / np.hypot({a}, {b})")
    u, v = e.tmp(f"{a} * {q}"), e.tmp(f"{b} * {q}")
    faa = e.tmp(f"-2.0 * {u} * {v} * {q} * {q}")
    return (e.tmp(f"{v} * {q}"), e.tmp(f"-{u} * {q}"), faa,
            e.tmp(f"({u} * {u} - {v} * {v}) * {q} * {q}"), e.tmp(f"-{faa}"))


def _chosen_derivs(e, a, b, y):
    """maximum and kin: the derivative follows the chosen operand; ties split evenly."""
    fa = e.tmp(f"0.5 if {a} == {b} else (1.0 if {y} == {a} or (np.isnan({y}) and "
               f"np.isnan({a})) else 0.0)")
    return fa, e.tmp(f"1.0 - {fa}"), "0.0", "0.0", "0.0"


def _pow_derivs(e, a, b, y):
    la, am1 = e.tmp(f"_log_or_zero({a})"), e.tmp(f"{a} ** ({b} - 1.0)")
    w = e.tmp(f"{b} * ({b} - 1.0)")
    return (e.tmp(f"{b} * {am1} if {b} != 0.0 else 0.0"), e.tmp(f"{y} * {la}"),
            e.tmp(f"{w} * {a} ** ({b} - 2.0) if {w} != 0.0 else 0.0"),
            e.tmp(f"{am1} * (1.0 + {b} * {la})"), e.tmp(f"{y} * {la} * {la}"))


def _logaddexp2_derivs(e, a, b, y):
    s = _lit(K.LN2)
    fa, fb = _weights(e, a, b, s)
    faa = e.tmp(f"{s} * {fa} * {fb}")
    return fa, fb, faa, e.tmp(f"-{faa}"), faa


def _xlog_derivs(log, shift):
    def derivs(e, a, b, y):
        r = e.tmp(f"1.0 / ({shift}{b})")
        return (e.tmp(f"np.{log}({b})"), e.tmp(f"{a} * {r}"), "0.0", r,
                e.tmp(f"-{a} * {r} * {r}"))
    return derivs


def _rel_entr_derivs(e, a, b, y):
    r = e.tmp(f"1.0 / {b}")
    return (e.tmp(f"np.log({a} * {r}) + 1.0"), e.tmp(f"-{a} * {r}"), e.tmp(f"1.0 / {a}"),
            e.tmp(f"-{r}"), e.tmp(f"{a} * {r} * {r}"))


BINARY = {
    K.POW: (lambda a, b: f"{a} ** {b}", _pow_derivs),
    K.LOGADDEXP2: (lambda a, b: f"np.logaddexp2({a}, {b})", _logaddexp2_derivs),
    K.XLOGY: (lambda a, b: f"(0.0 if {a} == 0.0 and not np.isnan({b}) else {a} * np.log({b}))",
              _xlog_derivs("log", "")),
    K.XLOG1PY: (lambda a, b: f"(0.0 if {a} == 0.0 and not np.isnan({b}) else "
                             f"{a} * np.log1p({b}))", _xlog_derivs("log1p", "1.0 + ")),
    K.REL_ENTR: (lambda a, b: f"_rel_entr({a}, {b})", _rel_entr_derivs),
    K.ADD: (lambda a, b: f"{a} + {b}", lambda e, a, b, y: ("1.0", "1.0", "0.0", "0.0", "0.0")),
    K.SUB: (lambda a, b: f"{a} - {b}", lambda e, a, b, y: ("1.0", "-1.0", "0.0", "0.0", "0.0")),
    K.MUL: (lambda a, b: f"{a} * {b}", lambda e, a, b, y: (b, a, "0.0", "1.0", "0.0")),
    K.DIV: (lambda a, b: f"{a} / {b}", _div_derivs),
    K.LOGADDEXP: (lambda a, b: f"_logaddexp({a}, {b})", _logaddexp_derivs),
    K.HYPOT: (lambda a, b: f"np.hypot({a}, {b})", _hypot_derivs),
    K.ARCTAN2: (lambda a, b: f"_atan2({a}, {b})", _atan2_derivs),
    K.MAXIMUM: (lambda a, b: f"np.maximum({a}, {b})", _chosen_derivs),
    K.MINIMUM: (lambda a, b: f"np.minimum({a}, {b})", _chosen_derivs),
    K.FMAX: (lambda a, b: f"np.fmax({a}, {b})", _chosen_derivs),
    K.FMIN: (lambda a, b: f"np.fmin({a}, {b})", _chosen_derivs),
    # a - b q, with q the piece's whole quotient
    K.REMAINDER: (lambda a, b: f"_divmod({a}, {b})[1]", lambda e, a, b, y: (
        "1.0", e.tmp(f"-_divmod({a}, {b})[0]"), "0.0", "0.0", "0.0")),
    K.FMOD: (lambda a, b: f"np.fmod({a}, {b})", lambda e, a, b, y: (
        "1.0", e.tmp(f"-np.rint(({a} - {y}) / {b})"), "0.0", "0.0", "0.0")),
    K.FLOORDIV: (lambda a, b: f"_divmod({a}, {b})[0]", None),
}


def _comparison(test):
    return lambda a, b: _FLAG.format(test.format(a=a, b=b))


BINARY.update({o: (_comparison(test), None) for o, test in (
    (K.LT, "{a} < {b}"), (K.LE, "{a} <= {b}"), (K.GT, "{a} > {b}"), (K.GE, "{a} >= {b}"),
    (K.EQ, "{a} == {b}"), (K.NE, "{a} != {b}"), (K.AND, "({a} != 0.0 and {b} != 0.0)"),
    (K.OR, "({a} != 0.0 or {b} != 0.0)"), (K.XOR, "(({a} != 0.0) != ({b} != 0.0))"))})
HELPERS = ("_exp", "_expm1", "_log", "_log1p", "_atan", "_sinh",
           "_cosh", "_tanh", "_expit", "_log_expit", "_logaddexp", "_atan2", "_asin", "_acos",
           "_asinh", "_acosh", "_atanh", "_gammaln", "_digamma", "_trigamma", "_tetragamma",
           "_entr", "_log_or_zero", "_logit", "_rel_entr", "_divmod", "_log_ndtr",
           "_log_ndtr_derivatives")
