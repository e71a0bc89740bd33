"""NumPy functions (``__array_function__``) on traced values, lowered to primitives."""
import math

import numpy as np

from . import factorizations as F
from . import linalg, padding
from . import lower as L
from .einsum import einsum
from .tracer import Tracer, TraceError, builder_of, converter_hint, lift, positions

HANDLED = {}


def implements(*funcs):
    def register(impl):
        for f in funcs:
            HANDLED[f] = impl
        return impl
    return register


def _t(x, *others):
    """x as a Tracer of the trace the call belongs to."""
    return lift(builder_of(x, *others), x)


def structural(func):
    """A function that only moves elements: applied to the positions, it is the gather."""
    HANDLED[func] = lambda a, *args, **kw: L.restructure(_t(a), lambda p: func(p, *args, **kw))


def zero_filling(func):
    """A function that moves elements and fills the rest with zeros (triu, diag, pad)."""
    def impl(a, *args, **kw):
        t = _t(a)
        moved = func(positions(t) + 1, *args, **kw)
        zero = t.b.off[t.b.zero]
        return L.gather(t.b, np.where(moved == 0, zero, moved - 1), t.active)
    HANDLED[func] = impl


for _f in (np.transpose, np.swapaxes, np.moveaxis, np.expand_dims, np.squeeze,
           np.broadcast_to, np.flip, np.fliplr, np.flipud, np.roll, np.repeat, np.tile,
           np.diagonal, np.take, np.atleast_1d, np.atleast_2d, np.atleast_3d, np.rot90,
           np.take_along_axis, np.delete, np.resize,
           np.lib.stride_tricks.sliding_window_view,
           *[getattr(np, name) for name in ("matrix_transpose",) if hasattr(np, name)]):
    structural(_f)
for _f in (np.triu, np.tril, np.diag, np.diagflat):
    zero_filling(_f)


