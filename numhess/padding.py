"""np.pad of traced arrays, every NumPy mode but a callable one.

The modes that only move elements (edge, wrap, an even reflection) are one gather. The
others compute their pad values (statistics, linear ramps, odd reflections): each is
written with traced operations axis by axis as NumPy pads, every axis from the array
already padded along the axes before it (NumPy's corners), so the values are NumPy's.
"""
import numpy as np

from . import lower as L
from .tracer import lift, positions

STATS = {"maximum": np.max, "minimum": np.min, "mean": np.mean, "median": np.median}


def pad(t, pad_width, mode, kw):
    if callable(mode):
        raise NotImplementedError("numhess: np.pad with a padding function on traced "
                                  "values; pad with a NumPy mode, or concatenate")
    reference = np.pad(t.value, pad_width, mode=mode, **kw)    # NumPy's checks of the call
    if mode in ("constant", "empty"):     # "empty": NumPy leaves them undefined; zeros here
        return _constant(t, pad_width, kw.get("constant_values", 0))
    odd = kw.get("reflect_type", "even") == "odd"
    if mode in ("edge", "wrap") or reference.size == 0 or (
            mode in ("reflect", "symmetric") and not odd):
        return L.restructure(t, lambda p: np.pad(p, pad_width, mode=mode, **kw))
    widths = _pairs(pad_width, t.ndim)
    if mode in STATS:
        lengths = _pairs(kw.get("stat_length"), t.ndim)
        step = lambda a, axis: _stats(a, axis, widths[axis], lengths[axis], STATS[mode])
    elif mode == "linear_ramp":
        ends = _pairs(kw.get("end_values", 0), t.ndim)
        step = lambda a, axis: _ramps(a, axis, widths[axis], ends[axis])
    else:
        step = lambda a, axis: _reflect_odd(a, axis, widths[axis], mode == "symmetric")
    for axis in range(t.ndim):
        if any(widths[axis]):
            t = step(t, axis)
    return t


def _constant(t, pad_width, values):
    marked = np.pad(positions(t) + 1, pad_width, mode="constant", constant_values=0)
    fill = np.pad(np.zeros(t.shape), pad_width, mode="constant", constant_values=values)
    consts = positions(lift(t.b, fill)) if np.any(fill) else t.b.off[t.b.zero]
    return L.gather(t.b, np.where(marked > 0, marked - 1, consts), t.active)


def _pairs(x, ndim):
    """NumPy's (before, after) per axis from a pad_width, stat_length or end_values."""
    if x is None:
        return [(None, None)] * ndim
    x = np.asarray(x)
    if x.size == 1:
        x = x.ravel()[[0, 0]]
    elif x.size == 2 and x.shape != (2, 1):
        x = x.ravel()
    return np.broadcast_to(x, (ndim, 2)).tolist()


def _at(a, axis, index):
    """a's elements at these indices along axis (a gather)."""
    return np.take(a, np.asarray(index, dtype=np.int64), axis=axis)


def _padded(a, axis, widths, side):
    """a along axis between side(width, False) before it and side(width, True) after,
    each where its width is not 0."""
    before, after = (side(w, right) if w else None for w, right in zip(widths, (False, True)))
    return np.concatenate([p for p in (before, a, after) if p is not None], axis=axis)


def _stats(a, axis, widths, lengths, func):
    """Each side padded with the statistic of its first or last stat_length elements
    (all of them when None or longer)."""
    m = a.shape[axis]

    def side(width, right):
        n = lengths[right]
        n = m if n is None or n > m else n
        stat = func(_at(a, axis, range(m - n, m) if right else range(n)), axis=axis,
                    keepdims=True)
        shape = list(a.shape)
        shape[axis] = width
        return np.broadcast_to(stat, tuple(shape))
    return _padded(a, axis, widths, side)


def _ramps(a, axis, widths, ends):
    """From each end value to the edge, as np.linspace(end, edge, width, endpoint=False):
    i * step + end, or (i / width) * delta + end wherever a step is 0 (NumPy's branch,
    guarded: a change retraces)."""
    m = a.shape[axis]

    def side(width, right):
        shape = [1] * a.ndim
        shape[axis] = width
        i = np.arange(width, dtype=np.float64).reshape(shape)
        delta = _at(a, axis, [m - 1 if right else 0]) - ends[right]
        step = delta / width
        flat = step == 0
        a.b.guard(flat.slot, flat.value)
        ramp = (i / width * delta if np.any(flat.value) else i * step) + ends[right]
        return _at(ramp, axis, range(width - 1, -1, -1)) if right else ramp
    return _padded(a, axis, widths, side)


def _reflect_odd(a, axis, widths, symmetric):
    """NumPy's odd reflection: 2 edge - the mirror image, repeated outwards while the pad
    is wider than what is filled (each round mirrors the filled part, its edge the new
    one). One element along the axis is padded with its edge, as NumPy does."""
    period = a.shape[axis]
    if period == 1:
        pw = [(0, 0)] * a.ndim
        pw[axis] = tuple(widths)
        return L.restructure(a, lambda p: np.pad(p, pw, mode="edge"))
    left, right = widths
    while left > 0 or right > 0:
        filled = a.shape[axis]
        if symmetric:      # whole periods, the edge mirrored too
            usable, edge_offset = filled // period * period, 1
        else:              # whole periods less the edge, which is not repeated
            usable, edge_offset = (filled - 1) // (period - 1) * (period - 1), 0
        parts = []
        if left > 0:
            k = min(usable, left)
            chunk = _at(a, axis, range(k - edge_offset, -edge_offset, -1))
            parts.append(2 * _at(a, axis, [0]) - chunk)
            left -= k
        parts.append(a)
        if right > 0:
            k = min(usable, right)
            last = filled - 2 + edge_offset
            chunk = _at(a, axis, range(last, last - k, -1))
            parts.append(2 * _at(a, axis, [filled - 1]) - chunk)
            right -= k
        a = np.concatenate(parts, axis=axis)
    return a
