"""The interpreter: every opcode and every Numba sweep over a tape, in one module.

Numba's on-disk cache watches only this file, so every constant a kernel reads lives here.

Layout of the work buffers: ``vals`` holds one float64 per element of every slot; a
buffer of ``k`` directions (``tans``, ``adj`` with k cotangents, ``adjt``) holds slot
element ``e`` of direction ``j`` at ``e * k + j`` ("direction innermost"), so an
elementwise rule computes its derivative once and applies it to ``k`` contiguous values,
and a matrix product over ``k`` directions is one BLAS call.

The tape is the tuple ``T`` built by ``Tape.arrays``:
``(op, out, a, b, c, pi, fp, iw, off, size, sact, ipool, cpos, fpool, pact)``;
``sact`` and ``pact`` mark the active slots and buffer positions.
"""
import math

import numpy as np
from numba import njit, prange

_JIT = dict(cache=True, error_model="numpy", nogil=True)

LN2 = math.log(2.0)
LN10 = math.log(10.0)

# ---------------------------------------------------------------- opcodes
# Unary elementwise ops: y = f(x; p) with p the instruction's float parameter.
NEG, EXP, EXP2, EXPM1, LOG, LOG2, LOG10, LOG1P = 0, 1, 2, 3, 4, 5, 6, 7
SQRT, CBRT, SQUARE, RECIP, SIN, COS, TAN, ARCSIN = 8, 9, 10, 11, 12, 13, 14, 15
ARCCOS, ARCTAN, SINH, COSH, TANH, ARCSINH, ARCCOSH, ARCTANH = 16, 17, 18, 19, 20, 21, 22, 23
ABS, POWC, ADDC, MULC, RSUBC, RDIVC, DIVC, RPOWC = 24, 25, 26, 27, 28, 29, 30, 31
# non-differentiable unary ops (their instructions are never active)
SIGN, FLOOR, CEIL, RINT, TRUNC, ROUNDC, ISNAN, ISINF = 40, 41, 42, 43, 44, 45, 46, 47
ISFINITE, NOT = 48, 49
UNARY_END = 50
# Binary elementwise ops: y = f(a, b); an operand of size 1 is broadcast.
ADD, SUB, MUL, DIV, POW, ARCTAN2, HYPOT, LOGADDEXP = 50, 51, 52, 53, 54, 55, 56, 57
LOGADDEXP2, MAXIMUM, MINIMUM, FMAX, FMIN = 58, 59, 60, 61, 62
# non-differentiable binary ops
LT, LE, GT, GE, EQ, NE, AND, OR, XOR = 70, 71, 72, 73, 74, 75, 76, 77, 78
BINARY_END = 80
WHERE = 80      # y = c ? a : b                 (a, b, c slots; size-1 operands broadcast)
GATHER = 81     # y[i] = buf[ipool[pi + i]]     (absolute buffer positions: any number of sources)
SCATTER = 82    # y[ipool[pi + i]] += x[i]      (sums over axes)
SUMALL = 83     # y[0] = sum(x)
MATMUL = 84     # batched (m, p) @ (p, q); ipool[pi:pi+4] = batch, m, p, q
MAXRED = 85     # y[g] = max over {i : ipool[pi+i] == g} of x[i]; argmax kept in ivals[iw:]
MINRED = 86     # as MAXRED with min
SORT = 87       # rows of length ipool[pi] sorted; permutation kept in ivals[iw:]


# ---------------------------------------------------------------- the rule table
@njit(**_JIT)
def _pow(x, p):
    """x ** p, by multiplication for small integer p (libm's pow is ~10x slower)."""
    if p == 2.0: return x * x
    if p == 3.0: return x * x * x
    if p == 4.0:
        s = x * x
        return s * s
    if p == 1.0: return x
    if p == 0.0: return 1.0
    if p == -1.0: return 1.0 / x
    if p == -2.0: return 1.0 / (x * x)
    return x ** p