def _memory(t):
    """t's flat indices in an array with the strides NumPy's t has, so NumPy's orders 'K'
    and 'A' applied to it are t's. Known for an array of one dimension and for views of
    one (x.reshape(3, 4).T): numhess does not follow the memory order NumPy gives other
    results (a ufunc's of a transposed operand is Fortran's): refused, as is a broadcast
    (zero strides: no one memory order)."""
    strides = L.layout(t).strides if (t if t.base is None else t.base).ndim <= 1 else None
    if strides is None or any(s == 0 and d > 1 for s, d in zip(strides, t.shape)):
        raise NotImplementedError(
            "numhess: order 'K' or 'A' of an array whose memory order numhess does not "
            "follow (of more than one dimension, not a view of a 1-D one, or broadcast); "
            "give the order ('C' or 'F')")
    step = [s // 8 for s in strides]
    lo = sum(s * (d - 1) for s, d in zip(step, t.shape) if s < 0)
    hi = sum(s * (d - 1) for s, d in zip(step, t.shape) if s > 0)
    cells = np.empty(hi - lo + 1, np.int64)
    probe = np.lib.stride_tricks.as_strided(cells[-lo:], t.shape, strides)
    probe[...] = np.arange(t.size).reshape(t.shape)
    return probe


def _in_order(t):
    """'C' or 'F' for NumPy's order 'A' (and 'K' of a contiguous array) of t."""
    flags = _memory(t).flags
    return "F" if flags.f_contiguous and not flags.c_contiguous else "C"


@implements(np.reshape)
def _reshape(a, shape=None, order="C", **kw):
    t = _t(a)
    if order == "K":
        raise ValueError("order 'K' is not permitted for reshaping")
    if order == "A":
        order = _in_order(t)
    if order != "C":
        return L.restructure(t, lambda p: np.reshape(p, shape, order=order))
    return L.reshape(t, kw.get("newshape", shape))


@implements(np.ravel)
def _ravel(a, order="C"):
    """In order 'K' (as the elements lie in NumPy's memory) or 'A', by the strides
    NumPy's t has."""
    t = _t(a)
    if order == "K" and t.size:
        return L.gather(t.b, positions(t).ravel()[np.ravel(_memory(t), "K")], t.active)
    if order == "A" and t.size:
        order = _in_order(t)
    return L.restructure(t, lambda p: np.ravel(p, order))


@implements(np.shape)
def _shape(a):
    return a.shape


@implements(np.ndim)
def _ndim(a):
    return a.ndim


@implements(np.size)
def _size(a, axis=None):
    return a.size if axis is None else a.shape[axis]


@implements(np.copy)
def _copy(a, *args, **kw):
    return _t(a).copy()


@implements(np.copyto)
def _copyto(dst, src, casting="same_kind", where=True):
    if not isinstance(dst, Tracer):
        dst[...] = src       # a traced src into a NumPy array: Tracer refuses, clearly
    elif where is True:
        dst[...] = src
    else:
        dst[...] = np.where(where, src, dst)


@implements(np.common_type)
def _common_type(*arrays):
    # (what scipy.sparse asks first of the data of a matrix it builds: sp.diags(k))
    raise TraceError("numhess: a scipy.sparse matrix of traced values (sp.diags(k), "
                     "sp.coo_matrix((k, (i, j)))) cannot be traced: a sparse matrix's "
                     "values must be constants. Write its product with a gather and "
                     "np.add.at or np.bincount, or as a dense matrix." + converter_hint())


@implements(np.iscomplexobj)
def _iscomplexobj(a):
    return False


@implements(np.real)
def _real(a):
    return a


@implements(np.imag)
def _imag(a):
    return np.zeros(np.shape(a))      # traced values are real (complex ones are refused)


@implements(np.isreal)
def _isreal(a):
    return np.ones(np.shape(a), bool)


@implements(np.iscomplex)
def _iscomplex(a):
    return np.zeros(np.shape(a), bool)


@implements(np.triu_indices_from)
def _triu_indices_from(arr, k=0):
    return np.triu_indices_from(arr.value, k)     # (of its shape alone)


@implements(np.tril_indices_from)
def _tril_indices_from(arr, k=0):
    return np.tril_indices_from(arr.value, k)


@implements(np.diag_indices_from)
def _diag_indices_from(arr):
    return np.diag_indices_from(arr.value)


@implements(np.result_type)
def _result_type(*arrays_and_dtypes):
    return np.result_type(*(a.value if isinstance(a, Tracer) else a
                            for a in arrays_and_dtypes))


@implements(np.concatenate)
def _concatenate(arrays, axis=0, **kw):
    b = builder_of(arrays)
    if axis is None:
        arrays = [np.ravel(lift(b, a)) for a in arrays]
        axis = 0
    return L.concatenate(b, arrays, axis)


@implements(np.stack)
def _stack(arrays, axis=0, **kw):
    b = builder_of(arrays)
    parts = [lift(b, a) for a in arrays]
    pos = np.stack([positions(p) for p in parts], axis=axis)
    return L.gather(b, pos, any(p.active for p in parts))


@implements(np.hstack)
def _hstack(arrays, **kw):
    b = builder_of(arrays)
    parts = [np.atleast_1d(lift(b, a)) for a in arrays]
    return L.concatenate(b, parts, 0 if parts[0].ndim == 1 else 1)


@implements(np.vstack)
def _vstack(arrays, **kw):
    b = builder_of(arrays)
    return L.concatenate(b, [np.atleast_2d(lift(b, a)) for a in arrays], 0)


@implements(np.column_stack)
def _column_stack(arrays):
    b = builder_of(arrays)
    parts = [lift(b, a) for a in arrays]
    parts = [np.reshape(p, (-1, 1)) if p.ndim < 2 else p for p in parts]
    return L.concatenate(b, parts, 1)


@implements(np.append)
def _append(arr, values, axis=None):
    b = builder_of(arr, values)
    if axis is None:
        return L.concatenate(b, [np.ravel(lift(b, arr)), np.ravel(lift(b, values))], 0)
    return L.concatenate(b, [arr, values], axis)


def _splitter(split):
    """The pieces are views, as NumPy's are."""
    def impl(ary, *args, **kw):
        t = _t(ary)
        k = len(split(positions(t), *args, **kw))
        return [L.restructure(t, lambda p, i=i: split(p, *args, **kw)[i]) for i in range(k)]
    HANDLED[split] = impl


for _f in (np.split, np.array_split, np.hsplit, np.vsplit, np.dsplit):
    _splitter(_f)


@implements(np.pad)
def _pad(array, pad_width, mode="constant", **kw):
    return padding.pad(_t(array), pad_width, mode, kw)


@implements(np.diff)
def _diff(a, n=1, axis=-1, prepend=None, append=None):
    t = _t(a, prepend, append)
    b = t.b
    if prepend is not None or append is not None:
        axis_ = axis % t.ndim
        parts = []
        for extra in (prepend, t, append):
            if extra is None:
                continue
            e = lift(b, extra)
            if e.ndim == 0 or e is not t and e.ndim < t.ndim:
                shape = list(t.shape)
                shape[axis_] = 1
                e = L.broadcast_to(e, tuple(shape))
            parts.append(e)
        t = L.concatenate(b, parts, axis_)
    for _ in range(n):
        m = t.shape[axis]
        t = np.take(t, np.arange(1, m), axis=axis) - np.take(t, np.arange(m - 1), axis=axis)
    return t


@implements(np.ediff1d)
def _ediff1d(ary, to_end=None, to_begin=None):
    t = L.reshape(_t(ary, to_end, to_begin), (-1,))
    parts = [lift(t.b, e).reshape(-1) for e in (to_begin, t[1:] - t[:-1], to_end)
             if e is not None]
    return np.concatenate(parts)


@implements(np.trace)
def _trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    return np.sum(np.diagonal(a, offset, axis1, axis2), axis=-1)


# ---------------------------------------------------------------- constructors
@implements(np.zeros_like, np.empty_like)
def _zeros_like(a, dtype=None, order="K", subok=True, shape=None, **kw):
    return lift(builder_of(a), np.zeros(a.shape if shape is None else shape, dtype=dtype))


@implements(np.ones_like)
def _ones_like(a, dtype=None, order="K", subok=True, shape=None, **kw):
    return lift(builder_of(a), np.ones(a.shape if shape is None else shape, dtype=dtype))


@implements(np.full_like)
def _full_like(a, fill_value, dtype=None, order="K", subok=True, shape=None, **kw):
    shape = a.shape if shape is None else shape
    if isinstance(fill_value, Tracer):
        return L.broadcast_to(fill_value, shape) * 1.0
    return lift(builder_of(a), np.full(shape, fill_value, dtype=dtype))


# ---------------------------------------------------------------- reductions
def _no_out(out):
    if out is not None:
        raise NotImplementedError("numhess: out= on traced values")


def _absent(v):
    return v is None or v is np._NoValue     # (identity: an initial= may be traced)


def _refuse(func, out, kw):
    """out= and keywords numhess does not know are refused, never ignored."""
    _no_out(out)
    extra = [k for k, v in kw.items() if v is not np._NoValue]
    if extra:
        raise NotImplementedError(f"numhess: np.{func}({'=..., '.join(extra)}=...) on traced "
                                  "values")


def _masks(where):
    """A reduction's where= other than the default (all)."""
    return where is not True and where is not np._NoValue


def _selected(t, where, fill):
    """t where the mask `where` holds and fill elsewhere (NumPy's where= of reductions)."""
    return np.where(where, t, fill) if _masks(where) else t


def _count(t, axis, keepdims, where):
    """How many elements each reduction of t over axis meets under the mask `where`."""
    if not _masks(where):
        return int(np.prod([t.shape[a] for a in L._axes(t, axis)]))
    return np.sum(np.where(where, np.ones(t.shape), 0.0), axis=axis, keepdims=keepdims)


@implements(np.sum)
def _sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=np._NoValue,
         where=True, **kw):
    _refuse("sum", out, kw)
    r = L.sum_(_selected(_t(a), where, 0.0), axis, keepdims)
    return r if _absent(initial) else r + initial


