"""The interpreter: every opcode and every Numba sweep over a tape, in one module.

Numba's on-disk cache watches only this file, so every constant a kernel reads lives here.

Layout of the work buffers: ``vals`` holds one float64 per element of every slot; a
buffer of ``k`` directions (``tans``, ``adj`` with k cotangents, ``adjt``) holds slot
element ``e`` of direction ``j`` at ``e * k + j`` ("direction innermost"), so an
elementwise rule computes its derivative once and applies it to ``k`` contiguous values,
and a matrix product over ``k`` directions is one BLAS call.

The tape is ``T``, the one int64 array of ``Tape.packed``, which ``unpack`` cuts into
``(op, out, a, b, c, pi, fp, iw, off, size, sact, ipool, cpos, fpool, pact, tused,
gzero)``; ``sact`` and ``pact`` mark the active slots and buffer positions, ``tused`` and
``gzero`` the instructions whose tangents a Hessian reads and whose second-order
cotangents are zero.
"""
import decimal
import functools
import math
import types

import numpy as np
from llvmlite import ir
from numba import float64, int64, prange
from numba.extending import intrinsic
from numba.core import cgutils
from numba.core import types as nbtypes
from numba.np.arrayobj import populate_array
from numba import uint64 as U

from .jit import direct, njit
from . import cspecial as cs
from .lapack import gemm, gemv, getrf, getrs

_JIT = dict(cache=True, error_model="numpy", nogil=True)
# Helpers only the kernels call: no CPython or C wrapper to compile (a tenth of a cold
# compile: 37 -> 34 s for hessian, hvp and grad on a tape without products). _whole and
# _lapack_forward, which Python calls too, keep theirs.
_HELPER = dict(_JIT, no_cpython_wrapper=True, no_cfunc_wrapper=True)

LN2 = math.log(2.0)
LN10 = math.log(10.0)
TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)

# ---------------------------------------------------------------- opcodes
# Unary elementwise ops: y = f(x; p) with p the instruction's float parameter.
NEG, EXP, EXP2, EXPM1, LOG, LOG2, LOG10, LOG1P = 0, 1, 2, 3, 4, 5, 6, 7
SQRT, CBRT, SQUARE, RECIP, SIN, COS, TAN, ARCSIN = 8, 9, 10, 11, 12, 13, 14, 15
ARCCOS, ARCTAN, SINH, COSH, TANH, ARCSINH, ARCCOSH, ARCTANH = 16, 17, 18, 19, 20, 21, 22, 23
ABS, POWC, ADDC, MULC, RSUBC, RDIVC, DIVC, RPOWC = 24, 25, 26, 27, 28, 29, 30, 31
# scipy.special
EXPIT, LOGIT, LOG_EXPIT, ERF, ERFC, GAMMALN, DIGAMMA, ENTR = 32, 33, 34, 35, 36, 37, 38, 39
LOG_NDTR = 40
# maximum, minimum, fmax, fmin of x and a scalar p: a tie takes the branch x >= p
MAXC, MINC, FMAXC, FMINC = 41, 42, 43, 44
# non-differentiable unary ops (their instructions are never active)
SIGN, FLOOR, CEIL, RINT, TRUNC, ROUNDC, ISNAN, ISINF = 45, 46, 47, 48, 49, 50, 51, 52
ISFINITE, NOT = 53, 54
UNARY_END = 55
# Binary elementwise ops: y = f(a, b); an operand of size 1 is broadcast.
ADD, SUB, MUL, DIV, POW, ARCTAN2, HYPOT, LOGADDEXP = 55, 56, 57, 58, 59, 60, 61, 62
LOGADDEXP2, MAXIMUM, MINIMUM, FMAX, FMIN = 63, 64, 65, 66, 67
XLOGY, XLOG1PY, REL_ENTR = 68, 69, 70      # scipy.special
REMAINDER, FMOD = 71, 72        # NumPy's exact values; linear in each piece
# non-differentiable binary ops
LT, LE, GT, GE, EQ, NE, AND, OR, XOR = 74, 75, 76, 77, 78, 79, 80, 81, 82
FLOORDIV = 83
BINARY_END = 84
WHERE = 84      # y = c ? a : b                 (a, b, c slots; size-1 operands broadcast)
GATHER = 85     # y[i] = buf[ipool[pi + i]]     (absolute buffer positions: any number of sources)
SCATTER = 86    # y[ipool[pi + i]] += x[i]      (sums over axes)
SUMALL = 87     # y[0] = sum(x)
MATMUL = 88     # batched (m, p) @ (p, q); ipool[pi:pi+4] = batch, m, p, q
MAXRED = 89     # y[g] = max over {i : ipool[pi+i] == g} of x[i]; argmax kept in ivals[iw:]
MINRED = 90     # as MAXRED with min
SORT = 91       # rows of length ipool[pi] sorted; permutation kept in ivals[iw:]
INV = 92        # batched inverse of (n, n) matrices; ipool[pi:pi+2] = batch, n
LOGABSDET = 93  # y[s] = log|det A_s| of batched (n, n) matrices; ipool[pi:pi+2] = batch, n
SIGNDET = 94    # y[s] = sign(det A_s) (never active); ipool[pi:pi+2] = batch, n
CHOL = 95       # batched lower Cholesky factors of symmetric (n, n); ipool[pi:pi+2] = batch, n
LAPACK = 96     # values of a LAPACK factorization (never active; linalg.py differentiates
#                 them); ipool[pi:pi+4] = kind, batch, m, n; fp = rcond for PINV
LU = 97         # LAPACK's LU factors of batched (n, n) matrices (never active): per matrix,
#                 getrf's n * n factors of its transpose, then its n pivots; ipool = batch, n
SOLVE = 98      # batched A^-1 B for (n, n) A (slot a), (n, m) B (slot b), from A's LU
#                 (slot c); ipool[pi:pi+3] = batch, n, m
BLAS_OPS = (MATMUL, INV, LOGABSDET, SIGNDET, CHOL, LAPACK, LU, SOLVE)   # BLAS's threads
LINALG_OPS = (INV, LOGABSDET, SIGNDET, CHOL, LAPACK, LU, SOLVE)
# zero second derivatives: their second-order rules read no tangent (_linear tests them)
LINEAR_OPS = (NEG, ADDC, MULC, RSUBC, DIVC, ADD, SUB)
# The sweeps test `LINALG and o == INV`, `PRODUCTS and o == MATMUL`: the kernel sets at the
# end of this file are compiled with these False where a tape has no such instruction, so
# Numba prunes those branches and never compiles their rules (the linear algebra is a
# third of a cold compile, the products more than a quarter of the rest).
LINALG = True
PRODUCTS = True
# LAPACK kinds, each over batch (m, n) matrices; outputs packed kind by kind, batch outermost
EIGH = 0        # symmetric (n, n): eigenvalues (batch, n), then eigenvectors (batch, n, n)
QR = 1          # reduced: Q (batch, m, min(m, n)), then R (batch, min(m, n), n)
SVALS = 2       # singular values (batch, min(m, n)), descending
PINV = 3        # pseudo-inverse (batch, n, m), singular values below rcond * max cut off
SPECIAL = 4     # a scipy.special function (fp) of the first of the (1, rows, n) operand's
#                 rows, the others its constant arguments: its values, first and second
#                 derivatives (3, n), SciPy's values and the derivatives by their formulas
# SPECIAL's functions (special_values.py): the error function's kin
S_ERFINV, S_ERFCINV, S_NDTRI, S_ERFCX, S_DAWSN = 0, 1, 2, 3, 4
# Bessel functions, order fixed (i0 ... y1) or the first argument (iv ... yv); I, K, J, Y
S_I0, S_I0E, S_I1, S_I1E, S_K0, S_K0E, S_K1, S_K1E, S_J0, S_J1, S_Y0, S_Y1 = range(5, 17)
S_IV, S_IVE, S_KV, S_KVE, S_JV, S_YV = range(17, 23)
BESSEL_KIND = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 3, 0, 0, 1, 1, 2, 3])
BESSEL_SCALED = np.array([0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0])
BESSEL_ORDER = np.array([0, 0, 1, 1, 0, 0, 1, 1, 0, 1, 0, 1, -1, -1, -1, -1, -1, -1])
# distribution functions of their last argument, the others constant
S_GAMMAINC, S_GAMMAINCC, S_BETAINC, S_STDTR = 23, 24, 25, 26


# ---------------------------------------------------------------- the rule table
# One line per opcode: its value, then its first and second derivatives (reusing the
# value where cheaper). Each line is a loop over a tile, so the opcode is tested once per
# tile, not once per element, and simple rules vectorize.
TILE = 512
# Constants handed to helpers as runtime values: a literal 1, 0 or True argument makes
# Numba compile the callee again, specialized to it (15 of the 62 compiles of a cold
# start, the tangent sweep among them: a Hessian's every=False and a Jacobian's True).
ONE, ZERO = np.int64(1), np.int64(0)
ALL = np.int64(2 ** 62)     # a sweep's end: past the last instruction
YES, NO = np.bool_(True), np.bool_(False)
# U(i) marks a computed index non-negative: Numba then skips its negative-index wrap
# (i < 0 ? i + len : i), whose select per access kept LLVM from vectorizing the loops
# over k directions (3.5x slower at k = 10). Loop variables of range() need no mark.


# Whole integer exponents up to this size are products by squaring, array by array (each
# pass vectorizes; libm's pow is a 20-30 ns call per element): r ** -6, r ** 12. The
# relative error of a chain of products is at most the number of products times the
# rounding (pow's is half an ulp): at most 12 roundings here, as JAX's integer powers.
POW_INT_MAX = 12.0


@njit(**_HELPER)
def _int_power(x, y, p):
    """y = x ** p for a whole p (POWC's values for |p| <= POW_INT_MAX, and its
    derivatives' powers p - 1 and p - 2), by squaring from the exponent's leading bit: each
    step a pass over the tile, and no buffer besides y (a copy of x cost an allocation,
    45 ns, at every call)."""
    n = x.size
    e = int(abs(p))
    if e == 0:
        for i in range(n): y[i] = 1.0
        return
    bit = 1
    while 2 * bit <= e:
        bit *= 2
    for i in range(n): y[i] = x[i]
    bit //= 2
    while bit:
        for i in range(n): y[i] *= y[i]
        if e & bit:
            for i in range(n): y[i] *= x[i]
        bit //= 2
    if p < 0.0:
        for i in range(n): y[i] = 1.0 / y[i]


@njit(**_JIT)
def _whole(p):
    return p == np.floor(p) and abs(p) <= POW_INT_MAX


# ---------------------------------------------------------------- exp, log and kin
# libm's exp, log, log1p, expm1, tanh, sin, cos and the rest are one call per element
# (5-22 ns, where NumPy's SIMD loops take 1-2); these are arithmetic, bit operations and
# selects, which LLVM vectorizes in the rule table's loops: 1.2-4 ns. Within 1-4 ulps of
# NumPy's (tests/test_elementary.py); NaN, infinities, signed zeros, subnormals, overflow
# and underflow as NumPy's. Those built on others that LLVM would not inline into the
# loop (log1p, tanh, logaddexp, log_expit, sinh, arcsin, ...) are inlined by Numba: a
# call per element does not vectorize (logaddexp took 37.6 ns an element, 4.9 inlined;
# libm's 17.9), and each such inlining costs compile time (inlining all ten functions
# below the arctan added 2.5 s to a cold compile, the six that need it 0-1 s).
@intrinsic
def _bits(typingctx, x):
    """The IEEE bits of a float64, as an int64."""
    return int64(float64), lambda context, builder, sig, args: builder.bitcast(
        args[0], ir.IntType(64))


@intrinsic
def _double(typingctx, i):
    """The float64 with these IEEE bits."""
    return float64(int64), lambda context, builder, sig, args: builder.bitcast(
        args[0], ir.DoubleType())


@intrinsic
def _borrowed(typingctx, a):
    """a without its reference count, for the length of the call that holds a (views of
    it skip NRT's atomic increments and decrements, which were a third of a 10-variable
    Hessian's time). It must not outlive that call."""
    def codegen(context, builder, sig, args):
        src = context.make_array(sig.args[0])(context, builder, value=args[0])
        view = context.make_array(sig.return_type)(context, builder)
        for field in ("nitems", "itemsize", "data", "shape", "strides"):
            setattr(view, field, getattr(src, field))
        view.meminfo = cgutils.get_null_value(view.meminfo.type)
        view.parent = cgutils.get_null_value(view.parent.type)
        return view._getvalue()
    return a(a), codegen


@intrinsic
def _at_address(typingctx, like, address, size):
    """A 1-D array of like's type over `size` float64s at `address`: a parameter read
    where the caller keeps it (not copied into vals at every call). No reference count:
    it must not outlive the call."""
    def codegen(context, builder, sig, args):
        view = context.make_array(sig.return_type)(context, builder)
        itemsize = context.get_constant(nbtypes.intp, 8)
        populate_array(view, data=builder.inttoptr(args[1], view.data.type),
                       shape=cgutils.pack_array(builder, [args[2]]),
                       strides=cgutils.pack_array(builder, [itemsize]), itemsize=itemsize,
                       meminfo=None)
        return view._getvalue()
    return like(like, int64, int64), codegen


@intrinsic
def _scratch(typingctx, rows, cols):
    """An uninitialised C-ordered float64 (rows, cols) array on the caller's stack, for
    its frame's length (rows, cols: constants): no allocation, no reference count. The
    sweeps' 8 x TILE rows take 32 KB of it."""
    if not all(isinstance(d, nbtypes.IntegerLiteral) for d in (rows, cols)):
        return None
    shape = (rows.literal_value, cols.literal_value)
    ret = nbtypes.Array(float64, 2, "C")

    def codegen(context, builder, sig, args):
        data = cgutils.alloca_once(builder, ir.DoubleType(), size=shape[0] * shape[1])
        ary = context.make_array(ret)(context, builder)
        intp = context.get_value_type(nbtypes.intp)
        populate_array(ary, data=data, shape=[ir.Constant(intp, d) for d in shape],
                       strides=[ir.Constant(intp, 8 * shape[1]), ir.Constant(intp, 8)],
                       itemsize=ir.Constant(intp, 8), meminfo=None)
        return ary._getvalue()
    return ret(rows, cols), codegen


_D = decimal.Context(prec=60)      # the constants' own arithmetic (the default keeps 28 digits)


def _rest(v, *parts):
    """v less its leading parts (floats), exactly: the next part of a constant split in
    several."""
    for part in parts:
        v = _D.subtract(v, decimal.Decimal(part))
    return v


_LN2 = _D.create_decimal("0.69314718055994530941723212145817656807550013436025525412068")
LN2_HI = math.floor(float(_LN2) * 2.0 ** 32) / 2.0 ** 32   # k * LN2_HI is exact, |k| < 2^20
LN2_LO = float(_rest(_LN2, LN2_HI))                          # the rest, to 53 bits
INV_LN2 = 1.0 / math.log(2.0)
# e^r - 1 = r + r^2 (1/2! + r/3! + ... + r^11/13!) for |r| <= ln 2 / 2: the first term
# left out, r^14 / 14!, is below 4e-18
INV_FACT = tuple(1.0 / math.factorial(j) for j in range(2, 14))
INV_ODD = tuple(1.0 / (2 * j + 1) for j in range(1, 11))     # 1/3, 1/5, ..., 1/21
SQRT2 = math.sqrt(2.0)
TWO54 = 2.0 ** 54
SMALLEST_NORMAL = 2.2250738585072014e-308


@njit(**_HELPER)
def _exp_reduced(x):
    """(k, e^r - 1) where x = k ln 2 + r, |r| <= ln 2 / 2 (x clamped to +-1400, past
    where exp overflows and underflows)."""
    xc = min(max(x, -1400.0), 1400.0)
    kf = np.floor(xc * INV_LN2 + 0.5)
    r = (xc - kf * LN2_HI) - kf * LN2_LO
    p = INV_FACT[11]
    for j in range(10, -1, -1):
        p = p * r + INV_FACT[j]
    return kf, r + r * r * p


@njit(**_HELPER)
def _scaled(q, kf):
    """q 2^k in two factors, each a normal number for |k| <= 2020 (subnormal results and
    overflow round once)."""
    k = np.int64(kf)
    k1 = k >> 1
    return q * _double((k1 + 1023) << 52) * _double((k - k1 + 1023) << 52)


@njit(**_HELPER)
def _exp(x):
    kf, q = _exp_reduced(x)
    y = _scaled(1.0 + q, kf)
    return y if x == x else x


@njit(**_HELPER)
def _expm1_of(x, kf, q):
    """expm1(x) from _exp_reduced(x): 2^k (e^r - 1) + (2^k - 1)."""
    sc = _double((np.int64(min(kf, 1023.0)) + 1023) << 52)
    y = sc * q + (sc - 1.0)
    big = _scaled(1.0 + q, kf)      # the -1 is lost anyway: no 2^k for k = 1024 needed
    y = big if kf > 60.0 else y
    y = q if kf == 0.0 else y
    return y if (x == x and x != 0.0) else x     # NaN, and the sign of zero


@njit(**_HELPER)
def _expm1(x):
    kf, q = _exp_reduced(max(x, -60.0))   # e^-60 - 1 rounds to -1
    return _expm1_of(x, kf, q)


@njit(**_HELPER)
def _log_or_zero(x):
    """log x, 0 at x = 0: a log factor of a power's derivative where the power is 0 (as JAX)."""
    return np.log(x) if x != 0.0 else 0.0