@njit(**_JIT)
def unary_value(o, x, p):
    if o == NEG: return -x
    if o == EXP: return math.exp(x)
    if o == EXP2: return 2.0 ** x
    if o == EXPM1: return math.expm1(x)
    if o == LOG: return np.log(x)
    if o == LOG2: return np.log2(x)
    if o == LOG10: return np.log10(x)
    if o == LOG1P: return np.log1p(x)
    if o == SQRT: return np.sqrt(x)
    if o == CBRT: return np.cbrt(x)
    if o == SQUARE: return x * x
    if o == RECIP: return 1.0 / x
    if o == SIN: return math.sin(x)
    if o == COS: return math.cos(x)
    if o == TAN: return math.tan(x)
    if o == ARCSIN: return np.arcsin(x)
    if o == ARCCOS: return np.arccos(x)
    if o == ARCTAN: return math.atan(x)
    if o == SINH: return np.sinh(x)
    if o == COSH: return np.cosh(x)
    if o == TANH: return math.tanh(x)
    if o == ARCSINH: return np.arcsinh(x)
    if o == ARCCOSH: return np.arccosh(x)
    if o == ARCTANH: return np.arctanh(x)
    if o == ABS: return abs(x)
    if o == POWC: return _pow(x, p)
    if o == ADDC: return x + p
    if o == MULC: return x * p
    if o == RSUBC: return p - x
    if o == RDIVC: return p / x
    if o == DIVC: return x / p
    if o == RPOWC: return p ** x
    if o == SIGN: return np.sign(x)
    if o == FLOOR: return np.floor(x)
    if o == CEIL: return np.ceil(x)
    if o == RINT: return np.rint(x)
    if o == TRUNC: return np.trunc(x)
    if o == ROUNDC: return np.round(x * 10.0 ** p) / 10.0 ** p
    if o == ISNAN: return 1.0 if np.isnan(x) else 0.0
    if o == ISINF: return 1.0 if np.isinf(x) else 0.0
    if o == ISFINITE: return 1.0 if np.isfinite(x) else 0.0
    if o == NOT: return 1.0 if x == 0.0 else 0.0
    return np.nan


@njit(**_JIT)
def unary_derivs(o, x, y, p):
    """(dy/dx, d2y/dx2), reusing the value y where that is cheaper."""
    if o == NEG: return -1.0, 0.0
    if o == EXP: return y, y
    if o == EXP2: return y * LN2, y * LN2 * LN2
    if o == EXPM1: return y + 1.0, y + 1.0
    if o == LOG: return 1.0 / x, -1.0 / (x * x)
    if o == LOG2: return 1.0 / (x * LN2), -1.0 / (x * x * LN2)
    if o == LOG10: return 1.0 / (x * LN10), -1.0 / (x * x * LN10)
    if o == LOG1P:
        r = 1.0 / (1.0 + x)
        return r, -r * r
    if o == SQRT: return 0.5 / y, -0.25 / (y * y * y)
    if o == CBRT: return 1.0 / (3.0 * y * y), -2.0 / (9.0 * y ** 5)
    if o == SQUARE: return 2.0 * x, 2.0
    if o == RECIP: return -y * y, 2.0 * y * y * y
    if o == SIN: return math.cos(x), -y
    if o == COS: return -math.sin(x), -y
    if o == TAN: return 1.0 + y * y, 2.0 * y * (1.0 + y * y)
    if o == ARCSIN:
        r = 1.0 / (1.0 - x * x)
        return np.sqrt(r), x * r * np.sqrt(r)
    if o == ARCCOS:
        r = 1.0 / (1.0 - x * x)
        return -np.sqrt(r), -x * r * np.sqrt(r)
    if o == ARCTAN:
        r = 1.0 / (1.0 + x * x)
        return r, -2.0 * x * r * r
    if o == SINH: return np.cosh(x), y
    if o == COSH: return np.sinh(x), y
    if o == TANH: return 1.0 - y * y, -2.0 * y * (1.0 - y * y)
    if o == ARCSINH:
        r = 1.0 / (x * x + 1.0)
        return np.sqrt(r), -x * r * np.sqrt(r)
    if o == ARCCOSH:
        r = 1.0 / (x * x - 1.0)
        return np.sqrt(r), -x * r * np.sqrt(r)
    if o == ARCTANH:
        r = 1.0 / (1.0 - x * x)
        return r, 2.0 * x * r * r
    if o == ABS: return np.sign(x), 0.0
    if o == POWC:
        if p == 0.0: return 0.0, 0.0
        if p == 1.0: return 1.0, 0.0
        return p * _pow(x, p - 1.0), p * (p - 1.0) * _pow(x, p - 2.0)
    if o == ADDC: return 1.0, 0.0
    if o == MULC: return p, 0.0
    if o == RSUBC: return -1.0, 0.0
    if o == RDIVC: return -y / x, 2.0 * y / (x * x)
    if o == DIVC: return 1.0 / p, 0.0
    if o == RPOWC:
        lp = np.log(p)
        return y * lp, y * lp * lp
    return 0.0, 0.0