@implements(np.mean)
def _mean(a, axis=None, dtype=None, out=None, keepdims=False, where=True, **kw):
    _refuse("mean", out, kw)
    t = _t(a)
    return L.sum_(_selected(t, where, 0.0), axis, keepdims) / _count(t, axis, keepdims, where)


@implements(np.var)
def _var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, where=True,
         correction=np._NoValue, **kw):
    _refuse("var", out, kw)
    ddof = ddof if correction is np._NoValue else correction    # NumPy 2's other name
    t = _t(a)
    d = _selected(t - _mean(t, axis, keepdims=True, where=where), where, 0.0)
    return L.sum_(d * d, axis, keepdims) / (_count(t, axis, keepdims, where) - ddof)


@implements(np.std)
def _std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, where=True,
         correction=np._NoValue, **kw):
    return np.sqrt(_var(a, axis, dtype, out, ddof, keepdims, where, correction, **kw))


@implements(np.prod)
def _prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=np._NoValue,
          where=True, **kw):
    _refuse("prod", out, kw)
    r = L.prod(_selected(_t(a), where, 1.0), axis, keepdims)
    return r if _absent(initial) else r * initial


def _extreme(func, a, axis, out, keepdims, initial, where, kw):
    _refuse(func.__name__, out, kw)
    t = _t(a)
    if t.size == 0 and not _absent(initial):   # nothing reduced: initial, in their shape
        shape = func(t.value, axis=axis, keepdims=keepdims, initial=0.0).shape
        return np.broadcast_to(lift(t.b, initial), shape).copy()
    if _absent(initial):
        if _masks(where):
            raise ValueError(f"reduction operation '{func.__name__}' does not have an "
                             "identity, so to use a where mask one has to specify 'initial'")
        return L.extreme(t, axis, keepdims, is_max=func is np.max)
    r = L.extreme(_selected(t, where, initial), axis, keepdims, is_max=func is np.max)
    return (np.maximum if func is np.max else np.minimum)(r, initial)


