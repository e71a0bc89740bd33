"""Lowering: build tape instructions (and the trace-point value) for each primitive.

Every function takes Tracers or constants and returns a Tracer. Structural operations are
all one GATHER whose index map is found by applying the NumPy operation itself to the
array of buffer positions, so their semantics are NumPy's by construction.
"""
import numpy as np
import scipy.sparse as sp

from . import kernels as K
from .tracer import Tracer, lift, positions, builder_of


def _new(b, op, value, args=(), **kw):
    return Tracer(b, b.emit(op, value, [t.slot for t in args], **kw), value)


# ---------------------------------------------------------------- structure
def restructure(t, fn):
    """Apply a purely structural NumPy function `fn` (slicing, transpose, ...) to t."""
    pos = fn(positions(t))
    return view(t, gather(t.b, pos, t.active), fn)


def layout(t):
    """An index array with the strides of t's memory: NumPy's own function applied to it
    says whether it would return a view of t or a copy."""
    return t.map if t.base is not None else np.arange(t.size).reshape(t.shape)


def view(t, r, fn):
    """r = fn(t), made a view of t's memory when NumPy's fn returns a view (asked of
    layout(t))."""
    probe = layout(t)
    m = fn(probe)
    if isinstance(m, np.ndarray) and m.size and np.may_share_memory(m, probe):
        r.base = t if t.base is None else t.base
        r.map, r.ver = m, r.base.writes
        r.readonly = t.readonly or not m.flags.writeable
    return r


def gather(b, pos, active):
    pos = np.asarray(pos)
    value = b.buf[pos.ravel()].reshape(pos.shape)
    return Tracer(b, b.gather(pos, active), value)


def reshape(t, shape):
    return view(t, Tracer(t.b, t.slot, t.value.reshape(shape)), lambda p: p.reshape(shape))


def broadcast_to(t, shape):
    shape = tuple(shape)
    if t.shape == shape:
        return t
    return restructure(t, lambda p: np.broadcast_to(p, shape))


def transpose(t, axes=None):
    if t.ndim < 2 or (axes is not None and list(axes) == list(range(t.ndim))):
        return t
    return restructure(t, lambda p: np.transpose(p, axes))


def concatenate(b, parts, axis=0):
    parts = [lift(b, p) for p in parts]
    pos = np.concatenate([positions(p) for p in parts], axis=axis)
    return gather(b, pos, any(p.active for p in parts))


def setitem(t, key, value):
    """A new Tracer equal to t with t[key] = value (NumPy assignment semantics), its
    gather not made until its slot is asked for (Tracer.pending)."""
    b = t.b
    value = lift(b, value)
    pos = positions(t)
    pos[key] = positions(value)
    return Tracer(b, None, b.buf[pos.ravel()].reshape(pos.shape),
                  (pos, t.active or value.active))


def pack(b, objects):
    """An object ndarray holding Tracers and numbers becomes one Tracer."""
    flat = [lift(b, e) for e in objects.ravel()]
    for e in flat:
        if e.size != 1:
            raise ValueError("numhess: np.array() of traced arrays of different sizes is not "
                             "supported; use np.stack or np.concatenate")
    pos = np.array([positions(e).ravel()[0] for e in flat], dtype=np.int64)
    return gather(b, pos.reshape(objects.shape), any(e.active for e in flat))


# ---------------------------------------------------------------- elementwise
def unary(op, t, value, p=0.0, differentiable=True):
    return _new(t.b, op, np.asarray(value, dtype=float if differentiable else value.dtype),
                (t,), fp=p, active=None if differentiable else False)


def binary(op, x, y, value, differentiable=True):
    b = builder_of(x, y)
    x, y = lift(b, x), lift(b, y)
    value = np.asarray(value)
    args = []
    for t in (x, y):
        if t.size not in (1, value.size):
            t = broadcast_to(t, value.shape)
        args.append(t)
    if differentiable:
        value = value.astype(float)
    return _new(b, op, value, args, active=None if differentiable else False)


def where(cond, x, y):
    b = builder_of(cond, x, y)
    cond, x, y = lift(b, cond), lift(b, x), lift(b, y)
    value = np.where(cond.value, x.value, y.value).astype(float)
    args = [t if t.size in (1, value.size) else broadcast_to(t, value.shape)
            for t in (x, y, cond)]
    return _new(b, K.WHERE, value, args)


# ---------------------------------------------------------------- reductions
def _axes(t, axis):
    if axis is None or t.ndim == 0 and np.ndim(axis) == 0 and axis in (0, -1):
        return tuple(range(t.ndim))     # NumPy accepts axis 0 and -1 on 0-d arrays
    axis = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    return tuple(sorted(_norm(axis, t.ndim)))


def _norm(axis, ndim):
    out = []
    for a in axis:
        a = int(a)
        if not -ndim <= a < ndim:
            raise np.exceptions.AxisError(a, ndim)
        out.append(a % ndim)
    return tuple(out)