@njit(**_HELPER)
def _log(x):
    """log x = e ln 2 + log m, m = x / 2^e in (sqrt(2)/2, sqrt(2)], log m = 2 atanh(s)
    with s = (m - 1) / (m + 1), written f - s (f - 2 q) around f = m - 1 (exact)."""
    sub = x < SMALLEST_NORMAL
    xs = x * TWO54 if sub else x
    b = _bits(xs)
    m = _double((b & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)    # in [1, 2)
    big = m > SQRT2
    m = 0.5 * m if big else m
    e = (b >> 52) - 1023 - (54 if sub else 0) + (1 if big else 0)
    ef = np.float64(e)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    q = INV_ODD[9]
    for j in range(8, -1, -1):
        q = q * z + INV_ODD[j]
    q = q * z                                   # 2 atanh(s) = 2 s (1 + q)
    y = ef * LN2_HI + (f - (s * (f - 2.0 * q) - ef * LN2_LO))
    y = -np.inf if x == 0.0 else y
    y = x if (x == np.inf or x != x) else y
    return np.nan if x < 0.0 else y


@njit(inline="always", **_HELPER)
def _log1p(x):
    """log(u) for u = 1 + x rounded, corrected by the rounding: log(u) - (u - 1 - x) / u."""
    u = 1.0 + x
    r = _log(u) - ((u - 1.0) - x) / u
    r = x if u == 1.0 else r
    r = -np.inf if u == 0.0 else r
    return u if u == np.inf else r


@njit(inline="always", **_HELPER)
def _tanh(x):
    """sign(x) t / (t + 2), t = expm1(2 |x|)."""
    a = abs(x)
    kf, q = _exp_reduced(2.0 * a)
    t = _expm1_of(2.0 * a, kf, q)
    r = t / (t + 2.0)
    r = 1.0 if a > 22.0 else r       # tanh(22) rounds to 1; t overflows past 355
    return math.copysign(r, x)


@njit(inline="always", **_HELPER)
def _logaddexp(a, b):
    """log(e^a + e^b) = max + log1p(e^-|a - b|); a + log 2 where a == b (infinities)."""
    m = a if a > b else b
    y = m + _log1p(_exp(-abs(a - b)))
    return a + LN2 if a == b else y


_PIO2 = _D.divide(_D.create_decimal(
    "3.14159265358979323846264338327950288419716939937510582097494"), 2)


def _leading(v, bits):
    """v rounded down to its leading `bits` bits."""
    e = math.frexp(float(v))[1]
    return math.floor(float(v) * 2.0 ** (bits - e)) / 2.0 ** (bits - e)


# pi / 2 in three parts of 33, 33 and 53 bits: k * PIO2_1 and k * PIO2_2 are exact for
# |k| < 2^20, so x - k pi / 2 is exact to about 2^-100 below TRIG_MAX; past it (and for
# NaN and infinities) sin and cos are libm's (_trig_far)
PIO2_1 = _leading(_PIO2, 33)
PIO2_2 = _leading(_rest(_PIO2, PIO2_1), 33)
PIO2_3 = float(_rest(_PIO2, PIO2_1, PIO2_2))
TWO_OVER_PI = float(_D.divide(1, _PIO2))
TRIG_MAX = 65536.0
# Taylor coefficients after the first terms, on |r| <= pi / 4: the first left out, r^17 / 17!
# and r^18 / 18!, are below 6e-17 of the result
SIN_C = tuple((-1.0) ** j / math.factorial(2 * j + 1) for j in range(1, 8))
COS_C = tuple((-1.0) ** j / math.factorial(2 * j) for j in range(2, 9))


@njit(**_HELPER)
def _quarter(x):
    """(k, sin r, cos r) where x = k pi / 2 + r, |r| <= pi / 4; cos r as 1 - r^2 / 2 with
    the rounding of that difference added back."""
    kf = np.floor(x * TWO_OVER_PI + 0.5)
    r = ((x - kf * PIO2_1) - kf * PIO2_2) - kf * PIO2_3
    z = r * r
    s = SIN_C[6]
    c = COS_C[6]
    for j in range(5, -1, -1):
        s = s * z + SIN_C[j]
        c = c * z + COS_C[j]
    hz = 0.5 * z
    w = 1.0 - hz
    return kf, r + r * z * s, w + (((1.0 - w) - hz) + z * z * c)


@njit(**_HELPER)
def _sin(x):
    kf, s, c = _quarter(x)
    q = np.int64(kf) & 3                # sin, cos, -sin, -cos of r by quadrant
    v = c if q & 1 else s
    v = -v if q & 2 else v
    return x if x == 0.0 else v         # the sign of zero


@njit(**_HELPER)
def _cos(x):
    kf, s, c = _quarter(x)
    q = (np.int64(kf) + 1) & 3          # cos x = sin(x + pi / 2)
    v = c if q & 1 else s
    return -v if q & 2 else v


@njit(**_HELPER)
def _trig_far(x, y, o, sign):
    """y[i] = sign * libm's sin, cos or tan (o: SIN, COS, TAN) of x[i] where |x[i]| >
    TRIG_MAX, NaN or infinite. (o an int64, not a constant: one compile, not three.)"""
    for i in range(x.size):
        if not abs(x[i]) <= TRIG_MAX:
            v = math.sin(x[i]) if o == SIN else math.cos(x[i]) if o == COS else math.tan(x[i])
            y[i] = sign * v


# arctan: |x| > 1 is pi/2 - atan(1/|x|); on [0, 1], atan a = k pi/16 + atan t for the
# nearest k (t = (a - c) / (1 + a c), c = tan(k pi/16) in two parts, so a - c is exact
# to the rounding of the division), where |t| <= tan(pi/32) < 0.0985 and the series to
# t^19 leaves out below 1e-21 of t
_PI = _D.multiply(_PIO2, 2)
_TAN_PI8 = _D.subtract(_D.sqrt(2), 1)                       # tan(pi/8)
_TAN_PI16 = _D.divide(_D.subtract(_D.sqrt(_D.add(1, _D.multiply(_TAN_PI8, _TAN_PI8))), 1),
                      _TAN_PI8)                             # tan(x/2) = (sec x - 1) / tan x
_TAN16 = (decimal.Decimal(0), _TAN_PI16, _TAN_PI8,
          _D.divide(_D.subtract(1, _TAN_PI16), _D.add(1, _TAN_PI16)), decimal.Decimal(1))
TAN16_HI = tuple(float(t) for t in _TAN16)
TAN16_LO = tuple(float(_rest(t, hi)) for t, hi in zip(_TAN16, TAN16_HI))
ATAN_SPLIT = tuple(math.tan((2 * k + 1) * math.pi / 32) for k in range(4))
_PI16 = tuple(_D.divide(_D.multiply(_PI, m), 16) for m in range(9))     # m pi / 16
PI16_HI = tuple(float(v) for v in _PI16)
PI16_LO = tuple(float(_rest(v, hi)) for v, hi in zip(_PI16, PI16_HI))
PI_HI, PI_LO = PI16_HI[8] * 2.0, PI16_LO[8] * 2.0
ATAN_C = tuple((-1.0) ** j / (2 * j + 1) for j in range(1, 10))


@njit(**_HELPER)
def _atan(x):
    a = abs(x)
    inv = a > 1.0
    a = 1.0 / a if inv else a
    # k and tan(k pi/16) by selects, not a table indexed by k, which kept the loop from
    # vectorizing (16 ns an element, libm's atan 9.7)
    c, c_lo, k = 0.0, 0.0, 0
    for j in range(4):
        past = a > ATAN_SPLIT[j]
        c = TAN16_HI[j + 1] if past else c
        c_lo = TAN16_LO[j + 1] if past else c_lo
        k = j + 1 if past else k
    t = ((a - c) - c_lo) / (1.0 + a * c)
    z = t * t
    p = ATAN_C[8]
    for j in range(7, -1, -1):
        p = p * z + ATAN_C[j]
    r = t + t * z * p
    m = 8 - k if inv else k
    r = -r if inv else r
    base, base_lo = 0.0, 0.0
    for j in range(1, 9):
        base = PI16_HI[j] if m == j else base
        base_lo = PI16_LO[j] if m == j else base_lo
    return math.copysign(base + (base_lo + r), x)


@njit(inline="always", **_HELPER)
def _atan2(a, b):
    """atan(a / b), plus or minus pi where b < 0 (within 2 ulps of libm's); C's exact
    values where an operand is zero or infinite, by selects (a loop calling libm for
    those was vectorized by LLVM into calls for every element: 20 ns an element)."""
    r = _atan(a / b)
    r = math.copysign(PI_HI, a) + (r + math.copysign(PI_LO, a)) if b < 0.0 else r
    e = 3.0 * PI16_HI[4] if b == -np.inf else PI16_HI[4] if b == np.inf else PI16_HI[8]
    zero_a = a == 0.0
    e = (PI_HI if _bits(b) < 0 else 0.0) if zero_a else e     # b < 0 or b is -0.0
    r = math.copysign(e, a) if (zero_a or b == 0.0 or abs(a) == np.inf) else r
    return r if (a == a and b == b) else a + b


@njit(inline="always", **_HELPER)
def _asin(x):
    """atan(x / sqrt((1 - x)(1 + x))): +-pi/2 at +-1 (x / 0), NaN past them."""
    return _atan(x / np.sqrt((1.0 - x) * (1.0 + x)))


@njit(inline="always", **_HELPER)
def _acos(x):
    """2 atan(sqrt((1 - x) / (1 + x))): no cancellation near x = 1, where acos is small."""
    return 2.0 * _atan(np.sqrt((1.0 - x) / (1.0 + x)))


@njit(**_HELPER)
def _tan(x):
    """sin r / cos r, or -cos r / sin r in odd quadrants; libm past TRIG_MAX (_trig_far)."""
    kf, s, c = _quarter(x)
    y = -c / s if np.int64(kf) & 1 else s / c
    return x if x == 0.0 else y


# sinh and cosh from one reduction of |x|: e^|x| / 2 comes from the scaling by 2^(k - 1),
# so neither overflows before its result does
@njit(inline="always", **_HELPER)
def _sinh(x):
    """sign(x) (u + u / (u + 1)) / 2 with u = expm1 |x| (no cancellation near 0); e^|x| / 2
    past |x| = 22, where e^-|x| is below its rounding."""
    a = abs(x)
    kf, q = _exp_reduced(a)
    u = _expm1_of(a, kf, q)
    y = 0.5 * (u + u / (u + 1.0))
    y = _scaled(1.0 + q, kf - 1.0) if a > 22.0 else y
    return math.copysign(y, x) if x == x else x


@njit(**_HELPER)
def _cosh(x):
    kf, q = _exp_reduced(abs(x))
    y = _scaled(1.0 + q, kf - 1.0) + _scaled(1.0 / (1.0 + q), -kf - 1.0)
    return y if x == x else x


# the inverse hyperbolic functions from log1p, in forms without cancellation near their
# zeros; log x + log 2 where x^2 would overflow
BIG_SQUARE = 1e150


@njit(inline="always", **_HELPER)
def _asinh(x):
    a = abs(x)
    y = _log1p(a + a * a / (1.0 + np.sqrt(1.0 + a * a)))
    y = _log(a) + LN2 if a > BIG_SQUARE else y
    return math.copysign(y, x) if x == x else x


@njit(inline="always", **_HELPER)
def _acosh(x):
    t = x - 1.0
    y = _log1p(t + np.sqrt(2.0 * t + t * t))
    y = _log(x) + LN2 if x > BIG_SQUARE else y
    return y if x >= 1.0 else np.nan       # (t^2 overflows for x near -inf)


@njit(**_HELPER)
def _atanh(x):
    a = abs(x)
    return math.copysign(0.5 * _log1p(2.0 * a / (1.0 - a)), x)


# ---------------------------------------------------------------- special functions
@njit(**_HELPER)
def _expit(x):
    """1 / (1 + exp(-x)) without overflow."""
    e = _exp(-abs(x))
    return 1.0 / (1.0 + e) if x >= 0.0 else e / (1.0 + e)


@njit(inline="always", **_HELPER)
def _log_expit(x):
    lp = _log1p(_exp(-abs(x)))
    return -lp if x >= 0.0 else x - lp


# log Phi(x) as SciPy's log_ndtr: log Phi down to -20, and below the asymptotic series of
# Mills' ratio, Phi(x) = phi(x) / -x (1 + S), S = sum (-1)^k (2k - 1)!! / x^2k (ten terms:
# the next is below 1e-18 there); but log1p(-Phi(-x)) above 0, where SciPy's log of a Phi
# near 1 keeps only its absolute precision (at x = 4.4, 2e-11 of the result) and its
# -Phi(-x) above 6 leaves out Phi(-x) / 2 of it (at x = 6, 5e-10)
NDTR_FAR = -20.0
MILLS_C = tuple((-1.0) ** k * math.prod(range(1, 2 * k, 2)) for k in range(1, 11))
HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


@njit(inline="always", **_HELPER)
def _ndtr(x):
    """Phi(x) = erfc(-x / sqrt 2) / 2, or 1 - erfc(x / sqrt 2) / 2 above 0, as cephes'."""
    z = x * 0.7071067811865476
    if abs(z) < 0.7071067811865476:
        return 0.5 + 0.5 * math.erf(z)
    y = 0.5 * math.erfc(abs(z))
    return 1.0 - y if z > 0.0 else y


@njit(inline="always", **_HELPER)
def _mills_series(x):
    """S of Phi(x) = phi(x) / -x (1 + S), for x <= NDTR_FAR."""
    r = 1.0 / (x * x)
    s = MILLS_C[9]
    for k in range(8, -1, -1):
        s = s * r + MILLS_C[k]
    return s * r


@njit(**_HELPER)
def _log_ndtr(x):
    if x > 0.0:
        return _log1p(-_ndtr(-x))
    if x > NDTR_FAR:
        return _log(_ndtr(x))
    return -0.5 * x * x - _log(-x) - HALF_LOG_2PI + _log1p(_mills_series(x))


@njit(**_HELPER)
def _log_ndtr_derivatives(x):
    """(phi / Phi, -d1 (x + d1)); below NDTR_FAR -x / (1 + S) and its x + d1 = x S / (1 + S)
    from the series (no cancellation)."""
    if x > NDTR_FAR:
        d1 = math.exp(-0.5 * x * x - HALF_LOG_2PI) / _ndtr(x)
        return d1, 0.0 if d1 == 0.0 else -d1 * (x + d1)     # (0, not 0 x inf, at inf)
    s = _mills_series(x)
    d1 = -x / (1.0 + s)
    return d1, -d1 * x * s / (1.0 + s)


@njit(**_HELPER)
def _logit(x):
    """log(x / (1 - x)); between 0.3 and 0.65 as SciPy, log1p(s) - log1p(-s) with
    s = 2x - 1 (the quotient near 1 would cost the result its relative precision)."""
    if 0.3 <= x <= 0.65:
        s = 2.0 * (x - 0.5)
        return _log1p(s) - _log1p(-s)
    return _log(x / (1.0 - x))


@njit(**_HELPER)
def _divmod(a, b):
    """NumPy's floor_divide and remainder of floats (npy_divmod): the remainder exact,
    from fmod (a - b * floor(a / b) had made 1.0 % 0.1 zero, NumPy's 0.0999...)."""
    mod = np.fmod(a, b)
    if b == 0.0:
        return a / b, mod
    div = (a - mod) / b
    if mod != 0.0:
        if (b < 0.0) != (mod < 0.0):
            mod += b
            div -= 1.0
    else:
        mod = math.copysign(0.0, b)
    if div == 0.0:
        return math.copysign(0.0, a / b), mod
    q = np.floor(div)     # (math.floor is an integer: NaN would not stay NaN)
    return (q + 1.0 if div - q > 0.5 else q), mod


@njit(**_HELPER)
def _rel_entr(a, b):
    """a log(a / b) as SciPy: log1p((a - b) / b) while a / b is within a factor 2 of 1."""
    if np.isnan(a) or np.isnan(b):
        return np.nan
    if a > 0.0 and b > 0.0:
        q = a / b
        return a * (math.log1p((a - b) / b) if 0.5 < q < 2.0 else math.log(q))
    return 0.0 if a == 0.0 and b >= 0.0 else np.inf


@njit(**_HELPER)
def _entr(x):
    if x > 0.0:
        return -x * math.log(x)
    if x == 0.0:
        return 0.0
    return -np.inf if x < 0.0 else np.nan


@njit(**_HELPER)
def _is_pole(x):
    return x <= 0.0 and x == math.floor(x)


@njit(**_HELPER)
def _gammaln(x):
    """log |Gamma(x)|, as scipy.special.gammaln."""
    if x == -np.inf:
        return -np.inf         # scipy's convention
    if _is_pole(x):
        return np.inf
    return math.lgamma(x)


@njit(**_HELPER)
def _digamma(x):
    """psi(x): reflection below 1/2, recurrence up to x >= 10, then the asymptotic series
    (terms to x**-14, error below 1e-17 there)."""
    if np.isnan(x):
        return np.nan
    if x == 0.0:
        return -np.inf         # scipy's convention
    if _is_pole(x):
        return np.nan
    acc = 0.0
    if x < 0.5:
        # psi(x) = psi(1 - x) - pi / tan(pi x), the argument reduced exactly (period 1)
        acc = -math.pi / math.tan(math.pi * (x - math.floor(x + 0.5)))
        x = 1.0 - x
    while x < 10.0:
        acc -= 1.0 / x
        x += 1.0
    r = 1.0 / (x * x)
    s = r * (1.0 / 12 - r * (1.0 / 120 - r * (1.0 / 252 - r * (1.0 / 240 - r * (
        1.0 / 132 - r * (691.0 / 32760 - r / 12.0))))))
    return acc + math.log(x) - 0.5 / x - s


@njit(**_HELPER)
def _trigamma(x):
    """psi'(x) = polygamma(1, x), by the same scheme as _digamma."""
    if np.isnan(x) or _is_pole(x):
        return np.nan
    acc = 0.0
    sign = 1.0
    if x < 0.5:
        sp = math.sin(math.pi * (x - math.floor(x + 0.5)))
        acc = math.pi * math.pi / (sp * sp)      # psi1(x) = pi^2/sin^2(pi x) - psi1(1 - x)
        sign = -1.0
        x = 1.0 - x
    t = 0.0
    while x < 10.0:
        t += 1.0 / (x * x)
        x += 1.0
    r = 1.0 / (x * x)
    s = r * (1.0 / 6 - r * (1.0 / 30 - r * (1.0 / 42 - r * (1.0 / 30 - r * (
        5.0 / 66 - r * (691.0 / 2730 - r * 7.0 / 6))))))
    t += 1.0 / x + 0.5 * r + s / x
    return acc + sign * t


@njit(**_HELPER)
def _tetragamma(x):
    """psi''(x) = polygamma(2, x), by the same scheme as _digamma."""
    if np.isnan(x) or _is_pole(x):
        return np.nan
    acc = 0.0
    if x < 0.5:
        r = x - math.floor(x + 0.5)       # cos/sin^3 has period 1
        sp = math.sin(math.pi * r)
        # psi2(x) = psi2(1 - x) - 2 pi^3 cos(pi x) / sin^3(pi x)
        acc = -2.0 * math.pi ** 3 * math.cos(math.pi * r) / (sp * sp * sp)
        x = 1.0 - x
    t = 0.0
    while x < 10.0:
        t -= 2.0 / (x * x * x)
        x += 1.0
    r = 1.0 / (x * x)
    s = r * (0.5 - r * (1.0 / 6 - r * (1.0 / 6 - r * (0.3 - r * (
        5.0 / 6 - r * (691.0 / 210 - r * 17.5))))))
    t += -r - r / x - s * r
    return acc + t


@njit(**_JIT)
def unary_values(o, x, y, p):
    n = x.size
    if o == NEG:
        for i in range(n): y[i] = -x[i]
    elif o == EXP:
        for i in range(n): y[i] = _exp(x[i])
    elif o == EXP2:
        for i in range(n): y[i] = 2.0 ** x[i]
    elif o == EXPM1:
        for i in range(n): y[i] = _expm1(x[i])
    elif o == LOG:
        for i in range(n): y[i] = _log(x[i])
    elif o == LOG2:
        for i in range(n): y[i] = np.log2(x[i])
    elif o == LOG10:
        for i in range(n): y[i] = np.log10(x[i])
    elif o == LOG1P:
        for i in range(n): y[i] = _log1p(x[i])
    elif o == SQRT:
        for i in range(n): y[i] = np.sqrt(x[i])
    elif o == CBRT:
        for i in range(n): y[i] = np.cbrt(x[i])
    elif o == SQUARE:
        for i in range(n): y[i] = x[i] * x[i]
    elif o == RECIP:
        for i in range(n): y[i] = 1.0 / x[i]
    elif o == SIN:
        for i in range(n): y[i] = _sin(x[i])
        _trig_far(x, y, o, 1.0)
    elif o == COS:
        for i in range(n): y[i] = _cos(x[i])
        _trig_far(x, y, o, 1.0)
    elif o == TAN:
        for i in range(n): y[i] = _tan(x[i])
        _trig_far(x, y, o, 1.0)
    elif o == ARCSIN:
        for i in range(n): y[i] = _asin(x[i])
    elif o == ARCCOS:
        for i in range(n): y[i] = _acos(x[i])
    elif o == ARCTAN:
        for i in range(n): y[i] = _atan(x[i])
    elif o == SINH:
        for i in range(n): y[i] = _sinh(x[i])
    elif o == COSH:
        for i in range(n): y[i] = _cosh(x[i])
    elif o == TANH:
        for i in range(n): y[i] = _tanh(x[i])
    elif o == ARCSINH:
        for i in range(n): y[i] = _asinh(x[i])
    elif o == ARCCOSH:
        for i in range(n): y[i] = _acosh(x[i])
    elif o == ARCTANH:
        for i in range(n): y[i] = _atanh(x[i])
    elif o == ABS:
        for i in range(n): y[i] = abs(x[i])
    elif o == POWC:
        if _whole(p):
            _int_power(x, y, p)
        else:
            for i in range(n): y[i] = x[i] ** p
    elif o == ADDC:
        for i in range(n): y[i] = x[i] + p
    elif o == MULC:
        for i in range(n): y[i] = x[i] * p
    elif o == RSUBC:
        for i in range(n): y[i] = p - x[i]
    elif o == RDIVC:
        for i in range(n): y[i] = p / x[i]
    elif o == DIVC:
        for i in range(n): y[i] = x[i] / p
    elif o == RPOWC:
        for i in range(n): y[i] = p ** x[i]
    elif o == MAXC:
        for i in range(n): y[i] = np.maximum(x[i], p)
    elif o == MINC:
        for i in range(n): y[i] = np.minimum(x[i], p)
    elif o == FMAXC:
        for i in range(n): y[i] = np.fmax(x[i], p)
    elif o == FMINC:
        for i in range(n): y[i] = np.fmin(x[i], p)
    elif o == EXPIT:
        for i in range(n): y[i] = _expit(x[i])
    elif o == LOGIT:
        for i in range(n): y[i] = _logit(x[i])
    elif o == LOG_EXPIT:
        for i in range(n): y[i] = _log_expit(x[i])
    elif o == LOG_NDTR:
        for i in range(n): y[i] = _log_ndtr(x[i])
    elif o == ERF:
        for i in range(n): y[i] = math.erf(x[i])
    elif o == ERFC:
        for i in range(n): y[i] = math.erfc(x[i])
    elif o == GAMMALN:
        for i in range(n): y[i] = _gammaln(x[i])
    elif o == DIGAMMA:
        for i in range(n): y[i] = _digamma(x[i])
    elif o == ENTR:
        for i in range(n): y[i] = _entr(x[i])
    elif o == SIGN:
        for i in range(n): y[i] = np.sign(x[i])
    elif o == FLOOR:
        for i in range(n): y[i] = np.floor(x[i])
    elif o == CEIL:
        for i in range(n): y[i] = np.ceil(x[i])
    elif o == RINT:
        for i in range(n): y[i] = np.rint(x[i])
    elif o == TRUNC:
        for i in range(n): y[i] = np.trunc(x[i])
    elif o == ROUNDC:
        for i in range(n): y[i] = np.rint(x[i] * 10.0 ** p) / 10.0 ** p
    elif o == ISNAN:
        for i in range(n): y[i] = 1.0 if np.isnan(x[i]) else 0.0
    elif o == ISINF:
        for i in range(n): y[i] = 1.0 if np.isinf(x[i]) else 0.0
    elif o == ISFINITE:
        for i in range(n): y[i] = 1.0 if np.isfinite(x[i]) else 0.0
    elif o == NOT:
        for i in range(n): y[i] = 1.0 if x[i] == 0.0 else 0.0
    else:
        y[:] = np.nan


@njit(**_JIT)
def unary_derivs(o, x, y, p, d1, d2):
    """d1 = dy/dx, d2 = d2y/dx2 (only differentiable opcodes reach here)."""
    n = x.size
    if o == NEG:
        for i in range(n): d1[i] = -1.0; d2[i] = 0.0
    elif o == EXP:
        for i in range(n): d1[i] = y[i]; d2[i] = y[i]
    elif o == EXP2:
        for i in range(n): d1[i] = y[i] * LN2; d2[i] = y[i] * LN2 * LN2
    elif o == EXPM1:
        for i in range(n): d1[i] = y[i] + 1.0; d2[i] = y[i] + 1.0
    elif o == LOG:
        for i in range(n): d1[i] = 1.0 / x[i]; d2[i] = -d1[i] * d1[i]
    elif o == LOG2:
        for i in range(n): d1[i] = 1.0 / (x[i] * LN2); d2[i] = -d1[i] / x[i]
    elif o == LOG10:
        for i in range(n): d1[i] = 1.0 / (x[i] * LN10); d2[i] = -d1[i] / x[i]
    elif o == LOG1P:
        for i in range(n): d1[i] = 1.0 / (1.0 + x[i]); d2[i] = -d1[i] * d1[i]
    elif o == SQRT:
        for i in range(n): d1[i] = 0.5 / y[i]; d2[i] = -0.25 / (y[i] * y[i] * y[i])
    elif o == CBRT:
        for i in range(n): d1[i] = 1.0 / (3.0 * y[i] * y[i]); d2[i] = -2.0 * d1[i] / (3.0 * x[i])
    elif o == SQUARE:
        for i in range(n): d1[i] = 2.0 * x[i]; d2[i] = 2.0
    elif o == RECIP:
        for i in range(n): d1[i] = -y[i] * y[i]; d2[i] = 2.0 * y[i] * y[i] * y[i]
    elif o == SIN:
        for i in range(n): d1[i] = _cos(x[i]); d2[i] = -y[i]
        _trig_far(x, d1, int64(COS), 1.0)
    elif o == COS:
        for i in range(n): d1[i] = -_sin(x[i]); d2[i] = -y[i]
        _trig_far(x, d1, int64(SIN), -1.0)
    elif o == TAN:
        for i in range(n): d1[i] = 1.0 + y[i] * y[i]; d2[i] = 2.0 * y[i] * d1[i]
    elif o == ARCSIN:
        for i in range(n): d1[i] = 1.0 / np.sqrt((1.0 - x[i]) * (1.0 + x[i])); d2[i] = x[i] * d1[i] ** 3
    elif o == ARCCOS:
        for i in range(n): d1[i] = -1.0 / np.sqrt((1.0 - x[i]) * (1.0 + x[i])); d2[i] = x[i] * d1[i] ** 3
    elif o == ARCTAN:
        for i in range(n): d1[i] = 1.0 / (1.0 + x[i] * x[i]); d2[i] = -2.0 * x[i] * d1[i] * d1[i]
    elif o == SINH:
        for i in range(n): d1[i] = _cosh(x[i]); d2[i] = y[i]
    elif o == COSH:
        for i in range(n): d1[i] = _sinh(x[i]); d2[i] = y[i]
    elif o == TANH:
        for i in range(n): d1[i] = 1.0 - y[i] * y[i]; d2[i] = -2.0 * y[i] * d1[i]
    elif o == ARCSINH:
        for i in range(n): d1[i] = 1.0 / np.sqrt(x[i] * x[i] + 1.0); d2[i] = -x[i] * d1[i] ** 3
    elif o == ARCCOSH:
        for i in range(n): d1[i] = 1.0 / np.sqrt((x[i] - 1.0) * (x[i] + 1.0)); d2[i] = -x[i] * d1[i] ** 3
    elif o == ARCTANH:
        for i in range(n): d1[i] = 1.0 / ((1.0 - x[i]) * (1.0 + x[i])); d2[i] = 2.0 * x[i] * d1[i] * d1[i]
    elif o == ABS:
        # 1 at 0, the branch x >= 0 (as maximum(x, 0)'s tie): where |x| is only a stable
        # way to write a smooth function (log1p(exp(-|x|)) in a softplus), both branches
        # have its derivatives, while sign(0) = 0 had dropped its second derivative there
        for i in range(n):
            d1[i] = 1.0 if x[i] >= 0.0 else (-1.0 if x[i] < 0.0 else x[i]); d2[i] = 0.0
    elif o >= MAXC and o <= FMINC:
        # the derivative follows the chosen operand; a tie takes the branch x >= p, as abs
        upper, keeps_nan = o == MAXC or o == FMAXC, o == MAXC or o == MINC
        for i in range(n):
            if np.isnan(x[i]):                  # maximum keeps a NaN x, fmax drops it
                d1[i] = 1.0 if keeps_nan else 0.0
            elif np.isnan(p):
                d1[i] = 0.0 if keeps_nan else 1.0
            else:
                d1[i] = 1.0 if (x[i] >= p) == upper else 0.0
            d2[i] = 0.0
    elif o == POWC:
        if p == 0.0:
            d1[:] = 0.0
            d2[:] = 0.0
        elif p == 1.0:
            d1[:] = 1.0
            d2[:] = 0.0
        elif _whole(p):
            _int_power(x, d1, p - 1.0)
            _int_power(x, d2, p - 2.0)
            for i in range(n): d1[i] *= p; d2[i] *= p * (p - 1.0)
        else:   # from the value: pow, a call per element, only where x is 0 or not finite
            for i in range(n):
                d1[i] = p * y[i] / x[i]; d2[i] = (p - 1.0) * d1[i] / x[i]
            for i in range(n):
                if x[i] == 0.0 or not np.isfinite(x[i]):
                    d1[i] = p * x[i] ** (p - 1.0); d2[i] = p * (p - 1.0) * x[i] ** (p - 2.0)
    elif o == ADDC or o == RSUBC:
        d1[:] = 1.0 if o == ADDC else -1.0
        d2[:] = 0.0
    elif o == MULC or o == DIVC:
        d1[:] = p if o == MULC else 1.0 / p
        d2[:] = 0.0
    elif o == RDIVC:
        for i in range(n): d1[i] = -y[i] / x[i]; d2[i] = -2.0 * d1[i] / x[i]
    elif o == RPOWC:
        lp = _log_or_zero(p)
        for i in range(n): d1[i] = y[i] * lp; d2[i] = d1[i] * lp
    elif o == EXPIT:
        # y (1 - y) of the rounded y, as JAX's and torch's: its 1 - y cancels exactly
        # against the 1 - y of log(1 - expit(z)) (a logistic loss), whose gradient the
        # exact 1 - y = expit(-z) had made 1e-3 off at z = 30
        for i in range(n):
            q = 1.0 - y[i]
            d1[i] = y[i] * q; d2[i] = d1[i] * (q - y[i])
    elif o == LOGIT:
        for i in range(n):
            r = 1.0 / (x[i] * (1.0 - x[i]))
            d1[i] = r; d2[i] = (2.0 * x[i] - 1.0) * r * r
    elif o == LOG_EXPIT:
        for i in range(n):
            q = _expit(-x[i])
            d1[i] = q; d2[i] = -q * _expit(x[i])
    elif o == LOG_NDTR:
        for i in range(n): d1[i], d2[i] = _log_ndtr_derivatives(x[i])
    elif o == ERF or o == ERFC:
        sgn = 1.0 if o == ERF else -1.0
        for i in range(n):
            d1[i] = sgn * TWO_OVER_SQRT_PI * _exp(-x[i] * x[i]); d2[i] = -2.0 * x[i] * d1[i]
    elif o == GAMMALN:
        for i in range(n): d1[i] = _digamma(x[i]); d2[i] = _trigamma(x[i])
    elif o == DIGAMMA:
        for i in range(n): d1[i] = _trigamma(x[i]); d2[i] = _tetragamma(x[i])
    elif o == ENTR:
        for i in range(n): d1[i] = -np.log(x[i]) - 1.0; d2[i] = -1.0 / x[i]
    else:
        d1[:] = 0.0
        d2[:] = 0.0


@njit(**_JIT)
def binary_values(o, a, b, y):
    n = y.size
    if o == ADD:
        for i in range(n): y[i] = a[i] + b[i]
    elif o == SUB:
        for i in range(n): y[i] = a[i] - b[i]
    elif o == MUL:
        for i in range(n): y[i] = a[i] * b[i]
    elif o == DIV:
        for i in range(n): y[i] = a[i] / b[i]
    elif o == POW:
        for i in range(n): y[i] = a[i] ** b[i]
    elif o == ARCTAN2:
        for i in range(n): y[i] = _atan2(a[i], b[i])
    elif o == HYPOT:
        for i in range(n): y[i] = np.hypot(a[i], b[i])
    elif o == LOGADDEXP:
        for i in range(n): y[i] = _logaddexp(a[i], b[i])
    elif o == LOGADDEXP2:
        for i in range(n): y[i] = np.logaddexp2(a[i], b[i])
    elif o == MAXIMUM:
        for i in range(n): y[i] = np.maximum(a[i], b[i])
    elif o == MINIMUM:
        for i in range(n): y[i] = np.minimum(a[i], b[i])
    elif o == FMAX:
        for i in range(n): y[i] = np.fmax(a[i], b[i])
    elif o == FMIN:
        for i in range(n): y[i] = np.fmin(a[i], b[i])
    elif o == XLOGY:
        for i in range(n):
            y[i] = 0.0 if a[i] == 0.0 and not np.isnan(b[i]) else a[i] * np.log(b[i])
    elif o == XLOG1PY:
        for i in range(n):
            y[i] = 0.0 if a[i] == 0.0 and not np.isnan(b[i]) else a[i] * np.log1p(b[i])
    elif o == REL_ENTR:
        for i in range(n): y[i] = _rel_entr(a[i], b[i])
    elif o == REMAINDER:
        for i in range(n): y[i] = _divmod(a[i], b[i])[1]
    elif o == FMOD:
        for i in range(n): y[i] = np.fmod(a[i], b[i])
    elif o == FLOORDIV:
        for i in range(n): y[i] = _divmod(a[i], b[i])[0]
    elif o == LT:
        for i in range(n): y[i] = 1.0 if a[i] < b[i] else 0.0
    elif o == LE:
        for i in range(n): y[i] = 1.0 if a[i] <= b[i] else 0.0
    elif o == GT:
        for i in range(n): y[i] = 1.0 if a[i] > b[i] else 0.0
    elif o == GE:
        for i in range(n): y[i] = 1.0 if a[i] >= b[i] else 0.0
    elif o == EQ:
        for i in range(n): y[i] = 1.0 if a[i] == b[i] else 0.0
    elif o == NE:
        for i in range(n): y[i] = 1.0 if a[i] != b[i] else 0.0
    elif o == AND:
        for i in range(n): y[i] = 1.0 if (a[i] != 0.0 and b[i] != 0.0) else 0.0
    elif o == OR:
        for i in range(n): y[i] = 1.0 if (a[i] != 0.0 or b[i] != 0.0) else 0.0
    elif o == XOR:
        for i in range(n): y[i] = 1.0 if ((a[i] != 0.0) != (b[i] != 0.0)) else 0.0
    else:
        y[:] = np.nan


@njit(**_JIT)
def binary_derivs(o, a, b, y, fa, fb, faa, fab, fbb):
    """The first and second partials of every differentiable binary op."""
    n = y.size
    if o == ADD or o == SUB:
        fa[:] = 1.0
        fb[:] = 1.0 if o == ADD else -1.0
        faa[:] = 0.0
        fab[:] = 0.0
        fbb[:] = 0.0
    elif o == MUL:
        for i in range(n): fa[i] = b[i]; fb[i] = a[i]; faa[i] = 0.0; fab[i] = 1.0; fbb[i] = 0.0
    elif o == DIV:
        for i in range(n):
            r = 1.0 / b[i]
            fa[i] = r; fb[i] = -y[i] * r; faa[i] = 0.0; fab[i] = -r * r; fbb[i] = 2.0 * y[i] * r * r
    elif o == POW:
        for i in range(n):
            la = _log_or_zero(a[i])
            am1 = a[i] ** (b[i] - 1.0)
            w = b[i] * (b[i] - 1.0)     # 0 * inf where a is 0: exponents 0 and 1 are flat
            fa[i] = b[i] * am1 if b[i] != 0.0 else 0.0
            faa[i] = w * a[i] ** (b[i] - 2.0) if w != 0.0 else 0.0
            fb[i] = y[i] * la; fab[i] = am1 * (1.0 + b[i] * la); fbb[i] = y[i] * la * la
    # both in terms of (a, b) / hypot(a, b), a unit vector: squares of a and b overflowed
    # past 1e154 (inf * 0 = NaN in the second derivatives)
    elif o == ARCTAN2:
        for i in range(n):
            q = 1.0 / np.hypot(a[i], b[i])
            u = a[i] * q; v = b[i] * q
            fa[i] = v * q; fb[i] = -u * q; faa[i] = -2.0 * u * v * q * q
            fab[i] = (u * u - v * v) * q * q; fbb[i] = -faa[i]
    elif o == HYPOT:
        for i in range(n):
            fa[i] = a[i] / y[i]; fb[i] = b[i] / y[i]; faa[i] = fb[i] * fb[i] / y[i]
            fab[i] = -fa[i] * fb[i] / y[i]; fbb[i] = fa[i] * fa[i] / y[i]
    elif o == LOGADDEXP or o == LOGADDEXP2:
        s = LN2 if o == LOGADDEXP2 else 1.0
        for i in range(n):
            # expit(d) and expit(-d) of d = a - b (exp(a - y) of a rounded y had summed
            # past 1 at |a| = 1e16), from one exp
            d = (a[i] - b[i]) * s
            e = _exp(-abs(d))
            r = 1.0 / (1.0 + e)
            fa[i] = r if d >= 0.0 else e * r; fb[i] = e * r if d >= 0.0 else r
            faa[i] = s * fa[i] * fb[i]; fab[i] = -faa[i]; fbb[i] = faa[i]
    elif o == MAXIMUM or o == MINIMUM or o == FMAX or o == FMIN:
        # the derivative follows the chosen operand; ties split evenly
        for i in range(n):
            if a[i] == b[i]:
                fa[i] = 0.5
            elif y[i] == a[i] or (np.isnan(y[i]) and np.isnan(a[i])):
                fa[i] = 1.0
            else:
                fa[i] = 0.0
            fb[i] = 1.0 - fa[i]; faa[i] = 0.0; fab[i] = 0.0; fbb[i] = 0.0
    elif o == XLOGY:
        for i in range(n):
            r = 1.0 / b[i]
            fa[i] = np.log(b[i]); fb[i] = a[i] * r; faa[i] = 0.0; fab[i] = r
            fbb[i] = -a[i] * r * r
    elif o == XLOG1PY:
        for i in range(n):
            r = 1.0 / (1.0 + b[i])
            fa[i] = np.log1p(b[i]); fb[i] = a[i] * r; faa[i] = 0.0; fab[i] = r
            fbb[i] = -a[i] * r * r
    elif o == REL_ENTR:
        for i in range(n):
            r = 1.0 / b[i]
            fa[i] = np.log(a[i] * r) + 1.0; fb[i] = -a[i] * r; faa[i] = 1.0 / a[i]
            fab[i] = -r; fbb[i] = a[i] * r * r
    elif o == REMAINDER or o == FMOD:     # a - b q, with q the piece's whole quotient
        for i in range(n):
            q = _divmod(a[i], b[i])[0] if o == REMAINDER else np.rint((a[i] - y[i]) / b[i])
            fa[i] = 1.0; fb[i] = -q; faa[i] = 0.0; fab[i] = 0.0; fbb[i] = 0.0
    else:
        fa[:] = 0.0
        fb[:] = 0.0
        faa[:] = 0.0
        fab[:] = 0.0
        fbb[:] = 0.0


@njit(**_HELPER)
def _copy(dst, src):
    """dst[:src.size] = src. Numba's slice assignment from an array compiles its shape
    mismatch error, string formatting and all: about 4 s of a cold compile."""
    for i in range(src.size):
        dst[i] = src[i]


@njit(**_HELPER)
def _operand(vals, off, full, s, m, buf):
    """Elements s..s+m of an elementwise operand: a view, or its one value repeated."""
    if full:
        return vals[off + s:off + s + m]
    buf[:m] = vals[off]
    return buf[:m]


# ---------------------------------------------------------------- elementwise sweeps
# The linear ops (LINEAR_OPS) with whole operands apply their constant slopes without
# the derivative table, in flat loops over all k directions: at n = 10^5 a subtraction's
# cotangents moved 1.6 -> 0.5 ns an element, and at k = 10 its tangents ran 8x faster
# than through per-element partials. With one direction (k == 1) the other rules loop
# over slices (simple loops LLVM vectorizes), and MUL reads its partials from the values.
@njit(**_HELPER)
def _slope(o, p):
    """dy/dx of a linear unary op (NEG, ADDC, MULC, RSUBC, DIVC), as unary_derivs has it."""
    if o == MULC:
        return p
    if o == DIVC:
        return 1.0 / p
    return -1.0 if o == NEG or o == RSUBC else 1.0


@njit(**_HELPER)
def _unary_tangent(vals, tans, k, o, p, xo, yo, n, scr):
    if _linear(o):      # a constant slope: one flat loop over every direction
        c = _slope(o, p)
        ty, tx = tans[yo * k:(yo + n) * k], tans[xo * k:(xo + n) * k]
        for i in range(n * k):
            ty[i] = c * tx[i]
        return
    for s in range(0, n, TILE):
        m = min(TILE, n - s)
        d1, d2 = scr[0, :m], scr[1, :m]
        unary_derivs(o, vals[xo + s:xo + s + m], vals[yo + s:yo + s + m], p, d1, d2)
        if k == 1:
            ty, tx = tans[yo + s:yo + s + m], tans[xo + s:xo + s + m]
            for i in range(m):
                ty[i] = d1[i] * tx[i]
        else:
            for i in range(m):
                d, x, y = d1[i], (xo + s + i) * k, (yo + s + i) * k
                for j in range(k):
                    tans[U(y + j)] = d * tans[U(x + j)]


@njit(**_HELPER)
def _unary_adjoint(vals, adj, k, o, p, xo, yo, n, scr, keep):
    if _linear(o):      # a constant slope: flat loops over every direction
        c = _slope(o, p)
        for s in range(0, n * k, TILE):
            m = min(TILE, n * k - s)
            gx, gy = adj[xo * k + s:xo * k + s + m], adj[yo * k + s:yo * k + s + m]
            for i in range(m):
                gx[i] += c * gy[i]
            if not keep:
                gy[:] = 0.0     # consumed: cleared here, while in cache
        return
    for s in range(0, n, TILE):
        m = min(TILE, n - s)
        d1, d2 = scr[0, :m], scr[1, :m]
        unary_derivs(o, vals[xo + s:xo + s + m], vals[yo + s:yo + s + m], p, d1, d2)
        if k == 1:
            gx, gy = adj[xo + s:xo + s + m], adj[yo + s:yo + s + m]
            for i in range(m):
                gx[i] += d1[i] * gy[i]
            if not keep:
                gy[:] = 0.0     # consumed: cleared here, while in cache
        else:
            for i in range(m):
                d, x, y = d1[i], (xo + s + i) * k, (yo + s + i) * k
                for j in range(k):
                    adj[U(x + j)] += d * adj[U(y + j)]
                    if not keep:
                        adj[U(y + j)] = 0.0


@njit(**_HELPER)
def _linear(o):
    """Opcodes whose second derivatives are zero (LINEAR_OPS): their second-order rules
    read no tangent."""
    return (o == NEG or o == ADDC or o == MULC or o == RSUBC or o == DIVC or o == ADD
            or o == SUB)


@njit(**_HELPER)
def _unary_adjoint_tangent(vals, tans, adj, adjt, k, o, p, xo, yo, n, scr, gz):
    """gz: the result's second-order cotangents are zero (Tape.gzero): not read. A linear
    op passes both cotangents back by its slope, and reads no tangent."""
    if _linear(o):
        _unary_adjoint(vals, adj, ONE, o, p, xo, yo, n, scr, NO)
        if not gz:
            _unary_adjoint(vals, adjt, k, o, p, xo, yo, n, scr, NO)
        return
    for s in range(0, n, TILE):
        m = min(TILE, n - s)
        d1, c = scr[0, :m], scr[1, :m]
        unary_derivs(o, vals[xo + s:xo + s + m], vals[yo + s:yo + s + m], p, d1, c)
        x0, y0 = xo + s, yo + s
        gx, gy = adj[x0:x0 + m], adj[y0:y0 + m]
        for i in range(m):
            gx[i] += d1[i] * gy[i]
            c[i] *= gy[i]
        gy[:] = 0.0             # the result's cotangents are consumed: cleared here
        if k == 1:
            ax, ay, tx = adjt[x0:x0 + m], adjt[y0:y0 + m], tans[x0:x0 + m]
            if gz:
                for i in range(m):
                    ax[i] += c[i] * tx[i]
            else:
                for i in range(m):
                    ax[i] += d1[i] * ay[i] + c[i] * tx[i]
                ay[:] = 0.0
            continue
        for i in range(m):
            x, y, ci, d = (x0 + i) * k, (y0 + i) * k, c[i], d1[i]
            if gz:
                for j in range(k):
                    adjt[U(x + j)] += ci * tans[U(x + j)]
                continue
            for j in range(k):
                v = d * adjt[U(y + j)] + ci * tans[U(x + j)]
                adjt[U(y + j)] = 0.0
                adjt[U(x + j)] += v


@njit(**_HELPER)
def _binary_partials(vals, o, ao, bo, yo, s, m, full_a, full_b, scr):
    A = _operand(vals, ao, full_a, s, m, scr[5])
    B = _operand(vals, bo, full_b, s, m, scr[6])
    binary_derivs(o, A, B, vals[yo + s:yo + s + m], scr[0, :m], scr[1, :m], scr[2, :m],
                  scr[3, :m], scr[4, :m])


@njit(**_HELPER)
def _binary_tangent(vals, tans, k, o, ao, bo, yo, n, da, db, act_a, act_b, scr):
    fa, fb = scr[0], scr[1]
    if (o == ADD or o == SUB) and da == 1 and db == 1:   # slopes 1 and sb: flat loops
        sb = -1.0 if o == SUB else 1.0
        ty = tans[yo * k:(yo + n) * k]
        ta, tb = tans[ao * k:(ao + n) * k], tans[bo * k:(bo + n) * k]
        if act_a and act_b:
            for i in range(n * k):
                ty[i] = ta[i] + sb * tb[i]
        elif act_a:
            _copy(ty, ta)
        else:
            for i in range(n * k):
                ty[i] = sb * tb[i]
        return
    whole = k == 1 and da == 1 and db == 1     # one direction, whole operands: slices
    for s in range(0, n, TILE):
        m = min(TILE, n - s)
        if whole:
            ty, ta, tb = tans[yo + s:yo + s + m], tans[ao + s:ao + s + m], tans[bo + s:bo + s + m]
            if o == MUL:                  # the partials are the other operand
                pa, pb = vals[bo + s:bo + s + m], vals[ao + s:ao + s + m]
            else:
                _binary_partials(vals, o, ao, bo, yo, s, m, YES, YES, scr)
                pa, pb = fa[:m], fb[:m]
            if act_a and act_b:
                for i in range(m):
                    ty[i] = pa[i] * ta[i] + pb[i] * tb[i]
            elif act_a:
                for i in range(m):
                    ty[i] = pa[i] * ta[i]
            else:
                for i in range(m):
                    ty[i] = pb[i] * tb[i]
            continue
        _binary_partials(vals, o, ao, bo, yo, s, m, da == 1, db == 1, scr)
        for i in range(m):
            ia, ib, y = (ao + (s + i) * da) * k, (bo + (s + i) * db) * k, (yo + s + i) * k
            # an inactive operand's partial may be NaN (log of a negative constant base):
            # its term is left out, not multiplied by a zero tangent
            pa, pb = fa[i], fb[i]
            if act_a and act_b:
                for j in range(k):
                    tans[U(y + j)] = pa * tans[U(ia + j)] + pb * tans[U(ib + j)]
            elif act_a:
                for j in range(k):
                    tans[U(y + j)] = pa * tans[U(ia + j)]
            else:
                for j in range(k):
                    tans[U(y + j)] = pb * tans[U(ib + j)]


@njit(**_HELPER)
def _binary_adjoint(vals, adj, k, o, ao, bo, yo, n, da, db, act_a, act_b, scr, keep):
    fa, fb = scr[0], scr[1]
    if (o == ADD or o == SUB) and da == 1 and db == 1:   # flat loops over every direction
        for s in range(0, n * k, TILE):
            _sum_pull_1(adj, ao * k + s, bo * k + s, yo * k + s, min(TILE, n * k - s),
                        -1.0 if o == SUB else 1.0, act_a, act_b, keep)
        return
    whole = k == 1 and da == 1 and db == 1
    for s in range(0, n, TILE):
        m = min(TILE, n - s)
        if whole and o == MUL:      # the partials are the other operand
            _binary_pull_1(adj, ao + s, bo + s, yo + s, m, vals[bo + s:bo + s + m],
                           vals[ao + s:ao + s + m], act_a, act_b, scr[7], keep)
            continue
        _binary_partials(vals, o, ao, bo, yo, s, m, da == 1, db == 1, scr)
        if k == 1 and da == 1 and db == 1:
            _binary_pull_1(adj, ao + s, bo + s, yo + s, m, fa, fb, act_a, act_b, scr[7], keep)
            continue
        for i in range(m):
            ia, ib, y = (ao + (s + i) * da) * k, (bo + (s + i) * db) * k, (yo + s + i) * k
            pa, pb = fa[i], fb[i]
            for j in range(k):
                g = adj[U(y + j)]
                if not keep:
                    adj[U(y + j)] = 0.0
                if act_a:
                    adj[U(ia + j)] += pa * g
                if act_b:
                    adj[U(ib + j)] += pb * g


@njit(**_HELPER)
def _binary_adjoint_tangent(vals, tans, adj, adjt, k, o, ao, bo, yo, n, da, db, act_a,
                            act_b, scr, gz):
    """gz: the result's second-order cotangents are zero (Tape.gzero): not read. A linear
    op passes both cotangents back by its slopes, and reads no tangent."""
    fa, fb, faa, fab, fbb, gs = scr[0], scr[1], scr[2], scr[3], scr[4], scr[7]
    if _linear(o):
        _binary_adjoint(vals, adj, ONE, o, ao, bo, yo, n, da, db, act_a, act_b, scr, NO)
        if not gz:
            _binary_adjoint(vals, adjt, k, o, ao, bo, yo, n, da, db, act_a, act_b, scr, NO)
        return
    for s in range(0, n, TILE):
        m = min(TILE, n - s)
        if k == 1 and da == 1 and db == 1 and o == MUL:     # partials: the other operand
            _binary_pull_1(adj, ao + s, bo + s, yo + s, m, vals[bo + s:bo + s + m],
                           vals[ao + s:ao + s + m], act_a, act_b, gs, NO)
            _product_second_1(vals, tans, adjt, ao + s, bo + s, yo + s, m, gs, act_a, act_b)
            continue
        _binary_partials(vals, o, ao, bo, yo, s, m, da == 1, db == 1, scr)
        if da == 1 and db == 1:
            _binary_pull_1(adj, ao + s, bo + s, yo + s, m, fa, fb, act_a, act_b, gs, NO)
        else:
            for i in range(m):
                ia, ib, y = ao + (s + i) * da, bo + (s + i) * db, yo + s + i
                g = gs[i] = adj[y]
                adj[y] = 0.0     # consumed: cleared here
                if act_a:
                    adj[ia] += fa[i] * g
                if act_b:
                    adj[ib] += fb[i] * g
        if gz:      # fa and fb only meet the zeros of adjt[y] now: an infinite one, NaN
            fa[:m] = 0.0
            fb[:m] = 0.0
        if k == 1 and da == 1 and db == 1:
            _binary_second_1(tans, adjt, ao + s, bo + s, yo + s, m, fa, fb, faa, fab, fbb,
                             gs, act_a, act_b)
            continue
        for i in range(m):
            ia, ib, y = (ao + (s + i) * da) * k, (bo + (s + i) * db) * k, (yo + s + i) * k
            g = gs[i]
            pa, pb, paa, pab, pbb = fa[i], fb[i], faa[i] * g, fab[i] * g, fbb[i] * g
            if act_a and act_b:
                for j in range(k):
                    gt, ta, tb = adjt[U(y + j)], tans[U(ia + j)], tans[U(ib + j)]
                    adjt[U(y + j)] = 0.0
                    adjt[U(ia + j)] += pa * gt + paa * ta + pab * tb
                    adjt[U(ib + j)] += pb * gt + pab * ta + pbb * tb
            elif act_a:
                for j in range(k):
                    gt = adjt[U(y + j)]
                    adjt[U(y + j)] = 0.0
                    adjt[U(ia + j)] += pa * gt + paa * tans[U(ia + j)]
            else:
                for j in range(k):
                    gt = adjt[U(y + j)]
                    adjt[U(y + j)] = 0.0
                    adjt[U(ib + j)] += pb * gt + pbb * tans[U(ib + j)]


@njit(**_HELPER)
def _binary_pull_1(adj, a0, b0, y0, m, fa, fb, act_a, act_b, g, keep):
    """One cotangent through a binary op with whole operands, over slices: g = adj[y]
    (kept for the second-order terms), adj[a] += fa g, adj[b] += fb g, adj[y] cleared
    unless keep."""
    gy = adj[y0:y0 + m]
    _copy(g, gy)
    if not keep:
        gy[:] = 0.0
    if act_a:
        ga = adj[a0:a0 + m]
        for i in range(m):
            ga[i] += fa[i] * g[i]
    if act_b:
        gb = adj[b0:b0 + m]
        for i in range(m):
            gb[i] += fb[i] * g[i]


@njit(**_HELPER)
def _sum_pull_1(adj, a0, b0, y0, m, sb, act_a, act_b, keep):
    """One cotangent through a + sb b (ADD, SUB) with whole operands, over slices."""
    gy = adj[y0:y0 + m]
    if act_a:
        ga = adj[a0:a0 + m]
        for i in range(m):
            ga[i] += gy[i]
    if act_b:
        gb = adj[b0:b0 + m]
        for i in range(m):
            gb[i] += sb * gy[i]
    if not keep:
        gy[:] = 0.0


@njit(**_HELPER)
def _product_second_1(vals, tans, adjt, a0, b0, y0, m, g, act_a, act_b):
    """The second-order cotangents of a b (MUL) for one direction and whole operands:
    adjt[a] += b gt + tb g, adjt[b] += a gt + ta g."""
    gt = adjt[y0:y0 + m]
    if act_a:
        _factor_second_1(adjt[a0:a0 + m], vals[b0:b0 + m], tans[b0:b0 + m], gt, g, act_b)
    if act_b:
        _factor_second_1(adjt[b0:b0 + m], vals[a0:a0 + m], tans[a0:a0 + m], gt, g, act_a)
    gt[:] = 0.0


@njit(**_HELPER)
def _factor_second_1(gs, other, t_other, gt, g, cross):
    """One factor's terms: gs += other gt, plus t_other g when the other factor is active
    (its tangent is read only then)."""
    if cross:
        for i in range(gs.size):
            gs[i] += other[i] * gt[i] + t_other[i] * g[i]
    else:
        for i in range(gs.size):
            gs[i] += other[i] * gt[i]


@njit(**_HELPER)
def _binary_second_1(tans, adjt, a0, b0, y0, m, fa, fb, faa, fab, fbb, g, act_a, act_b):
    """_binary_adjoint_tangent's loop for one direction and whole operands of a nonlinear
    op, over slices (loops LLVM can vectorize). a and b may be one slot: every update
    adds."""
    gt, ta, tb = adjt[y0:y0 + m], tans[a0:a0 + m], tans[b0:b0 + m]
    if act_a:
        _operand_second_1(adjt[a0:a0 + m], fa, faa, fab, ta, tb, gt, g, act_b)
    if act_b:
        _operand_second_1(adjt[b0:b0 + m], fb, fbb, fab, tb, ta, gt, g, act_a)
    gt[:] = 0.0


@njit(**_HELPER)
def _operand_second_1(gs, f, f_self, f_cross, t_self, t_other, gt, g, other):
    """One operand's terms: gs += f gt + (f_self t_self + f_cross t_other) g, reading
    only the tangents the op's second derivatives need."""
    if other:
        for i in range(gs.size):
            gs[i] += f[i] * gt[i] + (f_self[i] * t_self[i] + f_cross[i] * t_other[i]) * g[i]
    else:
        for i in range(gs.size):
            gs[i] += f[i] * gt[i] + f_self[i] * t_self[i] * g[i]


# ---------------------------------------------------------------- the packed tape
# Tape.packed packs the tape's 17 arrays into one: Numba's dispatcher unboxes every array
# of every call (16 of them cost microseconds, a tuple of three 0.18 us more than one).
# Its 14 header entries: the 12 bounds of the 11 integer segments (op out a b c pi iw off
# size ipool cpos), the end of the floats (fp then fpool), the number of booleans (sact,
# tused and gzero per instruction, then pact), whose bytes fill the rest. Inlined: called,
# the 17 views it returns cost a sweep 0.14 us more (a call of a tape without
# instructions: 0.77 us).
@njit(**_JIT, inline="always")
def unpack(T):
    """(op, out, a, b, c, pi, fp, iw, off, size, sact, ipool, cpos, fpool, pact, tused,
    gzero)."""
    h = T[:14]
    floats = T[h[11]:h[12]].view(np.float64)
    bools = T[h[12]:].view(np.uint8)[:h[13]].view(np.bool_)
    n_instr, n_slots = h[1] - h[0], h[8] - h[7]
    return (T[h[0]:h[1]], T[h[1]:h[2]], T[h[2]:h[3]], T[h[3]:h[4]], T[h[4]:h[5]],
            T[h[5]:h[6]], floats[:n_instr], T[h[6]:h[7]], T[h[7]:h[8]], T[h[8]:h[9]],
            bools[:n_slots], T[h[9]:h[10]], T[h[10]:h[11]], floats[n_instr:],
            bools[n_slots + 2 * n_instr:], bools[n_slots:n_slots + n_instr],
            bools[n_slots + n_instr:n_slots + 2 * n_instr])


# ---------------------------------------------------------------- forward
# A few elements through the commonest ops, as scalars: a recursion in Python (a filter,
# a GARCH likelihood) makes thousands of them, and on one element the array rules'
# slices, tiles and scratch rows took two thirds of an arithmetic op's 20 ns, 50 of a
# log's 70. Up to SCALAR_MAX elements the scalar rules loop over them (a 2-state Kalman
# filter's 2- and 4-element ops: gradient 0.80 -> 0.51 ms); one element is a branch of
# its own in each sweep (the loop's bookkeeping had cost a GARCH gradient 30%).
SCALAR_MAX = 8


@njit(**_HELPER)
def _strides(o, size_x, size_w, n):
    """(dx, dw): 1 for a whole operand of an elementwise op on n elements, 0 for a
    broadcast one (a unary op's w: 0)."""
    return (1 if size_x == n else 0), (1 if o >= UNARY_END and size_w == n else 0)


@njit(**_HELPER)
def _scalar_op(o):
    """Has `o` a scalar rule below (the linear ops, MUL, DIV, SQUARE, RECIP, EXP, LOG,
    SQRT, TANH)?"""
    return _linear(o) or o == MUL or o == DIV or o == SQUARE or o == RECIP or o == EXP \
        or o == LOG or o == SQRT or o == TANH


@njit(**_HELPER)
def _scalar_value(o, x, w, p):
    """y of a scalar-rule op on one element: x its (first) operand, w the second of a
    binary op, p the parameter of a unary one (the formulas of unary_values and
    binary_values)."""
    if o == ADD:
        return x + w
    if o == SUB:
        return x - w
    if o == MUL:
        return x * w
    if o == DIV:
        return x / w
    if o == NEG:
        return -x
    if o == ADDC:
        return x + p
    if o == MULC:
        return x * p
    if o == RSUBC:
        return p - x
    if o == DIVC:
        return x / p
    if o == SQUARE:
        return x * x
    if o == RECIP:
        return 1.0 / x
    if o == EXP:
        return _exp(x)
    if o == LOG:
        return _log(x)
    if o == SQRT:
        return np.sqrt(x)
    return _tanh(x)


@njit(**_HELPER)
def _scalar_rule(o, x, w, y, p):
    """(dy/dx, dy/dw, d2y/dx2, d2y/dxdw, d2y/dw2) of a scalar-rule op on one element, as
    unary_derivs and binary_derivs have them (a unary op's w terms are 0)."""
    if o == MUL:
        return w, x, 0.0, 1.0, 0.0
    if o == DIV:
        r = 1.0 / w
        return r, -y * r, 0.0, -r * r, 2.0 * y * r * r
    if o == SQUARE:
        return 2.0 * x, 0.0, 2.0, 0.0, 0.0
    if o == RECIP:
        return -y * y, 0.0, 2.0 * y * y * y, 0.0, 0.0
    if o == EXP:
        return y, 0.0, y, 0.0, 0.0
    if o == LOG:
        d = 1.0 / x
        return d, 0.0, -d * d, 0.0, 0.0
    if o == SQRT:
        return 0.5 / y, 0.0, -0.25 / (y * y * y), 0.0, 0.0
    if o == TANH:
        d = 1.0 - y * y
        return d, 0.0, -2.0 * y * d, 0.0, 0.0
    if o < UNARY_END:
        return _slope(o, p), 0.0, 0.0, 0.0, 0.0
    return 1.0, -1.0 if o == SUB else 1.0, 0.0, 0.0, 0.0


@njit(**_JIT)
def forward(T, vals, ivals, constants, t0, t1):
    """Values of every slot; also the value-dependent index maps (argmax, sort order).
    Instructions t0 <= t < t1 only (ALL: to the end; fusion.py runs the rest); with
    constants, the tape's constants first (a buffer used before holds them already)."""
    T, vals, ivals = _borrowed(T), _borrowed(vals), _borrowed(ivals)
    (op, out, a, b, c, pi, fp, iw, off, size, sact, ipool, cpos, fpool, pact, tused,
     gzero) = unpack(T)
    if constants:
        for i in range(cpos.size):
            vals[cpos[i]] = fpool[i]
    scr = _scratch(8, TILE)
    for t in range(t0, min(t1, op.size)):
        o = op[t]
        yo = off[out[t]]
        n = size[out[t]]
        if n == 1 and _scalar_op(o):
            vals[yo] = _scalar_value(o, vals[off[a[t]]], vals[off[b[t]]] if o >= UNARY_END
                                     else 0.0, fp[t])
        elif n <= SCALAR_MAX and _scalar_op(o):
            xo, wo = off[a[t]], off[b[t]] if o >= UNARY_END else -1
            dx, dw = _strides(o, size[a[t]], size[b[t]], n)
            for i in range(n):
                vals[yo + i] = _scalar_value(o, vals[xo + i * dx], vals[wo + i * dw]
                                             if wo >= 0 else 0.0, fp[t])
        elif o < UNARY_END:
            xo = off[a[t]]
            unary_values(o, vals[xo:xo + n], vals[yo:yo + n], fp[t])
        elif o < BINARY_END:
            ao, bo = off[a[t]], off[b[t]]
            full_a, full_b = size[a[t]] == n, size[b[t]] == n
            for s in range(0, n, TILE):
                m = min(TILE, n - s)
                binary_values(o, _operand(vals, ao, full_a, s, m, scr[0]),
                              _operand(vals, bo, full_b, s, m, scr[1]),
                              vals[yo + s:yo + s + m])
        elif o == WHERE:
            _where(vals, vals, ONE, off[a[t]], off[b[t]], off[c[t]], yo, n, size[a[t]] == n,
                   size[b[t]] == n, size[c[t]] == n)
        elif o == GATHER:
            _gather(vals, ONE, ipool, pi[t], ZERO, yo, n)
        elif o == SCATTER:
            vals[yo:yo + n] = 0.0
            _scatter_add(vals, ONE, ipool, pi[t], off[a[t]], size[a[t]], yo)
        elif o == SUMALL:
            vals[yo] = _sum(vals[off[a[t]]:off[a[t]] + size[a[t]]])
        elif PRODUCTS and o == MATMUL:
            va, ao, vb, bo = _sources(vals, ivals, ipool, pi[t], off[a[t]], off[b[t]])
            _matmul_forward(va, vb, vals, ipool, pi[t], ao, bo, yo)
        elif LINALG and o == INV:
            _inv_forward(vals, ipool, pi[t], off[a[t]], yo)
        elif LINALG and (o == LOGABSDET or o == SIGNDET):
            _slogdet_forward(vals, ipool, pi[t], off[a[t]], yo, o == SIGNDET)
        elif LINALG and o == CHOL:
            _chol_forward(vals, ipool, pi[t], off[a[t]], yo)
        elif LINALG and o == LU:
            _lu_forward(vals, ipool, pi[t], off[a[t]], yo)
        elif LINALG and o == SOLVE:
            _solve_forward(vals, ipool, pi[t], off[b[t]], off[c[t]], yo)
        elif LINALG and o == LAPACK:
            _lapack_forward(vals, ipool, pi[t], off[a[t]], yo, fp[t])
        elif o == MAXRED or o == MINRED:
            _extreme_forward(vals, ivals, ipool, pi[t], iw[t], off[a[t]], size[a[t]], yo, n,
                             o == MAXRED)
        elif o == SORT:
            _sort_forward(vals, ivals, off[a[t]], yo, iw[t], n, ipool[pi[t]])


@njit(**_HELPER)
def _sort_forward(vals, ivals, xo, yo, w, n, L):
    """Each row of L elements of [xo, xo + n) sorted into [yo, yo + n), and the order
    (indices into the operand) into ivals[w:w + n]: a bottom-up merge sort, stable and
    NaNs last, as NumPy's np.sort and np.argsort(kind="stable") (Numba's np.argsort
    took a second of a cold compile)."""
    perm, other = np.empty(L, np.int64), np.empty(L, np.int64)
    for r in range(n // L):
        x = vals[xo + r * L:xo + (r + 1) * L]
        for i in range(L):
            perm[i] = i
        width = 1
        while width < L:
            for lo in range(0, L, 2 * width):
                mid, hi = min(lo + width, L), min(lo + 2 * width, L)
                i, j = lo, mid
                for q in range(lo, hi):     # the right one first only if strictly before
                    if j < hi and (i >= mid or x[perm[j]] < x[perm[i]] or (
                            x[perm[i]] != x[perm[i]] and x[perm[j]] == x[perm[j]])):
                        other[q] = perm[j]
                        j += 1
                    else:
                        other[q] = perm[i]
                        i += 1
            perm, other = other, perm
            width *= 2
        for i in range(L):
            ivals[w + r * L + i] = r * L + perm[i]
            vals[yo + r * L + i] = x[perm[i]]


@njit(**_HELPER)
def _sources(vals, ivals, ipool, q, ao, bo):
    """(va, ao, vb, bo): where the product at ipool[q:]'s operands hold their values, an
    array and the offset in it: vals, or a parameter read where the caller keeps it (its
    address, offset in vals and size at ivals[w:w + 3], w = ipool[q + 4] for the left
    operand, ipool[q + 5] for the right; Tape.run_forward). A parameter is never active,
    so its tangents and cotangents, at its offset in vals, are never read."""
    w = ipool[q + 4]
    va, ao = (vals, ao) if w < 0 else (
        _at_address(vals, ivals[w], ivals[w + 2]), ao - ivals[w + 1])
    w = ipool[q + 5]
    vb, bo = (vals, bo) if w < 0 else (
        _at_address(vals, ivals[w], ivals[w + 2]), bo - ivals[w + 1])
    return va, ao, vb, bo


@njit(**_HELPER)
def _matmul_forward(va, vb, vals, ipool, q, ao, bo, co):
    nb, m, p, r = ipool[q], ipool[q + 1], ipool[q + 2], ipool[q + 3]
    if m * p * r <= SMALL_PRODUCT:
        for s in range(nb):
            a, b, c = ao + s * m * p, bo + s * p * r, co + s * m * r
            for i in range(m):
                for j in range(r):
                    acc = 0.0
                    for l in range(p):
                        acc += va[a + i * p + l] * vb[b + l * r + j]
                    vals[c + i * r + j] = acc
        return
    for s in range(nb):
        A = va[ao + s * m * p:ao + (s + 1) * m * p].reshape((m, p))
        B = vb[bo + s * p * r:bo + (s + 1) * p * r].reshape((p, r))
        _copy(vals[co + s * m * r:co + (s + 1) * m * r], np.dot(A, B).ravel())


# A product of at most this many multiply-adds a direction is plain loops in every sweep:
# BLAS's call, Numba's np.dot (which allocates its result) and the sparse-tangent scan
# cost microseconds for a Kalman filter's 2 x 2 matrices (its forward sweep 608 -> 221 us)
SMALL_PRODUCT = 64


@njit(**_HELPER)
def _small_matmul_tangent(va, vb, tans, k, nb, m, p, r, ao, bo, co, act_a, act_b):
    """dC = dA B + A dB over k directions, zero tangents skipped (an infinite factor
    meets them as the sparse-tangent loops do: not at all)."""
    for s in range(nb):
        a, b, c = ao + s * m * p, bo + s * p * r, co + s * m * r
        for i in range(m):
            for cc in range(r):
                y = (c + i * r + cc) * k
                for j in range(k):
                    acc = 0.0
                    for l in range(p):
                        if act_a:
                            t = tans[U((a + i * p + l) * k + j)]
                            if t != 0.0:
                                acc += t * vb[b + l * r + cc]
                        if act_b:
                            t = tans[U((b + l * r + cc) * k + j)]
                            if t != 0.0:
                                acc += va[a + i * p + l] * t
                    tans[U(y + j)] = acc


@njit(**_HELPER)
def _small_matmul_adjoint(va, vb, adj, k, nb, m, p, r, ao, bo, co, act_a, act_b, lo):
    """aA += aC B^T, aB += A^T aC over k cotangents, positions below lo left out."""
    for s in range(nb):
        a, b, c = ao + s * m * p, bo + s * p * r, co + s * m * r
        for i in range(m):
            for l in range(p):
                pa = a + i * p + l
                for cc in range(r):
                    pb, pc = b + l * r + cc, c + i * r + cc
                    for j in range(k):
                        g = adj[U(pc * k + j)]
                        if act_a and pa >= lo:
                            adj[U(pa * k + j)] += g * vb[pb]
                        if act_b and pb >= lo:
                            adj[U(pb * k + j)] += va[pa] * g


@njit(**_HELPER)
def _small_matmul_cross(tans, adj, adjt, k, nb, m, p, r, ao, bo, co):
    """d(aA) += aC dB^T, d(aB) += dA^T aC over k directions (aC the one cotangent)."""
    for s in range(nb):
        a, b, c = ao + s * m * p, bo + s * p * r, co + s * m * r
        for i in range(m):
            for l in range(p):
                pa = a + i * p + l
                for cc in range(r):
                    pb, g = b + l * r + cc, adj[c + i * r + cc]
                    for j in range(k):
                        adjt[U(pa * k + j)] += g * tans[U(pb * k + j)]
                        adjt[U(pb * k + j)] += tans[U(pa * k + j)] * g


@njit(**_HELPER)
def _extreme_forward(vals, ivals, ipool, q, w, xo, nx, yo, ny, is_max):
    for g in range(ny):
        ivals[w + g] = -1
    for i in range(nx):
        g = ipool[q + i]
        v = vals[xo + i]
        j = ivals[w + g]
        if j < 0:
            better = True
        else:
            cur = vals[xo + j]
            if np.isnan(cur):
                better = False
            elif np.isnan(v):
                better = True
            else:
                better = v > cur if is_max else v < cur
        if better:
            ivals[w + g] = i
    for g in range(ny):
        vals[yo + g] = vals[xo + ivals[w + g]]


# ---------------------------------------------------------------- tangent (k directions)
@njit(**_JIT)
def tangent(T, vals, ivals, tans, k, every, t0, t1):
    """Push k tangent directions forward. Tangents of inactive slots must be zero on entry.
    every=False (a Hessian's sweep) skips the instructions whose tangents no second-order
    rule reads (tused), and leaves theirs as they were."""
    T, vals, ivals, tans = _borrowed(T), _borrowed(vals), _borrowed(ivals), _borrowed(tans)
    (op, out, a, b, c, pi, fp, iw, off, size, sact, ipool, cpos, fpool, pact, tused,
     gzero) = unpack(T)
    scr = _scratch(8, TILE)
    for t in range(t0, min(t1, op.size)):
        y = out[t]
        if not sact[y] or not (every or tused[t]):
            continue
        o = op[t]
        yo = off[y]
        n = size[y]
        if n == 1 and _scalar_op(o):
            _scalar_tangent(vals, tans, k, o, fp[t], off[a[t]], off[b[t]] if o >= UNARY_END
                            else -1, yo, sact[a[t]], o >= UNARY_END and sact[b[t]])
        elif n <= SCALAR_MAX and _scalar_op(o):
            xo, wo = off[a[t]], off[b[t]] if o >= UNARY_END else -1
            dx, dw = _strides(o, size[a[t]], size[b[t]], n)
            for i in range(n):
                _scalar_tangent(vals, tans, k, o, fp[t], xo + i * dx, wo + i * dw if wo >= 0
                                else -1, yo + i, sact[a[t]], wo >= 0 and sact[b[t]])
        elif o < UNARY_END:
            _unary_tangent(vals, tans, k, o, fp[t], off[a[t]], yo, n, scr)
        elif o < BINARY_END:
            _binary_tangent(vals, tans, k, o, off[a[t]], off[b[t]], yo, n,
                            1 if size[a[t]] == n else 0, 1 if size[b[t]] == n else 0,
                            sact[a[t]], sact[b[t]], scr)
        elif o == WHERE:
            _where(vals, tans, k, off[a[t]], off[b[t]], off[c[t]], yo, n, size[a[t]] == n,
                   size[b[t]] == n, size[c[t]] == n)
        elif o == GATHER:
            _gather(tans, k, ipool, pi[t], ZERO, yo, n)
        elif o == SCATTER:
            tans[yo * k:(yo + n) * k] = 0.0
            _scatter_add(tans, k, ipool, pi[t], off[a[t]], size[a[t]], yo)
        elif o == SUMALL:
            xo, nx = off[a[t]], size[a[t]]
            if k == 1:
                tans[yo] = _sum(tans[xo:xo + nx])
            else:       # row by row: the k sums advance side by side, not one after another
                ty = tans[yo * k:(yo + 1) * k]
                for j in range(k):
                    ty[j] = 0.0
                for i in range(nx):
                    r = (xo + i) * k
                    for j in range(k):
                        ty[j] += tans[U(r + j)]
        elif PRODUCTS and o == MATMUL:
            va, ao, vb, bo = _sources(vals, ivals, ipool, pi[t], off[a[t]], off[b[t]])
            _matmul_tangent(va, vb, tans, k, ipool, pi[t], ao, bo, yo, sact[a[t]], sact[b[t]])
        elif LINALG and o == INV:
            _inv_tangent(vals, tans, k, ipool, pi[t], off[a[t]], yo)
        elif LINALG and o == LOGABSDET:
            _logdet_tangent(vals, tans, k, ipool, pi[t], off[a[t]], yo)
        elif LINALG and o == CHOL:
            _chol_tangent(vals, tans, k, ipool, pi[t], off[a[t]], yo)
        elif LINALG and o == SOLVE:
            _solve_tangent(vals, tans, k, ipool, pi[t], off[a[t]], off[b[t]], off[c[t]], yo,
                           sact[a[t]], sact[b[t]])
        else:  # MAXRED, MINRED, SORT: a gather through the forward sweep's index map
            _gather(tans, k, ivals, iw[t], off[a[t]], yo, n)


# The index ops move k values per element; with one direction (hvp, grad, jvp) they loop
# without the inner loop over directions, which ran a 3267-element gather 2.3x slower.
@njit(**_HELPER)
def _gather(buf, k, idx, q, base, yo, n):
    """buf[yo + i] = buf[base + idx[q + i]] for i < n, k values each."""
    if k == 1:
        for i in range(n):
            buf[U(yo + i)] = buf[U(base + idx[U(q + i)])]
        return
    for i in range(n):
        src = base + idx[U(q + i)]
        for j in range(k):
            buf[U((yo + i) * k + j)] = buf[U(src * k + j)]


@njit(**_HELPER)
def _scatter_add(buf, k, idx, q, xo, nx, yo):
    """buf[yo + idx[q + i]] += buf[xo + i] for i < nx, k values each. With one value, a
    run of equal targets (a sum over trailing axes) adds in a register, in the same order:
    a store and a load per element wait on each other (a sum over the last axis of
    332,667 elements: 151 -> 88 us)."""
    if k == 1:
        if nx == 0:
            return
        cur = idx[q]
        acc = buf[U(yo + cur)]
        for i in range(nx):
            dst = idx[U(q + i)]
            if dst != cur:
                buf[U(yo + cur)] = acc
                cur = dst
                acc = buf[U(yo + cur)]
            acc += buf[U(xo + i)]
        buf[U(yo + cur)] = acc
        return
    for i in range(nx):
        dst = yo + idx[U(q + i)]
        for j in range(k):
            buf[U(dst * k + j)] += buf[U((xo + i) * k + j)]


@njit(**_HELPER)
def _gather_add(buf, k, idx, q, yo, xo, nx):
    """buf[xo + i] += buf[yo + idx[q + i]] for i < nx, k values each (a SCATTER's
    cotangents pulled back)."""
    if k == 1:
        for i in range(nx):
            buf[U(xo + i)] += buf[U(yo + idx[U(q + i)])]
        return
    for i in range(nx):
        src = yo + idx[U(q + i)]
        for j in range(k):
            buf[U((xo + i) * k + j)] += buf[U(src * k + j)]


@njit(**_HELPER)
def _sum(x):
    """sum(x) with eight running sums, as NumPy's sum keeps: one would chain every add
    (at n = 1000, 0.78 us against 0.16)."""
    n = x.size
    m = n - n % 8
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    for i in range(0, m, 8):
        s0 += x[i]
        s1 += x[i + 1]
        s2 += x[i + 2]
        s3 += x[i + 3]
        s4 += x[i + 4]
        s5 += x[i + 5]
        s6 += x[i + 6]
        s7 += x[i + 7]
    for i in range(m, n):
        s0 += x[i]
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@njit(**_HELPER)
def _spread(buf, k, xo, n, yo):
    """buf[xo + i] += buf[yo] for i < n, k values each: a sum's cotangents pulled back
    (Numba's slice += a scalar ran 7x slower than the loop)."""
    if k == 1:
        g, x = buf[yo], buf[xo:xo + n]
        for i in range(n):
            x[i] += g
        return
    for i in range(n):
        for j in range(k):
            buf[U((xo + i) * k + j)] += buf[U(yo * k + j)]


# Seeded directions are unit columns (or colour groups of them), so the first product an
# input meets often has a tangent with a few non-zeros per direction: A @ dB is then a
# sum of A's columns, far cheaper than BLAS's full product. SPARSE_TANGENT is the
# density below which the columns are summed (BLAS does about 16 scalar loops' work).
SPARSE_TANGENT = 1.0 / 16.0


@njit(**_HELPER)
def _nonzeros(X):
    c = 0
    for v in X.ravel():
        if v != 0.0:
            c += 1
    return c


@njit(**_HELPER)
def _sparse_entries(X, cap, rows, cols, vs):
    """X's non-zeros, row by row, into rows, cols and vs; returns their number, or -1
    past cap of them. A row is counted first, in a loop that vectorizes, so rows of
    zeros (most of an input's under unit seeds) cost no branch an element."""
    nz = 0
    for i in range(X.shape[0]):
        row = X[i]
        c = 0
        for v in row:
            c += v != 0.0
        if c == 0:
            continue
        if nz + c > cap:
            return -1
        for e in range(row.size):
            if row[e] != 0.0:
                rows[nz], cols[nz], vs[nz] = i, e, row[e]
                nz += 1
    return nz


@njit(**_HELPER)
def _sparse_product(A, rows, cols, vs, nz, C):
    """C += A @ S for the sparse S of the nz entries (rows, cols, vs), row by row of A
    and C (column by column strides through both). Unit entries along a diagonal (a
    vector input's seeded basis directions) are a slice of A's row: a copy."""
    if nz == 0:
        return
    r0, c0 = rows[0], cols[0]
    diagonal = True
    for e in range(nz):
        if rows[e] != r0 + e or cols[e] != c0 + e or vs[e] != 1.0:
            diagonal = False
            break
    for l in range(A.shape[0]):
        if diagonal:      # (an element loop: Numba's slice += is a slower ufunc call)
            for e in range(nz):
                C[l, U(c0 + e)] += A[l, U(r0 + e)]
        else:
            for e in range(nz):
                C[l, cols[e]] += vs[e] * A[l, rows[e]]


# Below this many entries of M, _blocks_product loops instead of calling BLAS; with one
# direction, past this many multiply-adds in all it calls BLAS once (a tanh network's
# (200, 50) @ (50, 1) product, HVP: tangent 27 -> 6 us, second-order adjoint 51 -> 17).
SMALL_FACTOR = 64
SMALL_WORK = 4096


@njit(**_HELPER)
def _blocks_product(M, X, out):
    """out[i] += M @ X[i] for every block i of X (m, v, k) and out (m, u, k): one BLAS
    product with X's blocks side by side, or loops for a small M. (A BLAS call per block,
    an allocation each, made a 10-weight tanh network's HVP 100 us: 200 blocks.)"""
    m, v, k = X.shape
    u = M.shape[0]
    if k == 1 and m * u * v > SMALL_WORK:     # one direction: X's blocks are its rows
        P = np.dot(X.reshape((m, v)), M.T)
        for i in range(m):
            for a in range(u):
                out[i, a, 0] += P[i, a]
        return
    if u * v <= SMALL_FACTOR or m == 0:
        for i in range(m):
            for a in range(u):
                for b in range(v):
                    w = M[a, b]
                    for j in range(k):
                        out[i, a, j] += w * X[i, b, j]
        return
    # element loops, not per-row slice ops (Numba's slice += runs its slower ufunc loop)
    Xs = np.empty((v, m, k))
    for i in range(m):
        for b in range(v):
            for j in range(k):
                Xs[b, i, j] = X[i, b, j]
    P = np.dot(M, Xs.reshape((v, m * k))).reshape((u, m, k))
    for i in range(m):
        for a in range(u):
            for j in range(k):
                out[i, a, j] += P[a, i, j]


@njit(**_HELPER)
def _matmul_tangent(va, vb, tans, k, ipool, q, ao, bo, co, act_a, act_b):
    nb, m, p, r = ipool[q], ipool[q + 1], ipool[q + 2], ipool[q + 3]
    if m * p * r <= SMALL_PRODUCT:
        _small_matmul_tangent(va, vb, tans, k, nb, m, p, r, ao, bo, co, act_a, act_b)
        return
    cap = int(SPARSE_TANGENT * p * r * k) if act_b else 0    # dB's non-zeros, any block
    rows, cols, vs = np.empty(cap, np.int64), np.empty(cap, np.int64), np.empty(cap)
    for s in range(nb):
        A = va[ao + s * m * p:ao + (s + 1) * m * p].reshape((m, p))
        B = vb[bo + s * p * r:bo + (s + 1) * p * r].reshape((p, r))
        c0 = (co + s * m * r) * k
        dC = tans[c0:c0 + m * r * k].reshape((m, r * k))
        dC[:, :] = 0.0
        if act_b:
            b0 = (bo + s * p * r) * k
            dB = tans[b0:b0 + p * r * k].reshape((p, r * k))
            nz = _sparse_entries(dB, cap, rows, cols, vs)
            if nz >= 0:
                _sparse_product(A, rows, cols, vs, nz, dC)
            else:
                _copy(tans[c0:c0 + m * r * k], np.dot(A, dB).ravel())
        if act_a:
            a0 = (ao + s * m * p) * k
            dA = tans[a0:a0 + m * p * k].reshape((m, p, k))
            if _nonzeros(dA) < SPARSE_TANGENT * m * p * k:
                dC3 = dC.reshape((m, r, k))
                for i in range(m):
                    for l in range(p):
                        for j in range(k):
                            v = dA[i, l, j]
                            if v != 0.0:
                                for c in range(r):
                                    dC3[i, c, j] += v * B[l, c]
            else:
                _blocks_product(B.T, dA, dC.reshape((m, r, k)))


# ---------------------------------------------------------------- adjoint (k cotangents)
@njit(**_JIT)
def adjoint(T, vals, ivals, adj, k, keep, g, t0, t1):
    """Pull k cotangents back; adj holds the output cotangents on entry and zeros at every
    other active slot. Each instruction clears its result's cotangents once it has pulled
    them back, so on exit adj is zero again at active slots except the inputs, and a
    workspace is reused without clearing it whole; with keep, every active slot keeps its
    cotangent (the support sweeps read them). A gradient (k = 1) passes g, of the inputs'
    size, to take their cotangents, which are then cleared too (in NumPy, the copy and the
    clearing cost 0.4 us a call); others pass an empty g. Instructions t0 <= t < t1 only,
    as in forward."""
    T, vals, ivals = _borrowed(T), _borrowed(vals), _borrowed(ivals)
    adj, g = _borrowed(adj), _borrowed(g)
    (op, out, a, b, c, pi, fp, iw, off, size, sact, ipool, cpos, fpool, pact, tused,
     gzero) = unpack(T)
    scr = _scratch(8, TILE)
    for t in range(min(t1, op.size) - 1, t0 - 1, -1):
        y = out[t]
        if not sact[y]:
            continue
        o = op[t]
        yo = off[y]
        n = size[y]
        if n == 1 and k == 1 and _scalar_op(o):
            _scalar_adjoint(vals, adj, o, fp[t], off[a[t]], off[b[t]] if o >= UNARY_END
                            else -1, yo, sact[a[t]], o >= UNARY_END and sact[b[t]], keep)
        elif n <= SCALAR_MAX and k == 1 and _scalar_op(o):
            xo, wo = off[a[t]], off[b[t]] if o >= UNARY_END else -1
            dx, dw = _strides(o, size[a[t]], size[b[t]], n)
            for i in range(n):
                _scalar_adjoint(vals, adj, o, fp[t], xo + i * dx, wo + i * dw if wo >= 0
                                else -1, yo + i, sact[a[t]], wo >= 0 and sact[b[t]], keep)
        elif o < UNARY_END:
            _unary_adjoint(vals, adj, k, o, fp[t], off[a[t]], yo, n, scr, keep)
        elif o < BINARY_END:
            _binary_adjoint(vals, adj, k, o, off[a[t]], off[b[t]], yo, n,
                            1 if size[a[t]] == n else 0, 1 if size[b[t]] == n else 0,
                            sact[a[t]], sact[b[t]], scr, keep)
        elif o == WHERE:
            _where_adjoint(vals, adj, k, off[a[t]], off[b[t]], off[c[t]], yo, n,
                           size[a[t]] == n, size[b[t]] == n, size[c[t]] == n, sact[a[t]],
                           sact[b[t]])
        elif o == GATHER:
            _gather_adjoint(adj, k, ipool, pi[t], ZERO, yo, n, pact)
        elif o == SCATTER:
            _gather_add(adj, k, ipool, pi[t], yo, off[a[t]], size[a[t]])
        elif o == SUMALL:
            _spread(adj, k, off[a[t]], size[a[t]], yo)
        elif PRODUCTS and o == MATMUL:
            va, ao, vb, bo = _sources(vals, ivals, ipool, pi[t], off[a[t]], off[b[t]])
            _matmul_adjoint(va, vb, adj, k, ipool, pi[t], ao, bo, yo, sact[a[t]], sact[b[t]],
                            ZERO)
        elif LINALG and o == INV:
            _inv_adjoint(vals, adj, k, ipool, pi[t], off[a[t]], yo)
        elif LINALG and o == LOGABSDET:
            _logdet_adjoint(vals, adj, k, ipool, pi[t], off[a[t]], yo)
        elif LINALG and o == CHOL:
            _chol_adjoint(vals, adj, k, ipool, pi[t], off[a[t]], yo)
        elif LINALG and o == SOLVE:
            _solve_adjoint(vals, adj, k, ipool, pi[t], off[a[t]], off[b[t]], off[c[t]], yo,
                           sact[a[t]], sact[b[t]])
        else:  # MAXRED, MINRED, SORT
            _gather_adjoint(adj, k, ivals, iw[t], off[a[t]], yo, n, pact)
        if o >= BINARY_END and not keep:     # the elementwise rules clear as they go
            adj[yo * k:(yo + n) * k] = 0.0
    for i in range(g.size):
        g[i] = adj[i]
        adj[i] = 0.0


@njit(**_HELPER)
def _scalar_adjoint(vals, adj, o, p, xo, wo, yo, act_x, act_w, keep):
    """One cotangent through a scalar-rule op on one element (operands at xo and, if
    binary, wo), in _binary_pull_1's order."""
    g = adj[yo]
    if not keep:
        adj[yo] = 0.0
    fx, fw, _, _, _ = _scalar_rule(o, vals[xo], vals[wo] if wo >= 0 else 0.0, vals[yo], p)
    if act_x:
        adj[xo] += fx * g
    if act_w:
        adj[wo] += fw * g


@njit(**_HELPER)
def _scalar_tangent(vals, tans, k, o, p, xo, wo, yo, act_x, act_w):
    """k tangents through a scalar-rule op on one element (an inactive operand's term
    left out, as in _binary_tangent)."""
    fx, fw, _, _, _ = _scalar_rule(o, vals[xo], vals[wo] if wo >= 0 else 0.0, vals[yo], p)
    x, w, y = xo * k, wo * k, yo * k
    for j in range(k):
        if act_x and act_w:
            tans[U(y + j)] = fx * tans[U(x + j)] + fw * tans[U(w + j)]
        elif act_x:
            tans[U(y + j)] = fx * tans[U(x + j)]
        else:
            tans[U(y + j)] = fw * tans[U(w + j)]


@njit(**_HELPER)
def _scalar_adjoint_tangent(vals, tans, adj, adjt, k, o, p, xo, wo, yo, act_x, act_w, gz):
    """The cotangent and its k tangents through a scalar-rule op on one element, as
    _binary_adjoint_tangent's loop over k directions computes them."""
    fx, fw, fxx, fxw, fww = _scalar_rule(o, vals[xo], vals[wo] if wo >= 0 else 0.0,
                                         vals[yo], p)
    g = adj[yo]
    adj[yo] = 0.0
    if act_x:
        adj[xo] += fx * g
    if act_w:
        adj[wo] += fw * g
    x, w, y = xo * k, wo * k, yo * k
    if _linear(o):      # (reads no tangent: Tape.tused leaves them unswept)
        if not gz:
            for j in range(k):
                gt = adjt[U(y + j)]
                adjt[U(y + j)] = 0.0
                if act_x:
                    adjt[U(x + j)] += fx * gt
                if act_w:
                    adjt[U(w + j)] += fw * gt
        return
    if gz:      # fx and fw would only meet adjt[y]'s zeros (an infinite one: NaN)
        fx = fw = 0.0
    pxx, pxw, pww = fxx * g, fxw * g, fww * g
    for j in range(k):
        gt = adjt[U(y + j)]
        adjt[U(y + j)] = 0.0
        if act_x and act_w:
            tx, tw = tans[U(x + j)], tans[U(w + j)]
            adjt[U(x + j)] += fx * gt + pxx * tx + pxw * tw
            adjt[U(w + j)] += fw * gt + pxw * tx + pww * tw
        elif act_x:
            adjt[U(x + j)] += fx * gt + pxx * tans[U(x + j)]
        else:
            adjt[U(w + j)] += fw * gt + pww * tans[U(w + j)]


@njit(**_HELPER)
def _gather_adjoint(adj, k, idx, q, base, yo, n, pact):
    # constant sources (zero fill, constants in a concatenation) take no cotangent
    if k == 1:
        for i in range(n):
            dst = U(base + idx[U(q + i)])
            if pact[dst]:
                adj[dst] += adj[U(yo + i)]
        return
    for i in range(n):
        dst = base + idx[U(q + i)]
        if pact[U(dst)]:
            for j in range(k):
                adj[U(dst * k + j)] += adj[U((yo + i) * k + j)]


@njit(**_HELPER)
def _where_adjoint(vals, adj, k, ao, bo, co, yo, n, fa, fb, fc, act_a, act_b):
    da = 1 if fa else 0
    db = 1 if fb else 0
    dc = 1 if fc else 0
    for i in range(n):
        take_a = vals[U(co + i * dc)] != 0.0
        if take_a and not act_a or not take_a and not act_b:
            continue
        dst = ao + i * da if take_a else bo + i * db
        if k == 1:
            adj[U(dst)] += adj[U(yo + i)]
            continue
        for j in range(k):
            adj[U(dst * k + j)] += adj[U((yo + i) * k + j)]


@njit(**_HELPER)
def _where(vals, buf, k, ao, bo, co, yo, n, fa, fb, fc):
    """buf[y] = buf[a] where vals[c] != 0, else buf[b], k values each: WHERE's values
    (buf = vals) and tangents. With one direction the loop has no inner loop (one of trip
    count 1 cost 4 ns an element)."""
    da = 1 if fa else 0
    db = 1 if fb else 0
    dc = 1 if fc else 0
    for i in range(n):
        src = ao + i * da if vals[U(co + i * dc)] != 0.0 else bo + i * db
        if k == 1:
            buf[U(yo + i)] = buf[U(src)]
            continue
        for j in range(k):
            buf[U((yo + i) * k + j)] = buf[U(src * k + j)]


@njit(**_HELPER)
def _matmul_adjoint(va, vb, adj, k, ipool, q, ao, bo, co, act_a, act_b, lo):
    """aA += aC @ B^T and aB += A^T @ aC, for k cotangents; the rows of an operand at
    positions all below lo are left out (cotangents of inputs that no one reads)."""
    nb, m, p, r = ipool[q], ipool[q + 1], ipool[q + 2], ipool[q + 3]
    if m * p * r <= SMALL_PRODUCT:
        _small_matmul_adjoint(va, vb, adj, k, nb, m, p, r, ao, bo, co, act_a, act_b, lo)
        return
    for s in range(nb):
        B = vb[bo + s * p * r:bo + (s + 1) * p * r].reshape((p, r))
        c0 = (co + s * m * r) * k
        aC = adj[c0:c0 + m * r * k].reshape((m, r * k))
        if act_b:
            i0 = _first_row(bo + s * p * r, r, p, lo)
            if i0 < p:
                b0 = (bo + s * p * r + i0 * r) * k
                _add_at_x(adj[b0:b0 + (p - i0) * r * k].reshape((p - i0, r * k)),
                          va, ao + s * m * p + i0, p, aC)
        if act_a and m == 1:    # a row vector: its columns are its positions
            j0 = _first_row(ao + s * p, 1, p, lo)
            a0 = (ao + s * p + j0) * k
            _blocks_product(B[j0:], aC.reshape((1, r, k)),
                            adj[a0:a0 + (p - j0) * k].reshape((1, p - j0, k)))
        elif act_a:
            i0 = _first_row(ao + s * m * p, p, m, lo)
            a0 = (ao + s * m * p + i0 * p) * k
            _blocks_product(B, adj[c0 + i0 * r * k:c0 + m * r * k].reshape((m - i0, r, k)),
                            adj[a0:a0 + (m - i0) * p * k].reshape((m - i0, p, k)))


@njit(**_HELPER)
def _add_at_x(C, v, a0, lda, X):
    """C += A^T @ X, all row-major, for the (len(X), len(C)) block A of v's elements from
    a0 on, its rows lda apart: one gemm (gemv for one column, as Numba's np.dot: gemm
    made a logistic regression's gradient 3.5x slower), which reads the block in place
    and adds into C (np.dot took a copy of a block of columns, then its product a pass of
    its own)."""
    (ca, rk), m = C.shape, X.shape[0]
    if ca == 0 or rk == 0 or m == 0:
        return
    # column-major, C^T += X^T A: X^T is X's memory as it is, A's block transposed
    dims = np.array([rk, ca, m, lda, 1], np.int32)
    trans = np.array([78, 84], np.uint8)        # 'N', 'T'
    one = np.ones(1)
    if rk == 1:         # C += A^T x: A's block, column-major, is A^T
        gemv(trans.ctypes, dims[1:].ctypes, dims[2:].ctypes, one.ctypes, v[a0:].ctypes,
             dims[3:].ctypes, X.ctypes, dims[4:].ctypes, one.ctypes, C.ctypes,
             dims[4:].ctypes)
        return
    gemm(trans.ctypes, trans[1:].ctypes, dims.ctypes, dims[1:].ctypes, dims[2:].ctypes,
         one.ctypes, X.ctypes, dims.ctypes, v[a0:].ctypes, dims[3:].ctypes, one.ctypes,
         C.ctypes, dims.ctypes)


@njit(**_HELPER)
def _first_row(start, width, rows, lo):
    """The first of `rows` rows of `width` positions from `start` that reaches lo (slots
    lie wholly below the inputs' end or wholly past it, so lo <= n_in only cuts inputs)."""
    if start >= lo or width == 0:
        return 0
    return min(rows, (lo - start) // width)


# ---------------------------------------------------------------- second-order adjoint
@njit(**_JIT)
def adjoint_tangent(T, vals, ivals, tans, adj, adjt, k, n_in, lo, t0, t1):
    """The reverse sweep differentiated along k tangent directions (forward-over-reverse).

    adj (one cotangent) and adjt (its k tangents) hold the output seeds on entry and zeros
    at every other active slot; on exit adjt at the inputs from position lo on holds k
    columns of the Hessian of <adj_out, f> (rows below lo of them, and adj at the inputs,
    are partial: products leave out rows no one reads, the n_in inputs' first-order
    cotangents and, in a chunk of a symmetric Hessian, the rows above its diagonal
    block), and both are zero again at the other active slots (as in adjoint).
    The output's adjt seed is zero, so are those gzero marks (Tape.gzero): their share
    of each rule is skipped. Instructions t0 <= t < t1 only, as in forward.
    """
    T, vals, ivals = _borrowed(T), _borrowed(vals), _borrowed(ivals)
    tans, adj, adjt = _borrowed(tans), _borrowed(adj), _borrowed(adjt)
    (op, out, a, b, c, pi, fp, iw, off, size, sact, ipool, cpos, fpool, pact, tused,
     gzero) = unpack(T)
    scr = _scratch(8, TILE)
    for t in range(min(t1, op.size) - 1, t0 - 1, -1):
        y = out[t]
        if not sact[y]:
            continue
        o = op[t]
        yo = off[y]
        n = size[y]
        gz = gzero[t]       # adjt[y] is zero: only the first-order share and new terms
        if n == 1 and _scalar_op(o):
            _scalar_adjoint_tangent(vals, tans, adj, adjt, k, o, fp[t], off[a[t]],
                                    off[b[t]] if o >= UNARY_END else -1, yo, sact[a[t]],
                                    o >= UNARY_END and sact[b[t]], gz)
        elif n <= SCALAR_MAX and _scalar_op(o):
            xo, wo = off[a[t]], off[b[t]] if o >= UNARY_END else -1
            dx, dw = _strides(o, size[a[t]], size[b[t]], n)
            for i in range(n):
                _scalar_adjoint_tangent(vals, tans, adj, adjt, k, o, fp[t], xo + i * dx,
                                        wo + i * dw if wo >= 0 else -1, yo + i, sact[a[t]],
                                        wo >= 0 and sact[b[t]], gz)
        elif o < UNARY_END:
            _unary_adjoint_tangent(vals, tans, adj, adjt, k, o, fp[t], off[a[t]], yo, n, scr,
                                   gz)
        elif o < BINARY_END:
            _binary_adjoint_tangent(vals, tans, adj, adjt, k, o, off[a[t]], off[b[t]], yo, n,
                                    1 if size[a[t]] == n else 0, 1 if size[b[t]] == n else 0,
                                    sact[a[t]], sact[b[t]], scr, gz)
        elif o == WHERE:
            fa, fb, fc = size[a[t]] == n, size[b[t]] == n, size[c[t]] == n
            aa, ab = sact[a[t]], sact[b[t]]
            _where_adjoint(vals, adj, ONE, off[a[t]], off[b[t]], off[c[t]], yo, n, fa, fb, fc,
                           aa, ab)
            if not gz:
                _where_adjoint(vals, adjt, k, off[a[t]], off[b[t]], off[c[t]], yo, n, fa, fb,
                               fc, aa, ab)
        elif o == GATHER:
            _gather_adjoint(adj, ONE, ipool, pi[t], ZERO, yo, n, pact)
            if not gz:
                _gather_adjoint(adjt, k, ipool, pi[t], ZERO, yo, n, pact)
        elif o == SCATTER:
            _gather_add(adj, ONE, ipool, pi[t], yo, off[a[t]], size[a[t]])
            if not gz:
                _gather_add(adjt, k, ipool, pi[t], yo, off[a[t]], size[a[t]])
        elif o == SUMALL:
            _spread(adj, ONE, off[a[t]], size[a[t]], yo)
            if not gz:
                _spread(adjt, k, off[a[t]], size[a[t]], yo)
        elif PRODUCTS and o == MATMUL:
            va, ao, vb, bo = _sources(vals, ivals, ipool, pi[t], off[a[t]], off[b[t]])
            _matmul_adjoint(va, vb, adj, ONE, ipool, pi[t], ao, bo, yo, sact[a[t]],
                            sact[b[t]], n_in)
            if not gz:
                _matmul_adjoint(va, vb, adjt, k, ipool, pi[t], ao, bo, yo, sact[a[t]],
                                sact[b[t]], lo)
            _matmul_cross(vals, tans, adj, adjt, k, ipool, pi[t], off[a[t]], off[b[t]], yo,
                          sact[a[t]], sact[b[t]])
        elif LINALG and o == INV:
            _inv_adjoint(vals, adj, ONE, ipool, pi[t], off[a[t]], yo)
            _inv_adjoint(vals, adjt, k, ipool, pi[t], off[a[t]], yo)
            _inv_cross(vals, tans, adj, adjt, k, ipool, pi[t], off[a[t]], yo)
        elif LINALG and o == LOGABSDET:
            _logdet_adjoint_tangent(vals, tans, adj, adjt, k, ipool, pi[t], off[a[t]], yo)
        elif LINALG and o == CHOL:
            _chol_adjoint_tangent(vals, tans, adj, adjt, k, ipool, pi[t], off[a[t]], yo)
        elif LINALG and o == SOLVE:
            _solve_adjoint_tangent(vals, tans, adj, adjt, k, ipool, pi[t], off[a[t]],
                                   off[b[t]], off[c[t]], yo, sact[a[t]], sact[b[t]])
        else:  # MAXRED, MINRED, SORT
            _gather_adjoint(adj, ONE, ivals, iw[t], off[a[t]], yo, n, pact)
            if not gz:
                _gather_adjoint(adjt, k, ivals, iw[t], off[a[t]], yo, n, pact)
        if o >= BINARY_END:     # the elementwise rules clear as they go
            adj[yo:yo + n] = 0.0
            if not gz:
                adjt[yo * k:(yo + n) * k] = 0.0


@njit(**_HELPER)
def _matmul_cross(vals, tans, adj, adjt, k, ipool, q, ao, bo, co, act_a, act_b):
    """The bilinear terms: d(aA) += aC @ dB^T and d(aB) += dA^T @ aC."""
    nb, m, p, r = ipool[q], ipool[q + 1], ipool[q + 2], ipool[q + 3]
    if m * p * r <= SMALL_PRODUCT and act_a and act_b:
        _small_matmul_cross(tans, adj, adjt, k, nb, m, p, r, ao, bo, co)
        return
    for s in range(nb):
        aC = adj[co + s * m * r:co + (s + 1) * m * r].reshape((m, r))
        a0 = (ao + s * m * p) * k
        b0 = (bo + s * p * r) * k
        if act_a and act_b:
            dB = tans[b0:b0 + p * r * k].reshape((p, r, k))
            dBt = np.empty((r, p, k))
            for i in range(p):
                for l in range(r):
                    dBt[l, i, :] = dB[i, l, :]
            aAt = adjt[a0:a0 + m * p * k].reshape((m, p * k))
            aAt += np.dot(aC, dBt.reshape((r, p * k)))
            dA = tans[a0:a0 + m * p * k].reshape((m, p * k))
            prod = np.dot(aC.T, dA).reshape((r, p, k))
            aBt = adjt[b0:b0 + p * r * k].reshape((p, r, k))
            for i in range(p):
                for l in range(r):
                    aBt[i, l, :] += prod[l, i, :]


# ---------------------------------------------------------------- inverse and log|det|
# X = A^-1: dX = -X dA X, and a cotangent aX pulls back to aA = -X^T aX X^T. log|det A|
# has gradient X^T, whose derivative is -(X dA X)^T. X is recomputed where needed.
@njit(**_HELPER)
def _inv_forward(vals, ipool, q, ao, yo):
    nb, n = ipool[q], ipool[q + 1]
    m = n * n
    for s in range(nb):
        A = vals[ao + s * m:ao + (s + 1) * m].reshape((n, n))
        _copy(vals[yo + s * m:yo + (s + 1) * m], np.linalg.inv(A).ravel())


@njit(**_HELPER)
def _slogdet_forward(vals, ipool, q, ao, yo, want_sign):
    nb, n = ipool[q], ipool[q + 1]
    m = n * n
    for s in range(nb):
        A = vals[ao + s * m:ao + (s + 1) * m].reshape((n, n))
        sg, ld = np.linalg.slogdet(A)
        vals[yo + s] = sg if want_sign else ld


@njit(**_HELPER)
def _sandwich(X, D, n, k, sign):
    """sign * X @ D_j @ X for each of the k directions of D (n, n, k), as (n, n, k)."""
    T1 = np.dot(X, D.reshape((n, n * k))).reshape((n, n, k))
    R = _right(T1, X)
    R *= sign
    return R


# Products of each direction's matrix, on (n, p, k) blocks of a k-direction buffer, as
# whole BLAS products: the directions go outermost for the product and back innermost
# after (a product per row or per direction was n GEMVs: the 2000 x 2000 inverse's
# cotangent took seconds).
@njit(**_HELPER)
def _swap(D):
    """(n, p, k) -> (p, n, k), a C-ordered copy."""
    n, p, k = D.shape
    out = np.empty((p, n, k))
    for i in range(n):
        for l in range(p):
            for j in range(k):
                out[l, i, j] = D[i, l, j]
    return out


@njit(**_HELPER)
def _right(D, M):
    """[i, c, j] = sum_l D[i, l, j] M[l, c]: each direction's (n, p) matrix times M."""
    n, p, k = D.shape
    r = M.shape[1]
    if k == 1:
        return np.dot(np.ascontiguousarray(D).reshape((n, p)), M).reshape((n, r, 1))
    S = _swap(D).reshape((p, n * k))
    return _swap(np.dot(np.ascontiguousarray(M.T), S).reshape((r, n, k)))


@njit(**_HELPER)
def _left(D, M):
    """[l, c, j] = sum_i D[i, l, j] M[i, c]: each direction's (n, p) matrix, transposed,
    times M."""
    n, p, k = D.shape
    r = M.shape[1]
    P = np.dot(np.ascontiguousarray(M.T), np.ascontiguousarray(D).reshape((n, p * k)))
    return _swap(P.reshape((r, p, k)))


@njit(**_HELPER)
def _inv_tangent(vals, tans, k, ipool, q, ao, yo):
    nb, n = ipool[q], ipool[q + 1]
    m = n * n
    for s in range(nb):
        X = vals[yo + s * m:yo + (s + 1) * m].reshape((n, n))
        a0, y0 = (ao + s * m) * k, (yo + s * m) * k
        dA = np.ascontiguousarray(tans[a0:a0 + m * k]).reshape((n, n, k))
        _copy(tans[y0:y0 + m * k], _sandwich(X, dA, n, k, -1.0).ravel())


@njit(**_HELPER)
def _inv_adjoint(vals, adj, k, ipool, q, ao, yo):
    """aA += -X^T aX X^T for k cotangents."""
    nb, n = ipool[q], ipool[q + 1]
    m = n * n
    for s in range(nb):
        X = vals[yo + s * m:yo + (s + 1) * m].reshape((n, n))
        XT = np.ascontiguousarray(X.T)
        a0, y0 = (ao + s * m) * k, (yo + s * m) * k
        aX = np.ascontiguousarray(adj[y0:y0 + m * k]).reshape((n, n, k))
        adj[a0:a0 + m * k] += _sandwich(XT, aX, n, k, -1.0).ravel()


@njit(**_HELPER)
def _inv_cross(vals, tans, adj, adjt, k, ipool, q, ao, yo):
    """The terms of d(aA) from dX: -(dX^T G X^T + X^T G dX^T), G the one cotangent."""
    nb, n = ipool[q], ipool[q + 1]
    m = n * n
    dXj = np.empty((n, n))
    for s in range(nb):
        X = vals[yo + s * m:yo + (s + 1) * m].reshape((n, n))
        G = np.ascontiguousarray(adj[yo + s * m:yo + (s + 1) * m]).reshape((n, n))
        GXt = np.dot(G, X.T)
        XtG = np.dot(X.T, G)
        a0, y0 = (ao + s * m) * k, (yo + s * m) * k
        for j in range(k):
            for i in range(n):
                for l in range(n):
                    dXj[i, l] = tans[y0 + (i * n + l) * k + j]
            T = np.dot(dXj.T, GXt) + np.dot(XtG, dXj.T)
            for i in range(n):
                for l in range(n):
                    adjt[a0 + (i * n + l) * k + j] -= T[i, l]


@njit(**_HELPER)
def _inv_of(vals, ao, yo, s, n):
    """A_s^-1, NaN where A_s is singular (log|det| = -inf): no raise inside a sweep."""
    m = n * n
    if vals[yo + s] == -np.inf:
        return np.full((n, n), np.nan)
    A = vals[ao + s * m:ao + (s + 1) * m].reshape((n, n))
    return np.ascontiguousarray(np.linalg.inv(A))


@njit(**_HELPER)
def _logdet_tangent(vals, tans, k, ipool, q, ao, yo):
    """d log|det A| = <X^T, dA>."""
    nb, n = ipool[q], ipool[q + 1]
    m = n * n
    for s in range(nb):
        w = np.ascontiguousarray(_inv_of(vals, ao, yo, s, n).T).ravel()
        a0 = (ao + s * m) * k
        dA = np.ascontiguousarray(tans[a0:a0 + m * k]).reshape((m, k))
        _copy(tans[(yo + s) * k:(yo + s + 1) * k], np.dot(w, dA))


@njit(**_HELPER)
def _logdet_adjoint(vals, adj, k, ipool, q, ao, yo):
    nb, n = ipool[q], ipool[q + 1]
    m = n * n
    for s in range(nb):
        w = np.ascontiguousarray(_inv_of(vals, ao, yo, s, n).T).ravel()
        a0 = (ao + s * m) * k
        for e in range(m):
            for j in range(k):
                adj[a0 + e * k + j] += w[e] * adj[(yo + s) * k + j]


@njit(**_HELPER)
def _logdet_adjoint_tangent(vals, tans, adj, adjt, k, ipool, q, ao, yo):
    nb, n = ipool[q], ipool[q + 1]
    m = n * n
    for s in range(nb):
        X = _inv_of(vals, ao, yo, s, n)
        w = np.ascontiguousarray(X.T).ravel()
        a0 = (ao + s * m) * k
        g = adj[yo + s]
        dA = np.ascontiguousarray(tans[a0:a0 + m * k]).reshape((n, n, k))
        M = _sandwich(X, dA, n, k, 1.0)            # X dA_j X; d(X^T) = -(X dA X)^T
        for i in range(n):
            for l in range(n):
                e = i * n + l
                adj[ao + s * m + e] += w[e] * g
                for j in range(k):
                    adjt[a0 + e * k + j] += w[e] * adjt[(yo + s) * k + j] - g * M[l, i, j]



# ---------------------------------------------------------------- LU solves
# X = A^-1 B from the LU factors of A kept by the forward sweep (slot c): dX = A^-1 (dB -
# dA X); a cotangent aX pulls back to aB = A^-T aX and aA = -aB X^T; along the tangents
# d(aB) = A^-T (d(aX) - dA^T aB) and d(aA) = -(d(aB) X^T + aB dX^T). Every sweep solves
# with the factors (n^2 per column) instead of factoring A again (n^3). They are the
# factors of A's transpose (A's row-major memory is LAPACK's column-major transpose), so
# a solve with A is getrs's 'T' and one with A^T its 'N'.
@njit(**_HELPER)
def _lu_forward(vals, ipool, q, ao, yo):
    nb, n = ipool[q], ipool[q + 1]
    m = n * n
    dims = np.array([n, 0], np.int32)        # n, then getrf's info
    piv = np.empty(n, np.int32)
    for s in range(nb):
        F = vals[yo + s * (m + n):yo + s * (m + n) + m]
        _copy(F, vals[ao + s * m:ao + (s + 1) * m])
        getrf(dims.ctypes, dims.ctypes, F.ctypes, dims.ctypes, piv.ctypes, dims[1:].ctypes)
        if dims[1] != 0:
            raise np.linalg.LinAlgError("Singular matrix")
        for i in range(n):
            vals[yo + s * (m + n) + m + i] = piv[i]


@njit(**_HELPER)
def _lu_solve(vals, lo, n, R, transpose):
    """A^-1 R (A^-T R when transpose) for an (n, r) R, from A's factors at lo."""
    r = R.shape[1]
    X = np.empty((r, n))                     # column-major (n, r) for LAPACK
    for i in range(n):
        for c in range(r):
            X[c, i] = R[i, c]
    piv = np.empty(n, np.int32)
    for i in range(n):
        piv[i] = np.int32(vals[lo + n * n + i])
    dims = np.array([n, r, 0], np.int32)      # n, nrhs, info
    trans = np.array([78 if transpose else 84], np.uint8)    # 'N', 'T'
    F = vals[lo:lo + n * n]
    getrs(trans.ctypes, dims.ctypes, dims[1:].ctypes, F.ctypes, dims.ctypes, piv.ctypes,
          X.ctypes, dims.ctypes, dims[2:].ctypes)
    return np.ascontiguousarray(X.T)


@njit(**_HELPER)
def _solve_forward(vals, ipool, q, bo, lo, yo):
    nb, n, m = ipool[q], ipool[q + 1], ipool[q + 2]
    for s in range(nb):
        B = vals[bo + s * n * m:bo + (s + 1) * n * m].reshape((n, m))
        X = _lu_solve(vals, lo + s * (n * n + n), n, B, False)
        _copy(vals[yo + s * n * m:yo + (s + 1) * n * m], X.ravel())


@njit(**_HELPER)
def _solve_tangent(vals, tans, k, ipool, q, ao, bo, lo, yo, act_a, act_b):
    nb, n, m = ipool[q], ipool[q + 1], ipool[q + 2]
    for s in range(nb):
        b0, y0 = (bo + s * n * m) * k, (yo + s * n * m) * k
        if act_b:
            R = tans[b0:b0 + n * m * k].copy().reshape((n, m * k))
        else:
            R = np.zeros((n, m * k))
        if act_a:
            a0 = (ao + s * n * n) * k
            X = vals[yo + s * n * m:yo + (s + 1) * n * m].reshape((n, m))
            R -= _right(tans[a0:a0 + n * n * k].reshape((n, n, k)), X).reshape((n, m * k))
        dX = _lu_solve(vals, lo + s * (n * n + n), n, R, False)
        _copy(tans[y0:y0 + n * m * k], dX.ravel())


@njit(**_HELPER)
def _solve_adjoint(vals, adj, k, ipool, q, ao, bo, lo, yo, act_a, act_b):
    nb, n, m = ipool[q], ipool[q + 1], ipool[q + 2]
    for s in range(nb):
        y0 = (yo + s * n * m) * k
        aX = adj[y0:y0 + n * m * k].reshape((n, m * k))
        aB = _lu_solve(vals, lo + s * (n * n + n), n, aX, True)
        if act_b:
            b0 = (bo + s * n * m) * k
            adj[b0:b0 + n * m * k] += aB.ravel()
        if act_a:
            a0 = (ao + s * n * n) * k
            XT = np.ascontiguousarray(vals[yo + s * n * m:yo + (s + 1) * n * m]
                                      .reshape((n, m)).T)
            adj[a0:a0 + n * n * k] -= _right(aB.reshape((n, m, k)), XT).ravel()


@njit(**_HELPER)
def _solve_adjoint_tangent(vals, tans, adj, adjt, k, ipool, q, ao, bo, lo, yo, act_a, act_b):
    nb, n, m = ipool[q], ipool[q + 1], ipool[q + 2]
    for s in range(nb):
        f0, x0, y0 = lo + s * (n * n + n), yo + s * n * m, (yo + s * n * m) * k
        aB = _lu_solve(vals, f0, n, adj[x0:x0 + n * m].reshape((n, m)), True)
        R = adjt[y0:y0 + n * m * k].copy().reshape((n, m * k))
        a0 = (ao + s * n * n) * k
        if act_a:
            R -= _left(tans[a0:a0 + n * n * k].reshape((n, n, k)), aB).reshape((n, m * k))
        daB = _lu_solve(vals, f0, n, R, True)
        if act_b:
            b1 = bo + s * n * m
            adj[b1:b1 + n * m] += aB.ravel()
            adjt[b1 * k:(b1 + n * m) * k] += daB.ravel()
        if act_a:
            XT = np.ascontiguousarray(vals[x0:x0 + n * m].reshape((n, m)).T)
            a1 = ao + s * n * n
            adj[a1:a1 + n * n] -= np.dot(aB, XT).ravel()
            dX = _swap(tans[y0:y0 + n * m * k].reshape((n, m, k))).reshape((m, n * k))
            adjt[a0:a0 + n * n * k] -= (_right(daB.reshape((n, m, k)), XT).ravel()
                                        + np.dot(aB, dX).ravel())


# ---------------------------------------------------------------- Cholesky factor
# L = chol(A) of a symmetric A (the lowering symmetrizes it). With Li = L^-1 and
# Phi(M) = tril(M) with the diagonal halved (self-adjoint): dL = L Phi(Li dA Li^T); a
# cotangent aL pulls back to aA = sym(Li^T Phi(L^T aL) Li) (Murray 2016); and that
# differentiated along dL and d(aL) is sym(Li^T dP Li - Li^T dL^T S - S dL Li), with
# S = Li^T Phi(L^T aL) Li and dP = Phi(dL^T aL + L^T d(aL)).
@njit(**_HELPER)
def _phi(M):
    n = M.shape[0]
    for i in range(n):
        M[i, i] *= 0.5
        for l in range(i + 1, n):
            M[i, l] = 0.0
    return M


@njit(**_HELPER)
def _direction(buf, o, n, k, j):
    """Direction j of the (n, n) block at buffer position o of a k-direction buffer."""
    D = np.empty((n, n))
    for i in range(n):
        for l in range(n):
            D[i, l] = buf[(o + i * n + l) * k + j]
    return D


@njit(**_HELPER)
def _add_sym(buf, o, n, k, j, S):
    """buf's direction j of the block at o += (S + S^T) / 2."""
    for i in range(n):
        for l in range(n):
            buf[(o + i * n + l) * k + j] += 0.5 * (S[i, l] + S[l, i])


@njit(**_HELPER)
def _chol_forward(vals, ipool, q, ao, yo):
    nb, n = ipool[q], ipool[q + 1]
    m = n * n
    for s in range(nb):
        A = vals[ao + s * m:ao + (s + 1) * m].reshape((n, n))
        _copy(vals[yo + s * m:yo + (s + 1) * m], np.linalg.cholesky(A).ravel())


@njit(**_HELPER)
def _chol_factor(vals, yo, s, n):
    m = n * n
    Lm = np.ascontiguousarray(vals[yo + s * m:yo + (s + 1) * m]).reshape((n, n))
    Li = np.linalg.inv(Lm)
    return Lm, Li, np.ascontiguousarray(Li.T)


@njit(**_HELPER)
def _chol_tangent(vals, tans, k, ipool, q, ao, yo):
    nb, n = ipool[q], ipool[q + 1]
    m = n * n
    for s in range(nb):
        Lm, Li, LiT = _chol_factor(vals, yo, s, n)
        for j in range(k):
            D = _direction(tans, ao + s * m, n, k, j)
            D = 0.5 * (D + D.T)
            dL = np.dot(Lm, _phi(np.dot(np.dot(Li, D), LiT)))
            for i in range(n):
                for l in range(n):
                    tans[(yo + s * m + i * n + l) * k + j] = dL[i, l]


@njit(**_HELPER)
def _chol_adjoint(vals, adj, k, ipool, q, ao, yo):
    nb, n = ipool[q], ipool[q + 1]
    m = n * n
    for s in range(nb):
        Lm, Li, LiT = _chol_factor(vals, yo, s, n)
        LT = np.ascontiguousarray(Lm.T)
        for j in range(k):
            G = _direction(adj, yo + s * m, n, k, j)
            S = np.dot(np.dot(LiT, _phi(np.dot(LT, G))), Li)
            _add_sym(adj, ao + s * m, n, k, j, S)


@njit(**_HELPER)
def _chol_adjoint_tangent(vals, tans, adj, adjt, k, ipool, q, ao, yo):
    nb, n = ipool[q], ipool[q + 1]
    m = n * n
    for s in range(nb):
        Lm, Li, LiT = _chol_factor(vals, yo, s, n)
        LT = np.ascontiguousarray(Lm.T)
        G = _direction(adj, yo + s * m, n, ONE, ZERO)
        S = np.dot(np.dot(LiT, _phi(np.dot(LT, G))), Li)
        _add_sym(adj, ao + s * m, n, ONE, ZERO, S)
        for j in range(k):
            dL = _direction(tans, yo + s * m, n, k, j)
            Gt = _direction(adjt, yo + s * m, n, k, j)
            dLT = np.ascontiguousarray(dL.T)
            dP = _phi(np.dot(dLT, G) + np.dot(LT, Gt))
            dS = (np.dot(np.dot(LiT, dP), Li) - np.dot(np.dot(LiT, dLT), S)
                  - np.dot(np.dot(S, dL), Li))
            _add_sym(adjt, ao + s * m, n, k, j, dS)


# ---------------------------------------------------------------- LAPACK values
@njit(**_JIT)
def _lapack_forward(vals, ipool, q, ao, yo, rcond):
    """The factorization `kind` of each matrix; NaN for a matrix with a NaN or Inf (LAPACK
    would raise inside the sweep)."""
    kind, nb, m, n = ipool[q], ipool[q + 1], ipool[q + 2], ipool[q + 3]
    if kind == SPECIAL:
        _special_rows(int(rcond), vals[ao:ao + m * n], vals[yo:yo + 3 * n], n)
        return
    r = min(m, n)
    size_a = m * n
    for s in range(nb):
        A = np.ascontiguousarray(vals[ao + s * size_a:ao + (s + 1) * size_a]).reshape((m, n))
        finite = np.all(np.isfinite(A))
        if kind == EIGH:
            w0, v0 = yo + s * n, yo + nb * n + s * n * n
            if finite:
                w, V = np.linalg.eigh(A)
                _copy(vals[w0:w0 + n], w)
                _copy(vals[v0:v0 + n * n], V.ravel())
            else:
                vals[w0:w0 + n] = np.nan
                vals[v0:v0 + n * n] = np.nan
        elif kind == QR:
            q0, r0 = yo + s * m * r, yo + nb * m * r + s * r * n
            if finite:
                Q, R = np.linalg.qr(A)
                _copy(vals[q0:q0 + m * r], Q.ravel())
                _copy(vals[r0:r0 + r * n], R.ravel())
            else:
                vals[q0:q0 + m * r] = np.nan
                vals[r0:r0 + r * n] = np.nan
        elif kind == SVALS:
            if finite:
                _copy(vals[yo + s * r:yo + (s + 1) * r], np.linalg.svd(A, False)[1])
            else:
                vals[yo + s * r:yo + (s + 1) * r] = np.nan
        else:   # PINV
            if finite:
                _copy(vals[yo + s * size_a:yo + (s + 1) * size_a],
                      np.linalg.pinv(A, rcond).ravel())
            else:
                vals[yo + s * size_a:yo + (s + 1) * size_a] = np.nan


# ---------------------------------------------------------------- SciPy's special functions
SQRT_PI_2 = math.sqrt(math.pi) / 2.0
SQRT_2PI = math.sqrt(2.0 * math.pi)
INV_SQRT_PI = 1.0 / math.sqrt(math.pi)


@njit(**_HELPER)
def _bessel(kind, scaled, v, x):
    """SciPy's I, K, J or Y (kind 0-3) of order v at x; scaled: ive's, kve's."""
    if kind == 0:
        return cs.ive(v, x, 0) if scaled else cs.iv(v, x, 0)
    if kind == 1:
        return cs.kve(v, x, 0) if scaled else cs.kv(v, x, 0)
    return cs.jv(v, x, 0) if kind == 2 else cs.yv(v, x, 0)


@njit(**_HELPER)
def _bessel_fixed(fid, x):
    """i0 ... y1: SciPy's own functions of a fixed order (its values, not iv's)."""
    if fid == S_I0:
        return cs.i0(x, 0)
    if fid == S_I0E:
        return cs.i0e(x, 0)
    if fid == S_I1:
        return cs.i1(x, 0)
    if fid == S_I1E:
        return cs.i1e(x, 0)
    if fid == S_K0:
        return cs.k0(x, 0)
    if fid == S_K0E:
        return cs.k0e(x, 0)
    if fid == S_K1:
        return cs.k1(x, 0)
    if fid == S_K1E:
        return cs.k1e(x, 0)
    if fid == S_J0:
        return cs.j0(x, 0)
    if fid == S_J1:
        return cs.j1(x, 0)
    return cs.y0(x, 0) if fid == S_Y0 else cs.y1(x, 0)


SERIES_FAR = 10.0     # |x| past this: erfcx's and dawsn's derivatives by their series
SERIES_TERMS = 12     # the first left out is below 1e-14 of the sum at |x| = 10


@njit(**_HELPER)
def _odd_factorial_series(x, sign):
    """(sum_n c_n, sum_n 2n c_n) over n >= 1 for c_n = sign^n (2n - 1)!! u^n, u = 1 /
    (2 x^2): the asymptotic series of erfcx's (sign -1) and dawsn's (+1) derivatives."""
    u = 0.5 / (x * x)
    c, s1, s2 = sign * u, 0.0, 0.0
    for n in range(1, SERIES_TERMS + 1):
        s1 += c
        s2 += 2.0 * n * c
        c *= sign * (2.0 * n + 1.0) * u
    return s1, s2


BESSEL_FAR = 50.0     # x past this (and 2 v^2): ive's and kve's derivatives by series
BESSEL_TERMS = 24


@njit(**_HELPER)
def _scaled_bessel_series(is_k, v, x):
    """The first and second derivatives of ive(v, x) (kve's: is_k) at a large x, from
    their asymptotic series A sum_k s_k a_k x^(-k-1/2), a_k = prod_j (4v^2 - (2j-1)^2) /
    (k! 8^k), s_k = (-1)^k for I, 1 for K, A = 1 / sqrt(2 pi) and sqrt(pi / 2)."""
    mu = 4.0 * v * v
    a, p, d1, d2 = 1.0, 1.0 / math.sqrt(x), 0.0, 0.0
    for k in range(BESSEL_TERMS):
        term = a * p / x
        d1 -= (k + 0.5) * term
        d2 += (k + 0.5) * (k + 1.5) * term / x
        a *= (mu - (2.0 * k + 1.0) ** 2) / (8.0 * (k + 1.0)) * (1.0 if is_k else -1.0)
        p /= x
    scale = math.sqrt(0.5 * math.pi) if is_k else 1.0 / math.sqrt(2.0 * math.pi)
    return scale * d1, scale * d2


@njit(**_HELPER)
def _xlogy(c, x):
    """c log x, 0 where c is (x^0 = 1 at x = 0)."""
    return 0.0 if c == 0.0 else c * math.log(x)


@njit(**_HELPER)
def _bessel_derivatives(kind, scaled, v, x, f):
    """The first and second derivatives at x of the Bessel function (kind, scaled, order
    v) whose value there is f: C'_v = (C_v-1 - C_v+1) / 2 for J and Y, (I_v-1 + I_v+1) / 2,
    -(K_v-1 + K_v+1) / 2; scaled, g = C e^(c x), g' = C' e^(c x) + c g (c = -sign x for
    ive, 1 for kve), by the asymptotic series at large x (where C' + c C cancels)."""
    if scaled and x > BESSEL_FAR and x > 2.0 * v * v:
        return _scaled_bessel_series(kind == 1, v, x)
    m1, p1 = _bessel(kind, scaled, v - 1.0, x), _bessel(kind, scaled, v + 1.0, x)
    m2, p2 = _bessel(kind, scaled, v - 2.0, x), _bessel(kind, scaled, v + 2.0, x)
    if kind >= 2:
        d1, d2 = 0.5 * (m1 - p1), 0.25 * (m2 - 2.0 * f + p2)
    else:
        d1, d2 = 0.5 * (m1 + p1), 0.25 * (m2 + 2.0 * f + p2)
        if kind == 1:
            d1 = -d1
    if scaled:
        c = 1.0 if kind == 1 else -1.0 if x > 0.0 else 1.0 if x < 0.0 else 0.0
        d1, d2 = d1 + c * f, d2 + 2.0 * c * d1 + c * c * f
    return d1, d2


@njit(**_HELPER)
def _special_rows(fid, a, y, n):
    """y[:n], y[n:2n], y[2n:]: function fid (S_*) and its first and second derivatives
    at a[:n], its constant arguments (an order, a shape) in a[n:2n] and a[2n:3n]."""
    for i in range(n):
        x = a[i]
        if fid == S_ERFINV or fid == S_ERFCINV:      # (erfinv)' = sqrt(pi)/2 exp(y^2)
            f = cs.erfinv(x, 0) if fid == S_ERFINV else cs.erfcinv(x, 0)
            d1 = SQRT_PI_2 * math.exp(f * f) * (1.0 if fid == S_ERFINV else -1.0)
            d2 = 2.0 * f * d1 * d1
        elif fid == S_NDTRI:
            f = cs.ndtri(x, 0)
            d1 = SQRT_2PI * math.exp(0.5 * f * f)
            d2 = f * d1 * d1
        elif fid == S_ERFCX:                         # exp(x^2) erfc(x)
            f = cs.erfcx(x, 0)
            if x > SERIES_FAR:      # (x f - 1/sqrt(pi) cancels: the asymptotic series)
                s1, s2 = _odd_factorial_series(x, -1.0)
                d1, d2 = 2.0 * INV_SQRT_PI * s1, -2.0 * INV_SQRT_PI * s2 / x
            else:
                d1 = 2.0 * (x * f - INV_SQRT_PI)
                d2 = 2.0 * (f + x * d1)
        elif fid == S_DAWSN:
            f = cs.dawsn(x, 0)
            if abs(x) > SERIES_FAR:     # (1 - 2 x f cancels)
                s1, s2 = _odd_factorial_series(x, 1.0)
                d1, d2 = -s1, s2 / x
            else:
                d1 = 1.0 - 2.0 * x * f
                d2 = -2.0 * (f + x * d1)
        elif fid <= S_YV:
            j = fid - S_I0
            kind, scaled, v = BESSEL_KIND[j], BESSEL_SCALED[j] == 1, float(BESSEL_ORDER[j])
            if v < 0.0:
                v = a[n + i]
                f = _bessel(kind, scaled, v, x)
            else:
                f = _bessel_fixed(fid, x)
            d1, d2 = _bessel_derivatives(kind, scaled, v, x, f)
        elif fid == S_GAMMAINC or fid == S_GAMMAINCC:    # of x, the shape s constant
            s = a[n + i]
            f = cs.gammainc(s, x, 0) if fid == S_GAMMAINC else cs.gammaincc(s, x, 0)
            # x^(s-1) e^-x / G(s), and its derivative term by term (finite at x = 0)
            lg = math.lgamma(s)
            d1 = math.exp(_xlogy(s - 1.0, x) - x - lg)
            d2 = (0.0 if s == 1.0 else (s - 1.0) * math.exp(_xlogy(s - 2.0, x) - x - lg)) - d1
            if fid == S_GAMMAINCC:
                d1, d2 = -d1, -d2
        elif fid == S_BETAINC:                           # of x, the shapes p, q constant
            p, r = a[n + i], a[2 * n + i]
            f = cs.betainc(p, r, x, 0)
            beta = math.lgamma(p) + math.lgamma(r) - math.lgamma(p + r)
            d1 = math.exp(_xlogy(p - 1.0, x) + _xlogy(r - 1.0, 1.0 - x) - beta)
            # x^(p-1) (1-x)^(r-1) / B(p, r) differentiated term by term (finite at 0, 1)
            d2 = (0.0 if p == 1.0 else (p - 1.0) * math.exp(
                _xlogy(p - 2.0, x) + _xlogy(r - 1.0, 1.0 - x) - beta)) - \
                (0.0 if r == 1.0 else (r - 1.0) * math.exp(
                    _xlogy(p - 1.0, x) + _xlogy(r - 2.0, 1.0 - x) - beta))
        else:                                            # S_STDTR: of t, df constant
            df = a[n + i]
            f = cs.stdtr(df, x, 0)
            if df == math.inf:                           # (SciPy's: the normal's)
                d1 = math.exp(-0.5 * x * x) / SQRT_2PI
                d2 = -x * d1
            else:
                d1 = math.exp(math.lgamma(0.5 * (df + 1.0)) - math.lgamma(0.5 * df)
                              - 0.5 * (df + 1.0) * math.log1p(x * x / df)) \
                    / math.sqrt(df * math.pi)
                d2 = -d1 * (df + 1.0) * x / (df + x * x)
        y[i], y[n + i], y[2 * n + i] = f, d1, d2


# ---------------------------------------------------------------- sweeps over supports
# A dense Hessian's direction j seeds input j alone. On a tape of pairwise terms (a
# cluster's energy by broadcasting) its tangent is non-zero on a few elements of each
# slot, the pairs with atom j, and so is its second-order cotangent: a sweep over every
# slot costs O(n^2) a direction where O(n) would do. These sweeps run a chunk of k
# directions (an atom's coordinates reach the same pairs) over the positions their
# tangents and second-order cotangents reach, found as they go:
# - rows: each position the chunk reaches holds a row of the compact buffers tans and
#   adjt (its k values at r * k + j), made when first reached. rows[p] is position p's
#   row; book[0] >> 2 counts the rows in use and book[r] = (p << 2) | marks for row r
#   of position p, the marks 1: its tangent is listed in tlist, 2: its second-order
#   cotangent is chained. p has a row when 0 < rows[p] < book[0] >> 2 and
#   book[rows[p]] >> 2 == p (a sparse set: a chunk starts with one row in use and never
#   clears rows). Row 0 is zeros, the row of every position without one; rows past those
#   in use are zeros (each chunk clears its own). A position listed or chained in this
#   chunk has a row, read as rows[p]; others go through _at. A thread's sweep fills 4
#   bytes a position (rows), where buffers by position filled 16 k + 8 (the 999-variable
#   cluster: 2 x 53 MB of its 353).
# - tlist: positions with a non-zero tangent, one sorted run per instruction (run u at
#   tlist[tbeg[u]:tbeg[u + 1]], u = t + 1 for instruction t, u = 0 the seeded inputs);
# - second-order cotangents: positions chained per owner run (ahead[u], anext, apos);
# - the maps S of supports.py: owner (the run of the instruction that writes each
#   position, plus one: t + 2 for instruction t, 1 the inputs, 0 inactive), the inverse
#   index maps of GATHER (its sorted source positions in keys_, the outputs reading each
#   in vals_) and SCATTER (for each target g, its inputs vals_[keys_[g]:keys_[g + 1]]),
#   each instruction's part at key_beg[t] and val_beg[t], and the runs a GATHER's
#   sources lie in (src_run).
# The first-order cotangents adj are every position's, kept by one adjoint sweep (keep).
# Tapes with linear algebra never come here (supports.py).

def _ir_row(context, builder, sig, args):
    """LLVM IR: position p's row (0 if none) and the data pointers of rows and book, for
    the intrinsics below; args = (rows, book, p, ...)."""
    i64 = ir.IntType(64)
    zero = ir.Constant(i64, 0)
    rp = context.make_array(sig.args[0])(context, builder, value=args[0]).data
    bp = context.make_array(sig.args[1])(context, builder, value=args[1]).data
    p = args[2]
    r = builder.sext(builder.load(builder.gep(rp, [p])), i64)
    count = builder.ashr(builder.load(bp), ir.Constant(i64, 2))
    r = builder.select(builder.icmp_unsigned("<", r, count), r, zero)
    owner = builder.ashr(builder.load(builder.gep(bp, [r])), ir.Constant(i64, 2))
    return builder.select(builder.icmp_signed("==", owner, p), r, zero), rp, bp


def _ir_mark(context, builder, sig, args):
    """LLVM IR: position p's row, made if it has none, with mark args[3] set; returns
    (row, whether the mark is new)."""
    i64 = ir.IntType(64)
    r, rp, bp = _ir_row(context, builder, sig, args)
    p, bit = args[2], args[3]
    row = cgutils.alloca_once_value(builder, r)
    with builder.if_then(builder.icmp_signed("==", r, ir.Constant(i64, 0))):
        count4 = builder.load(bp)
        n = builder.ashr(count4, ir.Constant(i64, 2))
        builder.store(builder.add(count4, ir.Constant(i64, 4)), bp)
        builder.store(builder.trunc(n, ir.IntType(32)), builder.gep(rp, [p]))
        builder.store(builder.shl(p, ir.Constant(i64, 2)), builder.gep(bp, [n]))
        builder.store(n, row)
    r = builder.load(row)
    entry = builder.gep(bp, [r])
    marks = builder.load(entry)
    builder.store(builder.or_(marks, bit), entry)
    return r, builder.icmp_signed("==", builder.and_(marks, bit), ir.Constant(i64, 0))


def _compact(rows, book, *lists):
    """Whether the intrinsics below read these types: 1-D C arrays, rows of int32, book
    and the lists of int64."""
    return all(isinstance(t, nbtypes.Array) and t.ndim == 1 and t.layout == "C" and
               t.dtype == dtype for t, dtype in zip(
                   (rows, book, *lists), (nbtypes.int32,) + (int64,) * (1 + len(lists))))


# The sparse set's operations are written in LLVM IR: as Numba functions, inlined or
# not, they took and dropped a reference to each array at every call (a support sweep
# 3-4x slower than with buffers by position); selects, not branches, test rows, which
# is never cleared (branches on it were mispredicted at every new position).
@intrinsic
def _at(typingctx, rows, book, p):
    """Position p's row of the compact buffers; 0 (a row of zeros) when it has none."""
    if _compact(rows, book):
        return int64(rows, book, int64), lambda context, builder, sig, args: _ir_row(
            context, builder, sig, args)[0]


@intrinsic
def _mark(typingctx, rows, book, p, bit):
    """2 r + new: position p's row r, made if it has none (its values zeros), with mark
    bit (1 or 2) set; new = 1 when the mark was not set before."""
    def codegen(context, builder, sig, args):
        r, new = _ir_mark(context, builder, sig, args)
        i64 = ir.IntType(64)
        return builder.or_(builder.shl(r, ir.Constant(i64, 1)), builder.zext(new, i64))
    if _compact(rows, book):
        return int64(rows, book, int64, int64), codegen


@intrinsic
def _list(typingctx, rows, book, p, tlist, L):
    """Append position p to tlist at L unless it is listed (mark 1; a row made if it
    has none, its values zeros); returns the new length."""
    def codegen(context, builder, sig, args):
        i64 = ir.IntType(64)
        _, new = _ir_mark(context, builder, sig, (*args[:3], ir.Constant(i64, 1)))
        L = args[4]
        with builder.if_then(new):
            tp = context.make_array(sig.args[3])(context, builder, value=args[3]).data
            builder.store(args[2], builder.gep(tp, [L]))
        return builder.add(L, builder.zext(new, i64))
    if _compact(rows, book, tlist):
        return int64(rows, book, int64, tlist, int64), codegen


@njit(**_HELPER)
def _to_dense(rows, book, buf, k, p0, n, out, o0):
    """out[(o0 + i) * k + j] = buf's (tans' or adjt's) row of position p0 + i, i < n: an
    operand of a product laid out as the dense sweeps' helpers read it."""
    for i in range(n):
        x = _at(rows, book, p0 + i) * k
        for j in range(k):
            out[U((o0 + i) * k + j)] = buf[U(x + j)]


@njit(**_HELPER)
def _run_of(owner, tlist, tbeg, xo, nx):
    """(i0, i1): tlist[i0:i1] are the positions of [xo, xo + nx) with a non-zero tangent."""
    if nx == 0:
        return 0, 0
    u = owner[xo] - 1
    if u < 0:           # an inactive region
        return 0, 0
    s0, s1 = tbeg[u], tbeg[u + 1]
    seg = tlist[s0:s1]
    return s0 + np.searchsorted(seg, xo), s0 + np.searchsorted(seg, xo + nx)


@njit(**_HELPER)
def _mapped_run(rows, book, owner, tlist, tbeg, xo, dx, nx, yo, n, L):
    """Append to tlist (from L) the outputs of an elementwise op that read a position of
    operand [xo, xo + nx) with a non-zero tangent (all n of them for a broadcast one);
    returns the new length."""
    i0, i1 = _run_of(owner, tlist, tbeg, xo, nx)
    if i1 == i0:
        return L
    if dx == 0:
        for i in range(n):
            L = _list(rows, book, yo + i, tlist, L)
        return L
    for r in range(i0, i1):
        L = _list(rows, book, yo + tlist[r] - xo, tlist, L)
    return L


@njit(**_HELPER)
def _sort(run):
    """Sort a run of positions in place, unless it is sorted already (a sum over a last
    axis maps sorted inputs to sorted targets)."""
    for r in range(1, run.size):
        if run[r] < run[r - 1]:
            run.sort()
            return


@njit(**_HELPER)
def _merge(tlist, start, mid, end):
    """Merge the sorted runs tlist[start:mid] and tlist[mid:end] in place, through the
    space after end (tlist has room for twice the positions)."""
    i, j, w = start, mid, end
    while i < mid and j < end:
        if tlist[i] <= tlist[j]:
            tlist[w] = tlist[i]
            i += 1
        else:
            tlist[w] = tlist[j]
            j += 1
        w += 1
    while i < mid:
        tlist[w] = tlist[i]
        i += 1
        w += 1
    _copy(tlist[start:j], tlist[end:w])


@njit(**_JIT)
def support_tangent(T, S, vals, ivals, rows, book, tans, k, tlist, tbeg, scr):
    """Tangents of k directions over their support. On entry tlist[:tbeg[1]] holds the
    seeded input positions (sorted, listed, their tangents set; tbeg[0] = 0) and they
    are the only rows. Fills the run of each instruction; returns tlist's length."""
    (op, out, a, b, c, pi, fp, iw, off, size, sact, ipool, cpos, fpool, pact, tused,
     gzero) = unpack(T)
    owner, key_beg, keys_, val_beg, vals_, src_beg, src_run = S
    L = tbeg[1]
    for t in range(op.size):
        start = L
        y = out[t]
        o = op[t]
        yo, n = off[y], size[y]
        if sact[y] and n > 0:
            if o < BINARY_END or o == WHERE:
                ao = off[a[t]]
                da = 1 if size[a[t]] == n else 0
                if o >= UNARY_END:
                    bo = off[b[t]]
                    db = 1 if size[b[t]] == n else 0
                    if sact[a[t]]:
                        L = _mapped_run(rows, book, owner, tlist, tbeg, ao, da,
                                        size[a[t]], yo, n, L)
                    if sact[b[t]]:
                        L2 = _mapped_run(rows, book, owner, tlist, tbeg, bo, db,
                                         size[b[t]], yo, n, L)
                        if L2 > L > start:
                            _merge(tlist, start, L, L2)
                        L = L2
                else:
                    L = _mapped_run(rows, book, owner, tlist, tbeg, ao, ONE, n, yo,
                                    n, L)
                if o < UNARY_END:
                    _support_unary_tangent(vals, rows, book, tans, k, o, fp[t], ao, yo,
                                           tlist[start:L], scr)
                elif o < BINARY_END:
                    _support_binary_tangent(vals, rows, book, tans, k, o, ao, bo, yo, da, db,
                                            sact[a[t]], sact[b[t]], tlist[start:L], scr)
                else:
                    co = off[c[t]]
                    dc = 1 if size[c[t]] == n else 0
                    for r in range(start, L):
                        i = tlist[r] - yo
                        src = ao + i * da if vals[co + i * dc] != 0.0 else bo + i * db
                        w, x = rows[U(yo + i)] * k, _at(rows, book, src) * k
                        for j in range(k):
                            tans[U(w + j)] = tans[U(x + j)]
            elif o == GATHER:
                q = pi[t]
                g0 = val_beg[t]
                reach = 0
                for r in range(src_beg[t], src_beg[t + 1]):
                    u = src_run[r]
                    reach += tbeg[u + 1] - tbeg[u]
                if reach == 0:
                    pass
                elif n <= 4 * reach:     # fewer outputs than lookups: read them all
                    for i in range(n):
                        if book[_at(rows, book, ipool[q + i])] & 1:
                            tlist[L] = yo + i
                            L += 1
                else:
                    keys = keys_[key_beg[t]:key_beg[t + 1]]
                    for r in range(src_beg[t], src_beg[t + 1]):
                        u = src_run[r]
                        for e in range(tbeg[u], tbeg[u + 1]):
                            h = np.searchsorted(keys, tlist[e])
                            while h < keys.size and keys[h] == tlist[e]:
                                tlist[L] = yo + vals_[g0 + h]
                                L += 1
                                h += 1
                    _sort(tlist[start:L])    # each output reads one source: no repeats
                for r in range(start, L):
                    p = tlist[r]
                    w = (_mark(rows, book, p, 1) >> 1) * k
                    x = rows[U(ipool[q + p - yo])] * k
                    for j in range(k):
                        tans[U(w + j)] = tans[U(x + j)]
            elif o == SCATTER:
                xo, q = off[a[t]], pi[t]
                i0, i1 = _run_of(owner, tlist, tbeg, xo, size[a[t]])
                for r in range(i0, i1):
                    p = yo + ipool[q + tlist[r] - xo]
                    L = _list(rows, book, p, tlist, L)
                    w, x = rows[U(p)] * k, rows[U(tlist[r])] * k
                    for j in range(k):
                        tans[U(w + j)] += tans[U(x + j)]
                _sort(tlist[start:L])
            elif o == SUMALL:
                i0, i1 = _run_of(owner, tlist, tbeg, off[a[t]], size[a[t]])
                if i1 > i0:
                    L = _list(rows, book, yo, tlist, L)
                    w = rows[U(yo)] * k
                    for r in range(i0, i1):
                        x = rows[U(tlist[r])] * k
                        for j in range(k):
                            tans[U(w + j)] += tans[U(x + j)]
            elif o == MATMUL:
                ia0, ia1 = _run_of(owner, tlist, tbeg, off[a[t]], size[a[t]])
                ib0, ib1 = _run_of(owner, tlist, tbeg, off[b[t]], size[b[t]])
                if ia1 > ia0 or ib1 > ib0:     # the whole product, as in the dense sweep
                    L = _support_matmul_tangent(vals, ivals, rows, book, tans, k, ipool, pi[t],
                                                off[a[t]], off[b[t]], yo, size[a[t]], size[b[t]], n,
                                                sact[a[t]] and ia1 > ia0, sact[b[t]] and ib1 > ib0,
                                                tlist, L)
            else:   # MAXRED, MINRED, SORT: a gather through the forward sweep's index map
                xo, w = off[a[t]], iw[t]
                i0, i1 = _run_of(owner, tlist, tbeg, xo, size[a[t]])
                if i1 > i0:
                    for i in range(n):
                        src = xo + ivals[w + i]
                        if book[_at(rows, book, src)] & 1:
                            L = _list(rows, book, yo + i, tlist, L)
                            z, x = rows[U(yo + i)] * k, rows[U(src)] * k
                            for j in range(k):
                                tans[U(z + j)] = tans[U(x + j)]
        tbeg[t + 2] = L
    return L


@njit(**_HELPER)
def _side_by_side(vals, ivals, ipool, q, rows, book, tans, k, ao, bo, na_, nb_, extra):
    """A product's operands as the dense sweeps' helpers read them: their values (A's at
    0, B's at na_) and their tangents' rows likewise, with room for extra more."""
    va, vao, vb, vbo = _sources(vals, ivals, ipool, q, ao, bo)
    v = np.empty(na_ + nb_)
    _copy(v[:na_], va[vao:vao + na_])
    _copy(v[na_:], vb[vbo:vbo + nb_])
    d = np.empty((na_ + nb_ + extra) * k)
    _to_dense(rows, book, tans, k, ao, na_, d, ZERO)
    _to_dense(rows, book, tans, k, bo, nb_, d, na_)
    return v, d


@njit(**_HELPER)
def _support_matmul_tangent(vals, ivals, rows, book, tans, k, ipool, q, ao, bo, yo, na_, nb_, n,
                            act_a, act_b, tlist, L):
    """A product's tangents, all n of them listed, from _matmul_tangent over the operands
    side by side (_side_by_side; the result's tangents after them)."""
    v, d = _side_by_side(vals, ivals, ipool, q, rows, book, tans, k, ao, bo, na_, nb_, n)
    _matmul_tangent(v, v, d, k, ipool, q, ZERO, na_, na_ + nb_, act_a, act_b)
    for i in range(n):
        L = _list(rows, book, yo + i, tlist, L)
        w, x = rows[U(yo + i)] * k, (na_ + nb_ + i) * k
        for j in range(k):
            tans[U(w + j)] = d[U(x + j)]
    return L


@njit(**_HELPER)
def _unary_derivs_at(o, p, vals, xo, yo, els, shift, m, scr):
    """unary_derivs of x -> y at the elements els[r] - shift, r < m (the support sweeps'
    scattered elements): d1 and d2 into scr rows 2 and 3 (x and y in rows 0 and 1)."""
    for r in range(m):
        i = els[r] - shift
        scr[0, r] = vals[xo + i]
        scr[1, r] = vals[yo + i]
    unary_derivs(o, scr[0, :m], scr[1, :m], p, scr[2, :m], scr[3, :m])


@njit(**_HELPER)
def _binary_derivs_at(o, vals, ao, bo, yo, da, db, els, shift, m, scr):
    """binary_derivs of (a, b) -> y at the elements els[r] - shift, r < m: fa, fb, faa,
    fab, fbb into scr rows 0-4 (a, b and y in rows 5-7)."""
    for r in range(m):
        i = els[r] - shift
        scr[5, r] = vals[ao + i * da]
        scr[6, r] = vals[bo + i * db]
        scr[7, r] = vals[yo + i]
    binary_derivs(o, scr[5, :m], scr[6, :m], scr[7, :m], scr[0, :m], scr[1, :m],
                  scr[2, :m], scr[3, :m], scr[4, :m])


@njit(**_HELPER)
def _support_unary_tangent(vals, rows, book, tans, k, o, p, xo, yo, run, scr):
    for s in range(0, run.size, TILE):
        m = min(TILE, run.size - s)
        _unary_derivs_at(o, p, vals, xo, yo, run[s:], yo, m, scr)
        for r in range(m):
            i = run[s + r] - yo
            y, x = rows[U(yo + i)] * k, rows[U(xo + i)] * k
            for j in range(k):
                tans[U(y + j)] = scr[2, r] * tans[U(x + j)]


@njit(**_HELPER)
def _support_binary_tangent(vals, rows, book, tans, k, o, ao, bo, yo, da, db, act_a, act_b,
                            run, scr):
    for s in range(0, run.size, TILE):
        m = min(TILE, run.size - s)
        _binary_derivs_at(o, vals, ao, bo, yo, da, db, run[s:], yo, m, scr)
        for r in range(m):
            i = run[s + r] - yo
            ia, ib = _at(rows, book, ao + i * da) * k, _at(rows, book, bo + i * db) * k
            y = rows[U(yo + i)] * k
            for j in range(k):
                v = 0.0
                if act_a:
                    v += scr[0, r] * tans[U(ia + j)]
                if act_b:
                    v += scr[1, r] * tans[U(ib + j)]
                tans[U(y + j)] = v


@njit(**_HELPER)
def _push(q, v, m, k, rows, book, adjt, owner, ahead, anext, apos, na):
    """Add v[r] (k values each, at v[r * k:]) to the second-order cotangents of positions
    q[r], r < m, chaining each to its owner's run the first time; returns the chains'
    length. (Buffered: a call per element, with its arrays' reference counts, cost ten
    times the update.)"""
    for r in range(m):
        p = q[r]
        x = _mark(rows, book, p, 2)
        if x & 1:
            u = owner[p] - 1
            apos[na] = p
            anext[na] = ahead[u]
            ahead[u] = na
            na += 1
        x = (x >> 1) * k
        for j in range(k):
            adjt[U(x + j)] += v[U(r * k + j)]
    return na


@njit(**_JIT)
def support_adjoint_tangent(T, S, vals, ivals, rows, book, tans, adjt, adj, k, tlist, tbeg, ahead,
                            anext, apos, scr, idx, kv):
    """The second-order cotangents of k directions over their support (the reverse of
    support_tangent, whose runs and rows it reads). adj holds every position's
    first-order cotangent (kept). On exit the inputs' chain (ahead[0]) lists the
    positions of the Hessian column's non-zeros, their rows of adjt holding them.
    Returns the number of chained positions. scr: (8, TILE) floats, idx: (3, TILE)
    ints, kv: (2, TILE * k) floats."""
    (op, out, a, b, c, pi, fp, iw, off, size, sact, ipool, cpos, fpool, pact, tused,
     gzero) = unpack(T)
    owner, key_beg, keys_, val_beg, vals_, src_beg, src_run = S
    ahead[:] = -1
    na = ZERO     # (a literal 0 would compile _push once more)
    pq, pv = idx[1], kv[0]          # pushes buffered for _push
    for t in range(op.size - 1, -1, -1):
        y = out[t]
        if not sact[y] or size[y] == 0:
            continue
        o = op[t]
        u = t + 1
        yo, n = off[y], size[y]
        if o < BINARY_END:
            # the elements whose operands take a second-order cotangent: the result's own
            # (chained), and where an operand's tangent is non-zero (not for linear ops)
            els = idx[0]
            ao = off[a[t]]
            if o < UNARY_END:
                rule = (o, fp[t], ao, ao, yo, ONE, ONE, YES, NO)
            else:
                rule = (o, fp[t], ao, off[b[t]], yo, 1 if size[a[t]] == n else 0,
                        1 if size[b[t]] == n else 0, sact[a[t]], sact[b[t]])
            e, r, r1 = ahead[u], tbeg[u], tbeg[u] if _linear(o) else tbeg[u + 1]
            m = ZERO
            while e >= 0 or r < r1:     # the chain, then the tangent run's other elements
                if e >= 0:
                    els[m] = apos[e] - yo
                    e = anext[e]
                    m += 1
                elif (book[_at(rows, book, tlist[r])] & 2) == 0:
                    els[m] = tlist[r] - yo
                    r += 1
                    m += 1
                else:
                    r += 1
                if m == TILE or m > 0 and e < 0 and r >= r1:
                    na = _support_elementwise(rule, vals, rows, book, tans, adjt, adj, k, owner,
                                              ahead, anext, apos, na, idx, m, scr, kv)
                    m = ZERO
        elif o == MATMUL:
            if ahead[u] >= 0 or tbeg[u + 1] > tbeg[u]:
                na = _support_matmul_adjoint(vals, ivals, rows, book, tans, adjt, adj, k, ipool,
                                             pi[t], off[a[t]], off[b[t]], yo, size[a[t]],
                                             size[b[t]], n, sact[a[t]], sact[b[t]], owner,
                                             ahead, anext, apos, na, pq, pv)
        elif o == SUMALL:
            if ahead[u] >= 0:
                w = rows[U(yo)] * k
                for j in range(k):
                    pv[j::k] = adjt[U(w + j)]
                    adjt[U(w + j)] = 0.0
                na = _push_range(off[a[t]], size[a[t]], k, pq, pv, rows, book, adjt, owner,
                                 ahead, anext, apos, na)
        else:       # linear maps of the result's own second-order cotangents
            xo = off[a[t]]
            if o == SCATTER:
                k0, g0 = key_beg[t], val_beg[t]
            m = ZERO
            e = ahead[u]
            while e >= 0:
                p = apos[e]
                e = anext[e]
                i = p - yo
                src, h0, h1 = 0, 0, 1   # where it goes: src, or SCATTER's inputs h0..h1
                if o == GATHER:
                    src = ipool[pi[t] + i]
                    if not pact[src]:
                        h1 = 0
                elif o == SCATTER:
                    h0, h1 = keys_[k0 + i], keys_[k0 + i + 1]
                elif o == WHERE:
                    da = 1 if size[a[t]] == n else 0
                    db = 1 if size[b[t]] == n else 0
                    dc = 1 if size[c[t]] == n else 0
                    if vals[off[c[t]] + i * dc] != 0.0:
                        src = xo + i * da
                        if not sact[a[t]]:
                            h1 = 0
                    else:
                        src = off[b[t]] + i * db
                        if not sact[b[t]]:
                            h1 = 0
                else:   # MAXRED, MINRED, SORT
                    src = xo + ivals[iw[t] + i]
                w = rows[U(p)] * k
                for h in range(h0, h1):
                    if m == TILE:
                        na = _push(pq, pv, m, k, rows, book, adjt, owner, ahead, anext, apos,
                                   na)
                        m = ZERO
                    pq[m] = xo + vals_[g0 + h] if o == SCATTER else src
                    for j in range(k):
                        pv[U(m * k + j)] = adjt[U(w + j)]
                    m += 1
                for j in range(k):
                    adjt[U(w + j)] = 0.0
                if m == TILE:
                    na = _push(pq, pv, m, k, rows, book, adjt, owner, ahead, anext, apos, na)
                    m = ZERO
            na = _push(pq, pv, m, k, rows, book, adjt, owner, ahead, anext, apos, na)
    return na


@njit(**_HELPER)
def _push_range(q0, count, k, pq, pv, rows, book, adjt, owner, ahead, anext, apos, na):
    """_push of positions q0..q0+count, each adding the same k values (pv filled in)."""
    for s in range(0, count, TILE):
        m = min(TILE, count - s)
        for r in range(m):
            pq[r] = q0 + s + r
        na = _push(pq, pv, m, k, rows, book, adjt, owner, ahead, anext, apos, na)
    return na


@njit(**_HELPER)
def _support_matmul_adjoint(vals, ivals, rows, book, tans, adjt, adj, k, ipool, q, ao, bo, yo,
                            na_, nb_, n, act_a, act_b, owner, ahead, anext, apos, na, pq, pv):
    """A product's second-order rules, every active operand position pushed: the operands
    side by side (_side_by_side), the result's cotangents after them, for _matmul_adjoint
    and _matmul_cross."""
    co = na_ + nb_
    v, d = _side_by_side(vals, ivals, ipool, q, rows, book, tans, k, ao, bo, na_, nb_, ZERO)
    g = np.empty(co + n)                # first-order cotangents: the result's are read
    _copy(g[co:], adj[yo:yo + n])
    dg = np.zeros((co + n) * k)
    _to_dense(rows, book, adjt, k, yo, n, dg, co)
    _matmul_adjoint(v, v, dg, k, ipool, q, ZERO, na_, co, act_a, act_b, ZERO)
    _matmul_cross(v, d, g, dg, k, ipool, q, ZERO, na_, co, act_a, act_b)
    for i in range(n):
        w = _at(rows, book, yo + i) * k
        for j in range(k):
            adjt[U(w + j)] = 0.0
    if act_a:
        na = _push_dense(dg, ZERO, ao, na_, k, pq, pv, rows, book, adjt, owner, ahead, anext,
                         apos, na)
    if act_b:
        na = _push_dense(dg, na_, bo, nb_, k, pq, pv, rows, book, adjt, owner, ahead, anext,
                         apos, na)
    return na


@njit(**_HELPER)
def _push_dense(d, o0, p0, count, k, pq, pv, rows, book, adjt, owner, ahead, anext, apos, na):
    """_push of positions p0..p0+count, adding d's k values at (o0 + i) * k."""
    for s in range(0, count, TILE):
        m = min(TILE, count - s)
        for r in range(m):
            pq[r] = p0 + s + r
            for j in range(k):
                pv[U(r * k + j)] = d[U((o0 + s + r) * k + j)]
        na = _push(pq, pv, m, k, rows, book, adjt, owner, ahead, anext, apos, na)
    return na


@njit(**_HELPER)
def _support_elementwise(rule, vals, rows, book, tans, adjt, adj, k, owner, ahead, anext, apos, na,
                         idx, m, scr, kv):
    """The second-order rule of an elementwise instruction at its elements idx[0, :m];
    rule = (opcode, parameter, operand offsets a, b, result offset, a and b full (1) or
    broadcast (0), a and b active): scalars, so a call costs no reference counts. An
    element not chained has no second-order cotangent: the first partials, which would
    meet its zeros (infinite ones: NaN), are left out there (as Tape.gzero's are)."""
    o, p, ao, bo, yo, da, db, act_a, act_b = rule
    linear = _linear(o)
    els, pq = idx[0], idx[1]
    if o < UNARY_END:
        _unary_derivs_at(o, p, vals, ao, yo, els, ZERO, m, scr)
        d1, d2, pv = scr[2], scr[3], kv[0]
        for r in range(m):
            i = els[r]
            g = adj[yo + i]
            y, x = rows[U(yo + i)], _at(rows, book, ao + i) * k
            d = d1[r] if book[y] & 2 else 0.0
            y *= k
            for j in range(k):
                v = d * adjt[U(y + j)]
                adjt[U(y + j)] = 0.0
                if not linear:
                    v += d2[r] * g * tans[U(x + j)]
                pv[U(r * k + j)] = v
            pq[r] = ao + i
        return _push(pq, pv, m, k, rows, book, adjt, owner, ahead, anext, apos, na)
    _binary_derivs_at(o, vals, ao, bo, yo, da, db, els, ZERO, m, scr)
    qb, va, vb = idx[2], kv[0], kv[1]
    for r in range(m):
        i = els[r]
        g = adj[yo + i]
        y = rows[U(yo + i)]
        pa, pb = (scr[0, r], scr[1, r]) if book[y] & 2 else (0.0, 0.0)
        y *= k
        ia, ib = _at(rows, book, ao + i * da) * k, _at(rows, book, bo + i * db) * k
        for j in range(k):
            gt = adjt[U(y + j)]
            adjt[U(y + j)] = 0.0
            ta = tans[U(ia + j)] if act_a else 0.0
            tb = tans[U(ib + j)] if act_b else 0.0
            v_a = pa * gt
            v_b = pb * gt
            if linear:
                pass
            elif act_a and act_b:
                v_a += (scr[2, r] * ta + scr[3, r] * tb) * g
                v_b += (scr[3, r] * ta + scr[4, r] * tb) * g
            elif act_a:     # an inactive operand's partials may be NaN: left out
                v_a += scr[2, r] * ta * g
            else:
                v_b += scr[4, r] * tb * g
            va[U(r * k + j)] = v_a
            vb[U(r * k + j)] = v_b
        pq[r], qb[r] = ao + i * da, bo + i * db
    if act_a:
        na = _push(pq, va, m, k, rows, book, adjt, owner, ahead, anext, apos, na)
    if act_b:
        na = _push(qb, vb, m, k, rows, book, adjt, owner, ahead, anext, apos, na)
    return na


@njit(**_JIT)
def support_hessian(T, S, vals, ivals, adj, starts, k, n_dirs, H, rows, book, tans, adjt,
                    tlist, tbeg, ahead, anext, apos):
    """H[:, d] for the directions d of the chunks d0..d0+k-1 (d0 in starts, d < n_dirs):
    the Hessian's columns of the output whose first-order cotangents adj holds (kept),
    a chunk at a time over its support, in the compact buffers (rows, book, tans, adjt:
    see above) and lists of a thread's workspace; tans and adjt are zero on entry and
    left so. Returns the positions the chunks reached (tangents and second-order
    cotangents). Threads run it on disjoint chunks (supports.py): Numba's parallel
    build of this loop ran each chunk 1.7x slower."""
    T, vals, ivals, adj, starts, H = (_borrowed(T), _borrowed(vals), _borrowed(ivals),
                                      _borrowed(adj), _borrowed(starts), _borrowed(H))
    S = (_borrowed(S[0]), _borrowed(S[1]), _borrowed(S[2]), _borrowed(S[3]), _borrowed(S[4]),
         _borrowed(S[5]), _borrowed(S[6]))
    rows, book, tans, adjt = _borrowed(rows), _borrowed(book), _borrowed(tans), _borrowed(adjt)
    tlist, tbeg, ahead, anext, apos = (_borrowed(tlist), _borrowed(tbeg), _borrowed(ahead),
                                       _borrowed(anext), _borrowed(apos))
    scr = _scratch(8, TILE)
    idx = np.empty((3, TILE), np.int64)
    kv = np.empty((2, TILE * k))
    reach = 0
    for ci in range(starts.size):
        d0 = starts[ci]
        nv = min(k, n_dirs - d0)
        book[0] = 1 << 2        # one row in use: row 0
        tbeg[0], tbeg[1] = 0, nv
        for j in range(nv):
            tlist[j] = d0 + j
            w = _mark(rows, book, d0 + j, 1) >> 1
            tans[U(w * k + j)] = 1.0
        L = support_tangent(T, S, vals, ivals, rows, book, tans, k, tlist, tbeg, scr)
        na = support_adjoint_tangent(T, S, vals, ivals, rows, book, tans, adjt, adj, k, tlist, tbeg,
                                     ahead, anext, apos, scr, idx, kv)
        e = ahead[0]
        while e >= 0:
            p = apos[e]
            w = rows[U(p)] * k
            for j in range(nv):
                H[p, U(d0 + j)] = adjt[U(w + j)]
            e = anext[e]
        for i in range((book[0] >> 2) * k):     # the rows zeros again for the next chunk
            tans[i] = 0.0
            adjt[i] = 0.0
        reach += L + na
    return reach


# ---------------------------------------------------------------- drivers over chunks
@njit(**_HELPER)
def _to_columns(buf, k, nv, n, out, c0):
    """out[i, c0 + j] = buf[i * k + j] for i < n, j < nv: a chunk's results, element by
    element with their k directions side by side, as columns of out. One direction takes
    a flat loop (an inner loop of trip count 1 cost 1-4 ns an element: 0.13-0.2 ms at
    n = 10^5, against 0.02); several go row by row (column by column read buf with
    stride k: 6x slower at k = 500)."""
    if nv == 1:
        for i in range(n):
            out[i, c0] = buf[U(i * k)]
        return
    for i in range(n):
        for j in range(nv):
            out[i, U(c0 + j)] = buf[U(i * k + j)]


# Each driver runs its chunks round-robin on `nthreads` workers, worker w using row w of
# the workspaces. Every chunk has the same width k (the last one padded with empty
# directions), so a workspace keeps one layout for good. Workspaces are zero where the
# sweeps expect zeros when handed in, and are left so: tangent overwrites every active
# slot it does not skip (and no rule reads the ones a Hessian skips), the reverse sweeps
# clear what they consume, and the drivers clear the input rows they seeded or read.
# Inactive slots are never touched, so their pages are never mapped.

def _hessian_chunks(T, vals, ivals, n_in, out_off, out_size, W, colors, V, n_dirs, starts,
                    k, lower, ws_tans, ws_adj, ws_adjt, B):
    """B[w, :, d] = H_w @ s_d for every cotangent row w of W, where H_w is the Hessian of
    <W[w], f> and the seed s_d is column d of V when V has columns (hvp: one direction),
    else has ones at the inputs j with colors[j] == d (a basis vector when colors =
    arange(n)). One tangent sweep per chunk of seeds, then one second-order adjoint sweep
    per cotangent. lower (basis seeds only): each chunk's products leave out the rows
    above its diagonal block, and the upper triangle is copied from the lower once all
    chunks have run (H_w is symmetric): about half the work of a tape bound by its
    products."""
    T, vals, ivals, W, colors, V, starts = (_borrowed(T), _borrowed(vals), _borrowed(ivals),
                                            _borrowed(W), _borrowed(colors), _borrowed(V),
                                            _borrowed(starts))
    ws_tans, ws_adj, ws_adjt, B = (_borrowed(ws_tans), _borrowed(ws_adj),
                                   _borrowed(ws_adjt), _borrowed(B))
    nchunks = starts.size
    nthreads = ws_tans.shape[0]
    for tid in prange(nthreads):
        tans, adj, adjt = ws_tans[tid], ws_adj[tid], ws_adjt[tid]
        for r in range(tid, nchunks + nthreads - 1, nthreads):
            # r = round * nthreads + tid, every other round in reverse: lower's chunks
            # shrink as they go (no arithmetic on tid: prange's index is unsigned)
            ci = r if r // nthreads % 2 == 0 else r + nthreads - 1 - 2 * (r % nthreads)
            if ci >= nchunks:
                continue
            d0 = starts[ci]
            nv = min(k, n_dirs - d0)
            tans[:n_in * k] = 0.0
            if V.shape[1] > 0:     # seeds by direction: long inner loops (hvp: nv = 1)
                for d in range(nv):
                    for j in range(n_in):
                        tans[U(j * k + d)] = V[j, U(d0 + d)]
            else:
                for j in range(n_in):
                    d = colors[j] - d0
                    if d >= 0 and d < nv:
                        tans[j * k + d] = 1.0
            tangent(T, vals, ivals, tans, k, NO, ZERO, ALL)
            lo = d0 if lower else 0
            for w in range(W.shape[0]):
                _copy(adj[out_off:out_off + out_size], W[w])
                adjoint_tangent(T, vals, ivals, tans, adj, adjt, k, n_in, lo, ZERO, ALL)
                _to_columns(adjt[lo * k:], k, nv, n_in - lo, B[w, lo:], d0)
                adjt[:n_in * k] = 0.0
                adj[:n_in] = 0.0
    if lower:
        for ci in prange(nchunks):
            _mirror(B, starts[ci], min(starts[ci] + k, n_dirs))


@njit(**_HELPER)
def _mirror(B, d0, d1):
    """B[w, j, d] = B[w, d, j] for the columns d0 <= d < d1 and the rows j < d above
    them (the result exactly symmetric), in blocks of rows (a column's elements lie a
    row apart)."""
    for w in range(B.shape[0]):
        for j0 in range(0, d1, 32):
            for d in range(max(d0, j0 + 1), d1):
                for j in range(j0, min(j0 + 32, d)):
                    B[w, j, d] = B[w, d, j]


def _jacobian_chunks(T, vals, ivals, n_in, out_off, out_size, starts, k, reverse, ws, J):
    """J (out_size, n_in) by chunks of k basis directions, forward or reverse."""
    T, vals, ivals, starts, ws, J = (_borrowed(T), _borrowed(vals), _borrowed(ivals),
                                     _borrowed(starts), _borrowed(ws), _borrowed(J))
    nchunks = starts.size
    nthreads = ws.shape[0]
    ncols = out_size if reverse else n_in
    for tid in prange(nthreads):
        buf = ws[tid]
        for ci in range(tid, nchunks, nthreads):
            j0 = starts[ci]
            nv = min(k, ncols - j0)
            if reverse:
                for jj in range(nv):
                    buf[(out_off + j0 + jj) * k + jj] = 1.0
                adjoint(T, vals, ivals, buf, k, NO, buf[:0], ZERO, ALL)
                for i in range(n_in):
                    for jj in range(nv):
                        J[U(j0 + jj), i] = buf[U(i * k + jj)]
                buf[:n_in * k] = 0.0
                buf[out_off * k:(out_off + out_size) * k] = 0.0   # seeds of a constant output
            else:
                buf[:n_in * k] = 0.0
                for jj in range(nv):
                    buf[(j0 + jj) * k + jj] = 1.0
                tangent(T, vals, ivals, buf, k, YES, ZERO, ALL)
                _to_columns(buf[out_off * k:], k, nv, out_size, J, j0)


def _named(fn, name, **replace):
    """fn under another name, and with the globals in `replace` replaced. Numba's on-disk
    cache keys a function by its qualified name, so a serial and a parallel compile of one
    body need names of their own, or whichever is cached first is loaded for both (the
    parallel one costs milliseconds a call)."""
    fn = getattr(fn, "py_func", fn)     # a compiled kernel's Python function
    code = fn.__code__.replace(co_name=name, co_qualname=name)
    glob = dict(fn.__globals__, **replace) if replace else fn.__globals__
    named = types.FunctionType(code, glob, name, fn.__defaults__, fn.__closure__)
    named.__qualname__ = name
    return named


def _kernel_set(suffix, **flags):
    """The sweeps and drivers compiled with the global `flags` replaced (LINALG = False,
    PRODUCTS = False prune those rules), each named with `suffix`."""
    sweeps = {name: njit(**_JIT)(_named(globals()[name], name + suffix, **flags))
              for name in ("forward", "tangent", "adjoint", "adjoint_tangent")}
    called = {name: sweeps[name] for name in ("tangent", "adjoint", "adjoint_tangent")}
    chunks = {}
    for name, body in (("hessian_chunks", _hessian_chunks),
                       ("jacobian_chunks", _jacobian_chunks)):
        chunks[name + "_serial"] = njit(**_JIT)(
            _named(body, f"{name}_serial{suffix}", **called))
        chunks[name + "_parallel"] = njit(parallel=True, **_JIT)(
            _named(body, f"{name}_parallel{suffix}", **called))
    kernels = types.SimpleNamespace(**sweeps, **chunks)
    for name in DIRECT:
        setattr(kernels, "direct_" + name, direct(
            getattr(kernels, name), functools.partial(setattr, kernels, "direct_" + name)))
    return kernels


# the kernels the drivers call directly (jit.direct) where they pass their own buffers
DIRECT = ("forward", "tangent", "adjoint", "adjoint_tangent", "hessian_chunks_serial",
          "jacobian_chunks_serial")


# The kernels the drivers run on a tape: Tape.kernels is one of these. A tape compiles
# only the rules its instructions need: FULL with linear algebra, PLAIN (no LINALG_OPS)
# with matrix products, LEAN with neither.
FULL = _kernel_set("")
PLAIN = _kernel_set("_plain", LINALG=False)
LEAN = _kernel_set("_lean", LINALG=False, PRODUCTS=False)