@implements(np.max, np.amax)
def _max(a, axis=None, out=None, keepdims=False, initial=np._NoValue, where=True, **kw):
    return _extreme(np.max, a, axis, out, keepdims, initial, where, kw)


@implements(np.min, np.amin)
def _min(a, axis=None, out=None, keepdims=False, initial=np._NoValue, where=True, **kw):
    return _extreme(np.min, a, axis, out, keepdims, initial, where, kw)


@implements(np.all)
def _all(a, axis=None, out=None, keepdims=False, **kw):
    _refuse("all", out, kw)
    t = _t(a)
    if t.size == 0:     # True, with no derivative to carry
        return lift(t.b, np.all(t.value, axis=axis, keepdims=keepdims))
    return L.extreme(np.not_equal(t, 0), axis, keepdims, is_max=False)


@implements(np.any)
def _any(a, axis=None, out=None, keepdims=False, **kw):
    _refuse("any", out, kw)
    t = _t(a)
    if t.size == 0:
        return lift(t.b, np.any(t.value, axis=axis, keepdims=keepdims))
    return L.extreme(np.not_equal(t, 0), axis, keepdims, is_max=True)


@implements(np.cumsum)
def _cumsum(a, axis=None, dtype=None, out=None):
    _no_out(out)
    return L.cumulative(_t(a), axis, np.add, 0.0)


@implements(np.cumprod)
def _cumprod(a, axis=None, dtype=None, out=None):
    _no_out(out)
    return L.cumulative(_t(a), axis, np.multiply, 1.0)


@implements(np.sort)
def _sort(a, axis=-1, kind=None, order=None, **kw):
    return L.sort(_t(a), axis)


def _guarded(a, what):
    """The values of a (traced or not) as a constant of the trace, for what (a NumPy
    function of them whose result has no derivative): guarded, as an `if` is."""
    if not isinstance(a, Tracer):
        return a
    if a.active:
        raise NotImplementedError(f"numhess: {what} of values with a derivative (write "
                                  "the function with np.sort, np.where or a mask instead)")
    a.b.guard(a.slot, a.value)
    return a.value


@implements(np.unique)
def _unique(ar, *args, **kw):
    return np.unique(_guarded(ar, "np.unique"), *args, **kw)