@njit(**_JIT)
def binary_value(o, a, b):
    if o == ADD: return a + b
    if o == SUB: return a - b
    if o == MUL: return a * b
    if o == DIV: return a / b
    if o == POW: return a ** b
    if o == ARCTAN2: return math.atan2(a, b)
    if o == HYPOT: return np.hypot(a, b)
    if o == LOGADDEXP: return np.logaddexp(a, b)
    if o == LOGADDEXP2: return np.logaddexp2(a, b)
    if o == MAXIMUM: return np.maximum(a, b)
    if o == MINIMUM: return np.minimum(a, b)
    if o == FMAX: return np.fmax(a, b)
    if o == FMIN: return np.fmin(a, b)
    if o == LT: return 1.0 if a < b else 0.0
    if o == LE: return 1.0 if a <= b else 0.0
    if o == GT: return 1.0 if a > b else 0.0
    if o == GE: return 1.0 if a >= b else 0.0
    if o == EQ: return 1.0 if a == b else 0.0
    if o == NE: return 1.0 if a != b else 0.0
    if o == AND: return 1.0 if (a != 0.0 and b != 0.0) else 0.0
    if o == OR: return 1.0 if (a != 0.0 or b != 0.0) else 0.0
    if o == XOR: return 1.0 if ((a != 0.0) != (b != 0.0)) else 0.0
    return np.nan


@njit(**_JIT)
def _select(a, b, y):
    """Derivative weights of a max/min that returned y: ties split evenly, NaN picks its source."""
    if a == b: return 0.5, 0.5
    if y == a or (np.isnan(y) and np.isnan(a)): return 1.0, 0.0
    return 0.0, 1.0


@njit(**_JIT)
def binary_derivs(o, a, b, y):
    """(fa, fb, faa, fab, fbb)."""
    if o == ADD: return 1.0, 1.0, 0.0, 0.0, 0.0
    if o == SUB: return 1.0, -1.0, 0.0, 0.0, 0.0
    if o == MUL: return b, a, 0.0, 1.0, 0.0
    if o == DIV:
        r = 1.0 / b
        return r, -y * r, 0.0, -r * r, 2.0 * y * r * r
    if o == POW:
        la = np.log(a)
        am1 = a ** (b - 1.0)
        return b * am1, y * la, b * (b - 1.0) * a ** (b - 2.0), am1 * (1.0 + b * la), y * la * la
    if o == ARCTAN2:
        r = 1.0 / (a * a + b * b)
        return b * r, -a * r, -2.0 * a * b * r * r, (a * a - b * b) * r * r, 2.0 * a * b * r * r
    if o == HYPOT:
        r3 = 1.0 / (y * y * y)
        return a / y, b / y, b * b * r3, -a * b * r3, a * a * r3
    if o == LOGADDEXP or o == LOGADDEXP2:
        s = LN2 if o == LOGADDEXP2 else 1.0
        sa = math.exp((a - y) * s)
        sb = math.exp((b - y) * s)
        c = s * sa * sb
        return sa, sb, c, -c, c
    if o == MAXIMUM or o == MINIMUM or o == FMAX or o == FMIN:
        wa, wb = _select(a, b, y)
        return wa, wb, 0.0, 0.0, 0.0
    return 0.0, 0.0, 0.0, 0.0, 0.0


