"""Dense Hessians one direction at a time over the support of its tangents.

Seeded with input j alone, a tape of pairwise terms (all pairs by broadcasting, as in a
cluster's energy) has non-zero tangents and second-order cotangents on a few elements of
each slot: the pairs with atom j. kernels.support_* sweep only those, so a direction
costs O(n) instead of the whole tape's O(n^2). A probe of a few directions decides per
tape whether that beats the chunked sweeps, which amortize each derivative over k
directions and vectorize.
"""
import numba
import numpy as np

from . import blas, drivers
from . import kernels as K

MIN_N = 32         # below this, the chunked sweeps' one or two chunks cost less than a probe
PROBES = 4         # directions the probe sweeps
# A support sweep costs about this many times what a chunked sweep costs per position and
# direction (lists, stamps, operands gathered one by one, no k directions sharing a
# derivative): measured 3.4x on a 33-atom cluster, 8x on a 10-atom one.
COST_PER_POSITION = 6.0
PARALLEL_MIN_REACH = 100_000   # positions reached by all directions: below, one thread
# (measured: the 33-atom cluster's 177,000 ran in 2.4 ms on one thread, 1.5 ms on two)


def maps(tape):
    """The tuple S the support sweeps read (see kernels.py): owner, the inverse index
    maps of GATHER and SCATTER, and the runs each GATHER's sources lie in."""
    n_instr = tape.op.size
    owner = np.full(tape.total, -2, np.int32)
    owner[:tape.n_in] = -1
    starts, sizes = tape.off[tape.out], tape.size[tape.out]
    owner[_ranges(starts, sizes)] = np.repeat(np.arange(n_instr, dtype=np.int32), sizes)
    key_len, val_len, src_len = (np.zeros(n_instr + 1, np.int64) for _ in range(3))
    keys, values, runs = [], [], []
    for t in np.flatnonzero(np.isin(tape.op, (K.GATHER, K.SCATTER)) & tape.sact[tape.out]):
        q, y = tape.pi[t], tape.out[t]
        if tape.op[t] == K.GATHER:       # sorted source positions, the outputs reading each
            key = tape.ipool[q:q + tape.size[y]]
            order = np.argsort(key, kind="stable")
            keys.append(key[order])
            run = np.unique(owner[key])
            runs.append(run[run >= -1] + 1)
            src_len[t + 1] = runs[-1].size
        else:                            # target g's inputs at order[starts[g]:starts[g + 1]]
            key = tape.ipool[q:q + tape.size[tape.a[t]]]
            order = np.argsort(key, kind="stable")
            keys.append(np.concatenate([[0], np.cumsum(np.bincount(key, minlength=tape.size[y]))]))
        values.append(order)
        key_len[t + 1], val_len[t + 1] = keys[-1].size, order.size
    cat = lambda parts: np.concatenate(parts).astype(np.int32) if parts else np.zeros(0, np.int32)
    return (owner, np.cumsum(key_len), cat(keys), np.cumsum(val_len), cat(values),
            np.cumsum(src_len), cat(runs))


def _ranges(starts, sizes):
    """The positions start..start+size of every range, concatenated."""
    sizes = np.asarray(sizes, np.int64)
    return np.repeat(starts - np.cumsum(sizes) + sizes, sizes) + np.arange(sizes.sum())


def _workspaces(tape, workers):
    total, runs = tape.total, tape.op.size + 2
    # np.zeros and np.empty of this size map pages lazily: lists touch what they hold
    # (tlist has room for twice the positions: kernels._merge writes past its end)
    return ([np.zeros((workers, total)) for _ in range(2)]
            + [np.zeros((workers, total), np.int32) for _ in range(2)]
            + [np.empty((workers, 2 * total), np.int64), np.empty((workers, runs), np.int64),
               np.empty((workers, runs), np.int64), np.empty((workers, total), np.int64),
               np.empty((workers, total), np.int64)])


def _kept_adjoint(rep, w):
    """Every position's first-order cotangent of <w, f> (w: a cotangent row)."""
    tape, e = rep.tape, rep.entry
    adj = np.zeros(tape.total)
    adj[e.out_off:e.out_off + e.out_size] = w
    blas.sweep(tape.kernels.adjoint, tape, 1, rep.vals, rep.ivals, adj, 1, True)
    return adj


def _sweep(rep, S, adj, dirs, workers):
    """(H with columns dirs, the positions reached per direction on average)."""
    tape = rep.tape
    n = tape.n_in
    H = np.zeros((n, n))
    reach = np.zeros(workers, np.int64)
    args = (S, rep.vals, rep.ivals, adj, dirs, H, *_workspaces(tape, workers),
            reach)
    if workers > 1:
        with drivers.parallel_lock:
            blas.sweep(K.support_hessian_parallel, tape, 1, *args)
    else:
        blas.sweep(K.support_hessian_serial, tape, 1, *args)
    return H, reach.sum() / max(dirs.size, 1)


class Plan:
    """How a tape's directions run over their supports: the maps and the positions a
    direction reaches on average (from the probe)."""
    __slots__ = ("maps", "reach")

    def __init__(self, maps, reach):
        self.maps, self.reach = maps, reach


def plan(rep):
    """A Plan when rep's tape's directions are worth sweeping over their supports
    (decided once per tape by a probe of a few directions), else None."""
    tape = rep.tape
    if tape.n_in < MIN_N or tape.kernels is not K.PLAIN:
        return None
    got = rep.entry.derived.get("supports", False)
    if got is False:
        S = maps(tape)
        probe = np.unique(np.linspace(0, tape.n_in - 1, PROBES).astype(np.int64))
        _, reach = _sweep(rep, S, _kept_adjoint(rep, 1.0), probe, 1)
        got = Plan(S, reach) if COST_PER_POSITION * reach < tape.active_total else None
        rep.entry.derived["supports"] = got
    return got


def hessian(rep, plan, w=1.0):
    """The (n, n) Hessian of <w, f> (w: a weight per output) by support sweeps."""
    tape = rep.tape
    n = tape.n_in
    # with products, threads only where BLAS is held to one (drivers._plan says why)
    threads = numba.get_num_threads() if plan.reach * n >= PARALLEL_MIN_REACH and (
        not tape.has_matmul or blas.one_thread.controls is not None) else 1
    H, _ = _sweep(rep, plan.maps, _kept_adjoint(rep, w), np.arange(n, dtype=np.int64),
                  threads)
    return H