@implements(np.bincount)
def _bincount(x, weights=None, minlength=0):
    """Sums of the weights by the groups x (which have no derivative): one SCATTER."""
    x = _guarded(x, "np.bincount's groups")
    counts = np.bincount(x, minlength=minlength)      # NumPy's checks of x and minlength
    if weights is None:
        return counts
    w = _t(weights)
    if w.shape != np.shape(x):
        raise ValueError("The weights and list don't have the same length.")
    return L.scatter_sum(w, np.asarray(x, np.int64), counts.size)


def _argext(a, axis, out, keepdims, is_max):
    """The index of the extreme as NumPy gives it (the first one, or the first NaN), a
    constant of the trace: where it is, at each slice, is guarded."""
    _no_out(out)
    t = _t(a)
    ext = (np.max if is_max else np.min)(t, axis=axis, keepdims=True)
    at = (t == ext) | np.isnan(t)
    t.b.guard(at.slot, at.value)
    return np.argmax(at.value, axis=axis, keepdims=keepdims)


@implements(np.argmax)
def _argmax(a, axis=None, out=None, *, keepdims=False):
    return _argext(a, axis, out, keepdims, True)


@implements(np.argmin)
def _argmin(a, axis=None, out=None, *, keepdims=False):
    return _argext(a, axis, out, keepdims, False)


@implements(np.argsort)
def _argsort(a, axis=-1, kind=None, order=None, *, stable=None):
    """NumPy's stable order, a constant of the trace: that it still sorts a is guarded
    (each neighbour pair in order, ties in index order, as a stable sort leaves them,
    and anything before a NaN: NaNs sort last). The guard holds at the trace point, NaN
    or not: one recorded False there had let a later point out of order replay it."""
    if order is not None:
        raise NotImplementedError("numhess: np.argsort(order=...) on traced values")
    t = _t(a)
    if axis is None:
        t, axis = np.reshape(t, -1), -1
    p = np.argsort(t.value, axis=axis, kind="stable")
    s = np.moveaxis(np.take_along_axis(t, p, axis), axis, -1)
    if s.shape[-1] > 1:
        q = np.moveaxis(p, axis, -1)
        ordered = np.logical_or(np.where(q[..., 1:] > q[..., :-1], s[..., 1:] >= s[..., :-1],
                                         s[..., 1:] > s[..., :-1]), np.isnan(s[..., 1:]))
        t.b.guard(ordered.slot, ordered.value)
    return p


# ---------------------------------------------------------------- elementwise helpers
@implements(np.where)
def _where(condition, x=None, y=None):
    if x is None and y is None:
        return np.nonzero(condition)
    return L.where(condition, x, y)


@implements(np.flatnonzero)
def _flatnonzero(a):
    return np.nonzero(np.ravel(a))[0]


@implements(np.count_nonzero)
def _count_nonzero(a, axis=None, *, keepdims=False):
    return np.sum(np.not_equal(a, 0), axis=axis, keepdims=keepdims)


@implements(np.broadcast_arrays)
def _broadcast_arrays(*args, subok=False):
    shape = np.broadcast_shapes(*(np.shape(a) for a in args))
    return tuple(np.broadcast_to(a, shape) for a in args)


@implements(np.partition)
def _partition(a, kth, axis=-1, kind="introselect", order=None):
    """Sorted: one of the orders NumPy's partition may give (it leaves the order within
    each side unspecified), so the elements at kth are NumPy's."""
    return np.sort(a, axis=axis)


@implements(np.put_along_axis)
def _put_along_axis(arr, indices, values, axis):
    if not isinstance(arr, Tracer):
        raise TraceError("numhess: np.put_along_axis of traced values into a NumPy array "
                         "would cut the derivative; make arr with np.zeros_like(x)")
    if axis is None:
        arr.reshape(-1)[indices] = values     # (a view: the write reaches arr)
        return
    axis = axis % arr.ndim
    arr[tuple(indices if d == axis else np.arange(n).reshape((1,) * d + (-1,) + (1,) * (
        arr.ndim - d - 1)) for d, n in enumerate(arr.shape))] = values    # NumPy's index