# ---------------------------------------------------------------- forward
@njit(**_JIT)
def forward(T, vals, ivals):
    """Values of every slot; also the value-dependent index maps (argmax, sort order)."""
    op, out, a, b, c, pi, fp, iw, off, size, sact, ipool, cpos, fpool, pact = T
    for i in range(cpos.size):
        vals[cpos[i]] = fpool[i]
    for t in range(op.size):
        o = op[t]
        yo = off[out[t]]
        n = size[out[t]]
        if o < UNARY_END:
            xo = off[a[t]]
            p = fp[t]
            for i in range(n):
                vals[yo + i] = unary_value(o, vals[xo + i], p)
        elif o < BINARY_END:
            ao, bo = off[a[t]], off[b[t]]
            da = 1 if size[a[t]] == n else 0
            db = 1 if size[b[t]] == n else 0
            for i in range(n):
                vals[yo + i] = binary_value(o, vals[ao + i * da], vals[bo + i * db])
        elif o == WHERE:
            ao, bo, co = off[a[t]], off[b[t]], off[c[t]]
            da = 1 if size[a[t]] == n else 0
            db = 1 if size[b[t]] == n else 0
            dc = 1 if size[c[t]] == n else 0
            for i in range(n):
                if vals[co + i * dc] != 0.0:
                    vals[yo + i] = vals[ao + i * da]
                else:
                    vals[yo + i] = vals[bo + i * db]
        elif o == GATHER:
            q = pi[t]
            for i in range(n):
                vals[yo + i] = vals[ipool[q + i]]
        elif o == SCATTER:
            xo, q = off[a[t]], pi[t]
            vals[yo:yo + n] = 0.0
            for i in range(size[a[t]]):
                vals[yo + ipool[q + i]] += vals[xo + i]
        elif o == SUMALL:
            xo = off[a[t]]
            s = 0.0
            for i in range(size[a[t]]):
                s += vals[xo + i]
            vals[yo] = s
        elif o == MATMUL:
            _matmul_forward(vals, ipool, pi[t], off[a[t]], off[b[t]], yo)
        elif o == MAXRED or o == MINRED:
            _extreme_forward(vals, ivals, ipool, pi[t], iw[t], off[a[t]], size[a[t]], yo, n,
                             o == MAXRED)
        elif o == SORT:
            xo, w, L = off[a[t]], iw[t], ipool[pi[t]]
            for r in range(n // L):
                perm = np.argsort(vals[xo + r * L:xo + (r + 1) * L], kind="mergesort")
                for i in range(L):
                    ivals[w + r * L + i] = r * L + perm[i]
                    vals[yo + r * L + i] = vals[xo + r * L + perm[i]]


@njit(**_JIT)
def _matmul_forward(vals, ipool, q, ao, bo, co):
    nb, m, p, r = ipool[q], ipool[q + 1], ipool[q + 2], ipool[q + 3]
    for s in range(nb):
        A = vals[ao + s * m * p:ao + (s + 1) * m * p].reshape((m, p))
        B = vals[bo + s * p * r:bo + (s + 1) * p * r].reshape((p, r))
        vals[co + s * m * r:co + (s + 1) * m * r] = np.dot(A, B).ravel()


@njit(**_JIT)
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
def tangent(T, vals, ivals, tans, k):
    """Push k tangent directions forward. Tangents of inactive slots must be zero on entry."""
    op, out, a, b, c, pi, fp, iw, off, size, sact, ipool, cpos, fpool, pact = T
    for t in range(op.size):
        y = out[t]
        if not sact[y]:
            continue
        o = op[t]
        yo = off[y]
        n = size[y]
        if o < UNARY_END:
            xo = off[a[t]]
            p = fp[t]
            for i in range(n):
                d1, d2 = unary_derivs(o, vals[xo + i], vals[yo + i], p)
                for j in range(k):
                    tans[(yo + i) * k + j] = d1 * tans[(xo + i) * k + j]
        elif o < BINARY_END:
            ao, bo = off[a[t]], off[b[t]]
            da = 1 if size[a[t]] == n else 0
            db = 1 if size[b[t]] == n else 0
            act_a, act_b = sact[a[t]], sact[b[t]]
            for i in range(n):
                ia, ib = ao + i * da, bo + i * db
                fa, fb, faa, fab, fbb = binary_derivs(o, vals[ia], vals[ib], vals[yo + i])
                for j in range(k):
                    s = 0.0
                    if act_a:
                        s += fa * tans[ia * k + j]
                    if act_b:
                        s += fb * tans[ib * k + j]
                    tans[(yo + i) * k + j] = s
        elif o == WHERE:
            ao, bo, co = off[a[t]], off[b[t]], off[c[t]]
            da = 1 if size[a[t]] == n else 0
            db = 1 if size[b[t]] == n else 0
            dc = 1 if size[c[t]] == n else 0
            for i in range(n):
                src = ao + i * da if vals[co + i * dc] != 0.0 else bo + i * db
                for j in range(k):
                    tans[(yo + i) * k + j] = tans[src * k + j]
        elif o == GATHER:
            q = pi[t]
            for i in range(n):
                src = ipool[q + i]
                for j in range(k):
                    tans[(yo + i) * k + j] = tans[src * k + j]
        elif o == SCATTER:
            xo, q = off[a[t]], pi[t]
            tans[yo * k:(yo + n) * k] = 0.0
            for i in range(size[a[t]]):
                dst = yo + ipool[q + i]
                for j in range(k):
                    tans[dst * k + j] += tans[(xo + i) * k + j]
        elif o == SUMALL:
            xo = off[a[t]]
            tans[yo * k:(yo + 1) * k] = 0.0
            for i in range(size[a[t]]):
                for j in range(k):
                    tans[yo * k + j] += tans[(xo + i) * k + j]
        elif o == MATMUL:
            _matmul_tangent(vals, tans, k, ipool, pi[t], off[a[t]], off[b[t]], yo,
                            sact[a[t]], sact[b[t]])
        else:  # MAXRED, MINRED, SORT: a gather through the forward sweep's index map
            xo, w = off[a[t]], iw[t]
            for i in range(n):
                src = xo + ivals[w + i]
                for j in range(k):
                    tans[(yo + i) * k + j] = tans[src * k + j]


@njit(**_JIT)
def _matmul_tangent(vals, tans, k, ipool, q, ao, bo, co, act_a, act_b):
    nb, m, p, r = ipool[q], ipool[q + 1], ipool[q + 2], ipool[q + 3]
    for s in range(nb):
        A = vals[ao + s * m * p:ao + (s + 1) * m * p].reshape((m, p))
        B = vals[bo + s * p * r:bo + (s + 1) * p * r].reshape((p, r))
        c0 = (co + s * m * r) * k
        dC = tans[c0:c0 + m * r * k].reshape((m, r * k))
        if act_b:
            b0 = (bo + s * p * r) * k
            dC[:, :] = np.dot(A, tans[b0:b0 + p * r * k].reshape((p, r * k)))
        else:
            dC[:, :] = 0.0
        if act_a:
            a0 = (ao + s * m * p) * k
            dA = tans[a0:a0 + m * p * k].reshape((m, p, k))
            BT = B.T
            for i in range(m):
                dC[i, :] += np.dot(BT, dA[i]).ravel()


# ---------------------------------------------------------------- adjoint (k cotangents)
@njit(**_JIT)
def adjoint(T, vals, ivals, adj, k):
    """Pull k cotangents back; adj holds the output cotangents on entry and zeros at every
    other active slot. Each instruction clears its result's cotangents once it has pulled
    them back, so on exit adj is zero again at active slots except the inputs, and a
    workspace is reused without clearing it whole."""
    op, out, a, b, c, pi, fp, iw, off, size, sact, ipool, cpos, fpool, pact = T
    for t in range(op.size - 1, -1, -1):
        y = out[t]
        if not sact[y]:
            continue
        o = op[t]
        yo = off[y]
        n = size[y]
        if o < UNARY_END:
            xo = off[a[t]]
            p = fp[t]
            for i in range(n):
                d1, d2 = unary_derivs(o, vals[xo + i], vals[yo + i], p)
                for j in range(k):
                    adj[(xo + i) * k + j] += d1 * adj[(yo + i) * k + j]
        elif o < BINARY_END:
            ao, bo = off[a[t]], off[b[t]]
            da = 1 if size[a[t]] == n else 0
            db = 1 if size[b[t]] == n else 0
            act_a, act_b = sact[a[t]], sact[b[t]]
            for i in range(n):
                ia, ib = ao + i * da, bo + i * db
                fa, fb, faa, fab, fbb = binary_derivs(o, vals[ia], vals[ib], vals[yo + i])
                for j in range(k):
                    g = adj[(yo + i) * k + j]
                    if act_a:
                        adj[ia * k + j] += fa * g
                    if act_b:
                        adj[ib * k + j] += fb * g
        elif o == WHERE:
            _where_adjoint(vals, adj, k, off[a[t]], off[b[t]], off[c[t]], yo, n,
                           size[a[t]] == n, size[b[t]] == n, size[c[t]] == n, sact[a[t]],
                           sact[b[t]])
        elif o == GATHER:
            _gather_adjoint(adj, k, ipool, pi[t], 0, yo, n, pact)
        elif o == SCATTER:
            xo, q = off[a[t]], pi[t]
            for i in range(size[a[t]]):
                src = yo + ipool[q + i]
                for j in range(k):
                    adj[(xo + i) * k + j] += adj[src * k + j]
        elif o == SUMALL:
            xo = off[a[t]]
            for i in range(size[a[t]]):
                for j in range(k):
                    adj[(xo + i) * k + j] += adj[yo * k + j]
        elif o == MATMUL:
            _matmul_adjoint(vals, adj, k, ipool, pi[t], off[a[t]], off[b[t]], yo,
                            sact[a[t]], sact[b[t]])
        else:  # MAXRED, MINRED, SORT
            _gather_adjoint(adj, k, ivals, iw[t], off[a[t]], yo, n, pact)
        adj[yo * k:(yo + n) * k] = 0.0


@njit(**_JIT)
def _gather_adjoint(adj, k, idx, q, base, yo, n, pact):
    # constant sources (zero fill, constants in a concatenation) take no cotangent
    for i in range(n):
        dst = base + idx[q + i]
        if pact[dst]:
            for j in range(k):
                adj[dst * k + j] += adj[(yo + i) * k + j]


@njit(**_JIT)
def _where_adjoint(vals, adj, k, ao, bo, co, yo, n, fa, fb, fc, act_a, act_b):
    da = 1 if fa else 0
    db = 1 if fb else 0
    dc = 1 if fc else 0
    for i in range(n):
        take_a = vals[co + i * dc] != 0.0
        if take_a and not act_a or not take_a and not act_b:
            continue
        dst = ao + i * da if take_a else bo + i * db
        for j in range(k):
            adj[dst * k + j] += adj[(yo + i) * k + j]


@njit(**_JIT)
def _matmul_adjoint(vals, adj, k, ipool, q, ao, bo, co, act_a, act_b):
    """aA += aC @ B^T and aB += A^T @ aC, for k cotangents."""
    nb, m, p, r = ipool[q], ipool[q + 1], ipool[q + 2], ipool[q + 3]
    for s in range(nb):
        A = vals[ao + s * m * p:ao + (s + 1) * m * p].reshape((m, p))
        B = vals[bo + s * p * r:bo + (s + 1) * p * r].reshape((p, r))
        c0 = (co + s * m * r) * k
        aC = adj[c0:c0 + m * r * k].reshape((m, r * k))
        if act_b:
            b0 = (bo + s * p * r) * k
            aB = adj[b0:b0 + p * r * k].reshape((p, r * k))
            aB += np.dot(A.T, aC)
        if act_a:
            a0 = (ao + s * m * p) * k
            aA = adj[a0:a0 + m * p * k].reshape((m, p * k))
            aC3 = aC.reshape((m, r, k))
            for i in range(m):
                aA[i, :] += np.dot(B, aC3[i]).ravel()


# ---------------------------------------------------------------- second-order adjoint
@njit(**_JIT)
def adjoint_tangent(T, vals, ivals, tans, adj, adjt, k):
    """The reverse sweep differentiated along k tangent directions (forward-over-reverse).

    adj (one cotangent) and adjt (its k tangents) hold the output seeds on entry and zeros
    at every other active slot; on exit adjt at the inputs holds k columns of the Hessian
    of <adj_out, f>, and both are zero again at the other active slots (as in adjoint).
    """
    op, out, a, b, c, pi, fp, iw, off, size, sact, ipool, cpos, fpool, pact = T
    for t in range(op.size - 1, -1, -1):
        y = out[t]
        if not sact[y]:
            continue
        o = op[t]
        yo = off[y]
        n = size[y]
        if o < UNARY_END:
            xo = off[a[t]]
            p = fp[t]
            for i in range(n):
                d1, d2 = unary_derivs(o, vals[xo + i], vals[yo + i], p)
                g = adj[yo + i]
                adj[xo + i] += d1 * g
                for j in range(k):
                    adjt[(xo + i) * k + j] += d1 * adjt[(yo + i) * k + j] + \
                        d2 * g * tans[(xo + i) * k + j]
        elif o < BINARY_END:
            ao, bo = off[a[t]], off[b[t]]
            da = 1 if size[a[t]] == n else 0
            db = 1 if size[b[t]] == n else 0
            act_a, act_b = sact[a[t]], sact[b[t]]
            for i in range(n):
                ia, ib = ao + i * da, bo + i * db
                fa, fb, faa, fab, fbb = binary_derivs(o, vals[ia], vals[ib], vals[yo + i])
                g = adj[yo + i]
                if act_a:
                    adj[ia] += fa * g
                if act_b:
                    adj[ib] += fb * g
                for j in range(k):
                    # terms of an inactive operand are left out, not multiplied by a zero
                    # tangent: its partials may be NaN (log of a negative constant base)
                    gt = adjt[(yo + i) * k + j]
                    if act_a and act_b:
                        ta, tb = tans[ia * k + j], tans[ib * k + j]
                        adjt[ia * k + j] += fa * gt + (faa * ta + fab * tb) * g
                        adjt[ib * k + j] += fb * gt + (fab * ta + fbb * tb) * g
                    elif act_a:
                        adjt[ia * k + j] += fa * gt + faa * tans[ia * k + j] * g
                    else:
                        adjt[ib * k + j] += fb * gt + fbb * tans[ib * k + j] * g
        elif o == WHERE:
            fa, fb, fc = size[a[t]] == n, size[b[t]] == n, size[c[t]] == n
            aa, ab = sact[a[t]], sact[b[t]]
            _where_adjoint(vals, adj, 1, off[a[t]], off[b[t]], off[c[t]], yo, n, fa, fb, fc,
                           aa, ab)
            _where_adjoint(vals, adjt, k, off[a[t]], off[b[t]], off[c[t]], yo, n, fa, fb, fc,
                           aa, ab)
        elif o == GATHER:
            _gather_adjoint(adj, 1, ipool, pi[t], 0, yo, n, pact)
            _gather_adjoint(adjt, k, ipool, pi[t], 0, yo, n, pact)
        elif o == SCATTER:
            xo, q = off[a[t]], pi[t]
            for i in range(size[a[t]]):
                src = yo + ipool[q + i]
                adj[xo + i] += adj[src]
                for j in range(k):
                    adjt[(xo + i) * k + j] += adjt[src * k + j]
        elif o == SUMALL:
            xo = off[a[t]]
            for i in range(size[a[t]]):
                adj[xo + i] += adj[yo]
                for j in range(k):
                    adjt[(xo + i) * k + j] += adjt[yo * k + j]
        elif o == MATMUL:
            _matmul_adjoint(vals, adj, 1, ipool, pi[t], off[a[t]], off[b[t]], yo,
                            sact[a[t]], sact[b[t]])
            _matmul_adjoint(vals, adjt, k, ipool, pi[t], off[a[t]], off[b[t]], yo,
                            sact[a[t]], sact[b[t]])
            _matmul_cross(vals, tans, adj, adjt, k, ipool, pi[t], off[a[t]], off[b[t]], yo,
                          sact[a[t]], sact[b[t]])
        else:  # MAXRED, MINRED, SORT
            _gather_adjoint(adj, 1, ivals, iw[t], off[a[t]], yo, n, pact)
            _gather_adjoint(adjt, k, ivals, iw[t], off[a[t]], yo, n, pact)
        adj[yo:yo + n] = 0.0
        adjt[yo * k:(yo + n) * k] = 0.0


@njit(**_JIT)
def _matmul_cross(vals, tans, adj, adjt, k, ipool, q, ao, bo, co, act_a, act_b):
    """The bilinear terms: d(aA) += aC @ dB^T and d(aB) += dA^T @ aC."""
    nb, m, p, r = ipool[q], ipool[q + 1], ipool[q + 2], ipool[q + 3]
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


# ---------------------------------------------------------------- drivers over chunks
# Each driver runs its chunks round-robin on `nthreads` workers, worker w using row w of
# the workspaces. Every chunk has the same width k (the last one padded with empty
# directions), so a workspace keeps one layout for good. Workspaces are zero where the
# sweeps expect zeros when handed in, and are left so: tangent overwrites every active
# slot, the reverse sweeps clear what they consume, and the drivers clear the input rows
# they seeded or read. Inactive slots are never touched, so their pages are never mapped.

def _hessian_chunks(T, vals, ivals, n_in, out_off, out_size, W, colors, n_dirs, starts, k,
                    ws_tans, ws_adj, ws_adjt, B):
    """B[w, :, d] = H_w @ s_d for every cotangent row w of W, where H_w is the Hessian of
    <W[w], f> and the seed s_d has ones at the inputs j with colors[j] == d (a basis
    vector when colors = arange(n)). One tangent sweep per chunk of seeds, then one
    second-order adjoint sweep per cotangent."""
    nchunks = starts.size
    nthreads = ws_tans.shape[0]
    for tid in prange(nthreads):
        tans, adj, adjt = ws_tans[tid], ws_adj[tid], ws_adjt[tid]
        for ci in range(tid, nchunks, nthreads):
            d0 = starts[ci]
            nv = min(k, n_dirs - d0)
            tans[:n_in * k] = 0.0
            for j in range(n_in):
                d = colors[j] - d0
                if d >= 0 and d < nv:
                    tans[j * k + d] = 1.0
            tangent(T, vals, ivals, tans, k)
            for w in range(W.shape[0]):
                adj[out_off:out_off + out_size] = W[w]
                adjoint_tangent(T, vals, ivals, tans, adj, adjt, k)
                for i in range(n_in):
                    for jj in range(nv):
                        B[w, i, d0 + jj] = adjt[i * k + jj]
                adjt[:n_in * k] = 0.0
                adj[:n_in] = 0.0


def _jacobian_chunks(T, vals, ivals, n_in, out_off, out_size, starts, k, reverse, ws, J):
    """J (out_size, n_in) by chunks of k basis directions, forward or reverse."""
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
                adjoint(T, vals, ivals, buf, k)
                for i in range(n_in):
                    for jj in range(nv):
                        J[j0 + jj, i] = buf[i * k + jj]
                buf[:n_in * k] = 0.0
                buf[out_off * k:(out_off + out_size) * k] = 0.0   # seeds of a constant output
            else:
                buf[:n_in * k] = 0.0
                for jj in range(nv):
                    buf[(j0 + jj) * k + jj] = 1.0
                tangent(T, vals, ivals, buf, k)
                for i in range(out_size):
                    for jj in range(nv):
                        J[i, j0 + jj] = buf[(out_off + i) * k + jj]


hessian_chunks_serial = njit(**_JIT)(_hessian_chunks)
hessian_chunks_parallel = njit(parallel=True, **_JIT)(_hessian_chunks)
jacobian_chunks_serial = njit(**_JIT)(_jacobian_chunks)
jacobian_chunks_parallel = njit(parallel=True, **_JIT)(_jacobian_chunks)