def _groups(t, axes):
    """For a reduction over `axes`: output shape (keepdims) and each input's output index."""
    kshape = tuple(1 if i in axes else s for i, s in enumerate(t.shape))
    out_idx = np.arange(int(np.prod(kshape))).reshape(kshape)
    return kshape, np.broadcast_to(out_idx, t.shape)


def _finish_reduction(r, t, axes, keepdims):
    if keepdims:
        return r
    return reshape(r, tuple(s for i, s in enumerate(t.shape) if i not in axes))


def sum_(t, axis=None, keepdims=False):
    axes = _axes(t, axis)
    value = np.sum(t.value, axis=axes, keepdims=True).astype(float)
    if value.size == 1:     # one sum (the axes left have length 1): no index map to pass
        r = _new(t.b, K.SUMALL, value, (t,))
    else:
        r = _new(t.b, K.SCATTER, value, (t,), ints=_groups(t, axes)[1])
    return _finish_reduction(r, t, axes, keepdims)


def extreme(t, axis=None, keepdims=False, is_max=True):
    axes = _axes(t, axis)
    if t.size == 0:
        raise ValueError("zero-size array to reduction operation %s which has no identity"
                         % ("maximum" if is_max else "minimum"))
    kshape, idx = _groups(t, axes)
    value = (np.max if is_max else np.min)(t.value, axis=axes, keepdims=True)
    r = _new(t.b, K.MAXRED if is_max else K.MINRED, value, (t,), ints=idx,
             ivals=int(np.prod(kshape)))
    return _finish_reduction(r, t, axes, keepdims)


def sort(t, axis=-1):
    if axis is None:
        t, axis = reshape(t, (-1,)), 0
    axis = _norm((axis,), t.ndim)[0]
    moved = transpose(t, [i for i in range(t.ndim) if i != axis] + [axis])
    L = t.shape[axis]
    value = np.sort(moved.value, axis=-1, kind="stable")
    r = _new(t.b, K.SORT, value, (moved,), ints=[max(L, 1)], ivals=t.size)
    back = list(range(t.ndim - 1))
    back.insert(axis, t.ndim - 1)
    return transpose(r, back)


def _shifted(t, axis, d, fill):
    """t shifted by d along axis, the first d entries taken from the constant `fill`."""
    b = t.b
    pos = positions(t)
    src = np.take(pos, np.arange(t.shape[axis]) - d, axis=axis)
    head = [slice(None)] * t.ndim
    head[axis] = slice(0, d)
    src[tuple(head)] = positions(lift(b, np.full(1, float(fill)))).ravel()[0]
    return gather(b, src, t.active)


def cumulative(t, axis, ufunc, identity):
    """ufunc.accumulate (add: cumsum, multiply: cumprod, maximum, minimum) by Hillis-Steele
    doubling: log2(n) gathers and ufunc calls."""
    if axis is None or t.ndim == 0:
        t, axis = reshape(t, (-1,)), (0 if axis is None else axis)
    axis = _norm((axis,), t.ndim)[0]
    d = 1
    while d < t.shape[axis]:
        t = ufunc(t, _shifted(t, axis, d, identity))
        d *= 2
    return t


def prod(t, axis=None, keepdims=False):
    """Product over axes by pairwise halving: exact derivatives also where entries are 0."""
    axes = _axes(t, axis)
    keep = [i for i in range(t.ndim) if i not in axes]
    n = int(np.prod([t.shape[a] for a in axes]))
    kshape = tuple(1 if i in axes else s for i, s in enumerate(t.shape))
    m = transpose(t, keep + list(axes))
    m = reshape(m, (int(np.prod(kshape)), n))
    if n == 0:
        return _finish_reduction(reshape(lift(t.b, np.ones(kshape)), kshape), t, axes, keepdims)
    while m.shape[1] > 1:
        h = m.shape[1] // 2
        pos = positions(m)
        left = gather(t.b, pos[:, :h], m.active)
        right = gather(t.b, pos[:, h:2 * h], m.active)
        pr = left * right
        if m.shape[1] % 2:
            pr = concatenate(t.b, [pr, gather(t.b, pos[:, 2 * h:], m.active)], axis=1)
        m = pr
    return _finish_reduction(reshape(m, kshape), t, axes, keepdims)


# ---------------------------------------------------------------- products
SMALL_BLOCK = 64     # multiply-adds of a batched product's block: below, elementwise