@implements(np.nonzero)
def _nonzero(a):
    t = _t(a)
    mask = np.not_equal(t, 0)
    t.b.guard(mask.slot, mask.value)     # the indices are value-dependent: guard them
    return np.nonzero(mask.value)


@implements(np.clip)
def _clip(a, a_min=None, a_max=None, out=None, **kw):
    _no_out(out)
    a_min = kw.get("min", a_min)
    a_max = kw.get("max", a_max)
    r = a
    if a_min is not None:
        r = np.maximum(r, a_min)
    if a_max is not None:
        r = np.minimum(r, a_max)
    return r


@implements(np.fix)
def _fix(x, out=None):
    _no_out(out)
    return np.trunc(x)


@implements(np.round, np.around)
def _round(a, decimals=0, out=None):
    _no_out(out)
    t = _t(a)
    from . import kernels as K
    return L.unary(K.ROUNDC, t, np.round(t.value, decimals), p=float(decimals),
                   differentiable=False)


# ---------------------------------------------------------------- products
@implements(np.dot)
def _dot(a, b, out=None):
    _no_out(out)
    return L.dot(a, b)


@implements(np.tensordot)
def _tensordot(a, b, axes=2):
    return L.tensordot(a, b, axes)


@implements(np.inner)
def _inner(a, b):
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return a * b
    return L.tensordot(a, b, ([-1], [-1]))


@implements(np.outer)
def _outer(a, b, out=None):
    _no_out(out)
    return np.multiply(np.reshape(np.ravel(a), (-1, 1)), np.reshape(np.ravel(b), (1, -1)))


@implements(np.kron)
def _kron(a, b):
    """Every product a[i] * b[j], laid out as NumPy's blocks: the axes of both
    interleaved, then merged pairwise."""
    x, y = _t(a, b), _t(b, a)
    nd = max(x.ndim, y.ndim)
    xs = (1,) * (nd - x.ndim) + x.shape
    ys = (1,) * (nd - y.ndim) + y.shape
    x = np.reshape(x, [d for s in xs for d in (s, 1)])
    y = np.reshape(y, [d for s in ys for d in (1, s)])
    return np.reshape(x * y, [p * q for p, q in zip(xs, ys)])


HANDLED[np.einsum] = einsum


@implements(np.vdot)
def _vdot(a, b):
    return np.sum(np.multiply(np.ravel(a), np.ravel(b)))


@implements(np.linalg.norm)
def _norm(x, ord=None, axis=None, keepdims=False):
    t = _t(x)
    if axis is None and ord is None:
        r = np.sqrt(np.sum(t * t))
        return np.reshape(r, (1,) * t.ndim) if keepdims else r
    if axis is None:
        axis = tuple(range(t.ndim))
    axis = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    if len(axis) == 1:
        a = np.abs(t)
        if ord is None or ord == 2:
            return np.sqrt(np.sum(t * t, axis=axis, keepdims=keepdims))
        if ord == np.inf:
            return np.max(a, axis=axis, keepdims=keepdims)
        if ord == -np.inf:
            return np.min(a, axis=axis, keepdims=keepdims)
        if ord == 1:
            return np.sum(a, axis=axis, keepdims=keepdims)
        if ord == 0:
            return np.sum(np.not_equal(t, 0) * 1.0, axis=axis, keepdims=keepdims)
        if isinstance(ord, str):        # (NumPy's error: 'fro' and 'nuc' are matrix norms)
            raise ValueError(f"Invalid norm order '{ord}' for vectors")
        return np.sum(a ** ord, axis=axis, keepdims=keepdims) ** (1.0 / ord)
    if len(axis) == 2:
        r0, c0 = axis
        a = np.abs(t)
        if ord is None or ord == "fro":
            return np.sqrt(np.sum(t * t, axis=axis, keepdims=keepdims))
        if ord in (1, -1):
            s = np.sum(a, axis=r0, keepdims=True)
            r = (np.max if ord == 1 else np.min)(s, axis=c0, keepdims=True)
        elif ord in (np.inf, -np.inf):
            s = np.sum(a, axis=c0, keepdims=True)
            r = (np.max if ord == np.inf else np.min)(s, axis=r0, keepdims=True)
        elif ord in ("nuc", 2, -2):
            r = _spectral_norm(np.moveaxis(t, (r0, c0), (-2, -1)), ord)
            r = np.expand_dims(r, tuple(sorted(ax % t.ndim for ax in axis)))
        else:
            raise ValueError("Invalid norm order for matrices.")
        return r if keepdims else np.squeeze(r, axis=axis)
    raise ValueError("Improper number of dimensions to norm.")


def _spectral_norm(t, ord):
    """Norms of the stacked matrices t (..., m, n) from their singular values."""
    if ord == "nuc":
        return F.nuclear_norm(t)
    s = F.svdvals(t)
    return s[..., 0] if ord == 2 else s[..., -1]


if hasattr(np.linalg, "matrix_norm"):        # NumPy 2's array-API norms
    @implements(np.linalg.matrix_norm)
    def _matrix_norm(x, /, *, keepdims=False, ord="fro"):
        return _norm(x, ord=ord, axis=(-2, -1), keepdims=keepdims)

    @implements(np.linalg.vector_norm)
    def _vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
        """As NumPy's: the axes of a tuple (all for None) moved first and flattened into
        one vector axis (never a matrix norm)."""
        t = _t(x)
        shape = t.shape
        if axis is not None and not isinstance(axis, tuple):
            return _norm(t, ord=ord, axis=axis, keepdims=keepdims)
        axes = tuple(range(t.ndim)) if axis is None else \
            np.lib.array_utils.normalize_axis_tuple(axis, t.ndim)
        rest = tuple(i for i in range(t.ndim) if i not in axes)
        flat = (math.prod(shape[i] for i in axes), *(shape[i] for i in rest))
        r = _norm(np.reshape(np.transpose(t, axes + rest), flat), ord=ord, axis=0)
        return np.reshape(r, tuple(1 if i in axes else shape[i] for i in range(t.ndim))) \
            if keepdims else r

    @implements(np.linalg.svdvals)
    def _svdvals(x, /):
        return F.svdvals(x)

    # the array API's names for functions NumPy has elsewhere, over the last axes
    for _name, _impl in {
            "matmul": np.matmul, "tensordot": np.tensordot,
            "cross": lambda a, b, axis=-1: _cross3(a, b, axis),
            "matrix_transpose": lambda x: np.swapaxes(x, -1, -2),
            "outer": lambda a, b: np.outer(_vector(a), _vector(b)),
            "trace": lambda x, offset=0, dtype=None: np.trace(x, offset, -2, -1),
            "diagonal": lambda x, offset=0: np.diagonal(x, offset, -2, -1),
            "vecdot": lambda a, b, axis=-1: np.vecdot(a, b, axis=axis)}.items():
        HANDLED[getattr(np.linalg, _name)] = _impl


def _cross3(a, b, axis=-1):
    if np.shape(a)[axis] != 3 or np.shape(b)[axis] != 3:
        raise ValueError("Both input arrays must be (arrays of) 3-dimensional vectors, "
                         f"but they are {np.shape(a)[axis]} and {np.shape(b)[axis]} "
                         "dimensional instead.")
    return np.cross(a, b, axis=axis)


def _vector(a):
    if np.ndim(a) != 1:
        raise ValueError("Input arrays must be one-dimensional")
    return a


@implements(np.linalg.svd)
def _svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    if compute_uv:
        raise NotImplementedError("numhess: np.linalg.svd with singular vectors (use "
                                  "compute_uv=False, np.linalg.eigh or np.linalg.qr)")
    if hermitian:       # as NumPy: |eigenvalues| of a's lower triangle, descending
        return np.flip(np.sort(np.abs(np.linalg.eigvalsh(a)), axis=-1), axis=-1)
    return F.svdvals(a)


# ---------------------------------------------------------------- np.linalg (linalg.py)
def _register_linalg():
    for module, names in ((linalg, ("det", "slogdet", "inv", "solve", "cholesky")),
                          (F, ("eigh", "eigvalsh", "qr", "pinv", "lstsq"))):
        for name in names:
            HANDLED[getattr(np.linalg, name)] = getattr(module, name)


_register_linalg()