def matmul(x, y):
    if sp.issparse(x) or sp.issparse(y):
        return sparse_matmul(x, y)
    b = builder_of(x, y)
    x, y = lift(b, x), lift(b, y)
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError("matmul: Input operand does not have enough dimensions")
    xv, yv = x.ndim == 1, y.ndim == 1
    if xv:
        x = reshape(x, (1,) + x.shape)
    if yv:
        y = reshape(y, y.shape + (1,))
    m, p = x.shape[-2:]
    p2, q = y.shape[-2:]
    if p != p2:
        raise ValueError("matmul: Input operand 1 has a mismatch in its core dimension 0 "
                         f"(size {p2} is different from {p})")
    batch = np.broadcast_shapes(x.shape[:-2], y.shape[:-2])
    if p == 0:      # sums of no terms
        return lift(b, np.zeros(batch + ((m,) if not xv else ()) + ((q,) if not yv else ())))
    x = broadcast_to(x, batch + (m, p))
    y = broadcast_to(y, batch + (p, q))
    shape = batch + ((m,) if not xv else ()) + ((q,) if not yv else ())
    if m == 1 and q == 1:
        # dot products: a product and a sum, whose rules are elementwise (the product's
        # rules for a (1, p) @ (p, 1) took 9x as long: an HVP of x @ x at p = 160,000
        # 5.2 ms against 0.6 for np.sum(x * x))
        d = np.sum(reshape(x, batch + (p,)) * reshape(y, batch + (p,)), axis=-1)
        return reshape(d, shape)
    nb = int(np.prod(batch))
    if nb > 1 and m * p * q <= SMALL_BLOCK:
        # many small blocks (an element's gradient matrix times its nodes' values):
        # products and a sum too, as the product's rules call BLAS block by block (3042
        # (2, 3) @ (3, 1) blocks: gradient 0.70 ms, HVP 1.6, against 0.05 and 0.08 by JAX)
        d = np.sum(reshape(x, batch + (m, p, 1)) * reshape(y, batch + (1, p, q)), axis=-2)
        return reshape(d, shape)
    value = np.matmul(x.value, y.value).astype(float)
    # the last two: where a parameter operand is read in place (tape._read_in_place)
    r = _new(b, K.MATMUL, value, (x, y), ints=[nb, m, p, q, -1, -1])
    return reshape(r, shape)


def tensordot(x, y, axes=2):
    b = builder_of(x, y)
    x, y = lift(b, x), lift(b, y)
    if np.ndim(axes) == 0:
        ax_x = list(range(x.ndim - int(axes), x.ndim))
        ax_y = list(range(int(axes)))
    else:
        ax_x, ax_y = axes
        ax_x = [ax_x] if np.ndim(ax_x) == 0 else list(ax_x)
        ax_y = [ax_y] if np.ndim(ax_y) == 0 else list(ax_y)
    ax_x = [a % x.ndim for a in ax_x]
    ax_y = [a % y.ndim for a in ax_y]
    if [x.shape[a] for a in ax_x] != [y.shape[a] for a in ax_y]:
        raise ValueError("shape-mismatch for sum")
    free_x = [i for i in range(x.ndim) if i not in ax_x]
    free_y = [i for i in range(y.ndim) if i not in ax_y]
    kdim = int(np.prod([x.shape[a] for a in ax_x]))
    shape = tuple(x.shape[i] for i in free_x) + tuple(y.shape[i] for i in free_y)
    if kdim == 0:       # sums of no terms
        return lift(b, np.zeros(shape))
    X = reshape(transpose(x, free_x + ax_x), (-1, kdim))
    Y = reshape(transpose(y, ax_y + free_y), (kdim, -1))
    return reshape(matmul(X, Y), shape)


def sparse_matmul(x, y):
    """x @ y with one a constant scipy.sparse matrix, the other traced (1-D or 2-D): each
    stored entry times the entries it meets (a gather), summed by row (a scatter), so the
    tape grows with the non-zeros, not with the matrix."""
    if sp.issparse(y):                  # x @ A == (A^T @ x^T)^T
        r = sparse_matmul(y.T, transpose(lift(builder_of(x), x)))
        return transpose(r)
    A, b = sp.csr_array(x), builder_of(y)
    y = lift(b, y)
    if A.ndim != 2 or y.ndim not in (1, 2):
        raise NotImplementedError("numhess: products of a scipy.sparse matrix with a traced "
                                  "array of more than two dimensions")
    if A.dtype.kind not in "biuf":
        raise TypeError(f"numhess: a scipy.sparse matrix of dtype {A.dtype}")
    m, n = A.shape
    if y.shape[0] != n:
        raise ValueError(f"matmul: dimension mismatch with signature (n,k={n}),"
                         f"(k={y.shape[0]},m)->(n,m)")
    k = 1 if y.ndim == 1 else y.shape[1]
    terms = reshape(y, (n, k))[A.indices] * A.data.astype(float)[:, None]
    rows = np.repeat(np.arange(m), np.diff(A.indptr))
    r = scatter_sum(terms, (rows[:, None] * k + np.arange(k)).ravel(), m * k)
    return reshape(r, (m,) if y.ndim == 1 else (m, k))


def scatter_sum(t, groups, size):
    """r[groups[i]] += t.flat[i] into `size` zeros: one SCATTER."""
    value = np.bincount(groups, weights=t.value.ravel(), minlength=size).astype(float)
    return _new(t.b, K.SCATTER, value, (t,), ints=groups)


def dot(x, y):
    if sp.issparse(x) or sp.issparse(y):
        return sparse_matmul(x, y)
    b = builder_of(x, y)
    x, y = lift(b, x), lift(b, y)
    if x.ndim == 0 or y.ndim == 0:
        return x * y
    if y.ndim == 1:
        return tensordot(x, y, ([-1], [0]))
    return tensordot(x, y, ([-1], [-2]))
