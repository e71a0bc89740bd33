"""Dense Hessians a few directions at a time over the support of their tangents.

Seeded with input j alone, a tape of pairwise terms (all pairs by broadcasting, as in a
cluster's energy) has non-zero tangents and second-order cotangents on a few elements of
each slot: the pairs with atom j. kernels.support_* sweep only those, so a direction
costs O(n) instead of the whole tape's O(n^2); the coordinates of one atom reach the same
pairs, so chunks of k directions share one support. A probe of a few chunks of each width
decides per tape whether that beats the chunked sweeps over every slot (which vectorize)
and with which width.
"""
import numba
import numpy as np

from . import blas, drivers, progress, threads
from . import kernels as K

MIN_N = 32         # below this, the chunked sweeps' one or two chunks cost less than a probe
PROBES = 4         # chunks the probe sweeps for each chunk width
CHUNKS = (1, 2, 3, 4, 6, 8)   # chunk widths the probe tries: an atom's 2 or 3 coordinates
# reach the same pairs, so their directions share one support
# Cost model, per direction: ((positions a chunk reaches) x (1 + PER_DIRECTION k)
# + PER_INSTRUCTION x instructions) / k, and SUPPORT_COST times that against the chunked
# sweeps' active slots. Measured on a 33-atom cluster: 13.5 ns per position at k = 1,
# about 11 + 2.4 k ns at k directions, against 3.9 ns per slot and direction for the
# chunked sweeps; a chunk also costs about a microsecond per instruction, which decides
# small tapes (a 60-variable sum of elementwise terms: 0.28 ms by supports, 0.22 chunked).
PER_DIRECTION = 0.25
PER_INSTRUCTION = 90.0
SUPPORT_COST = 4.0
# Below this much work (the model's cost of all directions), one thread: the 33-atom
# cluster's 165,000 ran in 1.3 ms on one thread, 0.9-1.2 ms on two.
PARALLEL_MIN_WORK = 50_000
PROGRESS_STEPS = 100     # a long Hessian's bar moves in about this many steps


def maps(tape):
    """The tuple S the support sweeps read (see kernels.py): owner, the inverse index
    maps of GATHER and SCATTER, and the runs each GATHER's sources lie in."""
    n_instr = tape.op.size
    # the run index plus one, 0 at inactive positions: zeros map no page until written,
    # so a large data matrix among the parameters costs nothing here; filled slice by
    # slice (index arrays over all positions took 4 times the map's memory in int64)
    owner = np.zeros(tape.total, np.int32)
    owner[:tape.n_in] = 1
    for t, (o, size) in enumerate(zip(tape.off[tape.out].tolist(),
                                      tape.size[tape.out].tolist())):
        owner[o:o + size] = t + 2
    key_len, val_len, src_len = (np.zeros(n_instr + 1, np.int64) for _ in range(3))
    keys, values, runs = [], [], []
    for t in np.flatnonzero(np.isin(tape.op, (K.GATHER, K.SCATTER)) & tape.sact[tape.out]):
        q, y = tape.pi[t], tape.out[t]
        if tape.op[t] == K.GATHER:       # sorted source positions, the outputs reading each
            key = tape.ipool[q:q + tape.size[y]]
            order = np.argsort(key, kind="stable")
            keys.append(key[order].astype(np.int32))
            run = np.unique(owner[key])
            runs.append(run[run >= 1] - 1)
            src_len[t + 1] = runs[-1].size
        else:                            # target g's inputs at order[starts[g]:starts[g + 1]]
            key = tape.ipool[q:q + tape.size[tape.a[t]]]
            order = np.argsort(key, kind="stable")
            keys.append(np.concatenate([[0], np.cumsum(np.bincount(key, minlength=tape.size[y]))
                                        ]).astype(np.int32))
        values.append(order.astype(np.int32))
        key_len[t + 1], val_len[t + 1] = keys[-1].size, order.size
    cat = lambda parts: np.concatenate(parts, dtype=np.int32) if parts else np.zeros(0, np.int32)
    return (owner, np.cumsum(key_len), cat(keys), np.cumsum(val_len), cat(values),
            np.cumsum(src_len), cat(runs))


class _Workspace:
    """The buffers of one thread's support sweep (kernels.support_hessian), kept with the
    tape between calls (fresh ones cost their page faults at every call). Only rows, an
    int32 a position, fills as chunks reach positions; the compact buffers and lists
    fill as far as one chunk reaches (np.empty and np.zeros of a large size map no
    page until written)."""
    __slots__ = ("arrays",)

    def __init__(self, tape, k):
        total, runs = tape.total, tape.op.size + 2
        rows = total + 1                     # and row 0, of zeros
        # rows, book, tans and adjt (zeros), then the lists: tlist has room for twice the
        # positions (kernels._merge writes past its end), tbeg, ahead, anext, apos
        self.arrays = (np.empty(total, np.int32), np.empty(rows, np.int64),
                       np.zeros(rows * k), np.zeros(rows * k), np.empty(2 * total, np.int64),
                       np.empty(runs, np.int64), np.empty(runs, np.int64),
                       np.empty(total, np.int64), np.empty(total, np.int64))


def _kept_adjoint(rep, w):
    """Every position's first-order cotangent of <w, f> (w: a cotangent row)."""
    tape, e = rep.tape, rep.entry
    adj = np.zeros(tape.total)
    adj[e.out_off:e.out_off + e.out_size] = w
    blas.sweep(tape.kernels.direct_adjoint, tape, 1, rep.vals, rep.ivals, adj, 1, True,
               adj[:0], 0, K.ALL)
    return adj


def _sweep(rep, S, adj, starts, k, workers, H=None):
    """(H with the columns of the chunks of k directions at starts, the positions a
    chunk reached on average), the chunks dealt out to `workers` threads; H is a new
    zero matrix unless given."""
    tape = rep.tape
    n = tape.n_in
    if H is None:
        H = np.zeros((n, n))
    # contiguous copies: a strided slice is another array type, another compile
    parts = [np.ascontiguousarray(starts[w::workers])
             for w in range(min(workers, starts.size))]
    reach = [0] * len(parts)
    # a stack per chunk width; list.pop and append are atomic: no two threads share one
    stack = rep.entry.derived.setdefault(("supports", k), [])

    def run(w):
        try:
            ws = stack.pop()
        except IndexError:
            ws = _Workspace(tape, k)
        reach[w] = K.support_hessian(tape.packed, S, rep.vals, rep.ivals, adj, parts[w], k,
                                     n, H, *ws.arrays)
        stack.append(ws)     # clean again: only a complete sweep's workspace is kept

    with blas.held(tape, k):
        threads.run_all(run, len(parts))
    return H, sum(reach) / max(starts.size, 1)


class Plan:
    """How a tape's directions run over their supports: the maps, the chunk width k and
    the model's cost of a direction (from the probe)."""
    __slots__ = ("maps", "k", "cost")

    def __init__(self, maps, k, cost):
        self.maps, self.k, self.cost = maps, k, cost


def _probe(rep, S):
    """The Plan of the chunk width with the cheapest directions by the cost model."""
    tape, n = rep.tape, rep.tape.n_in
    adj = _kept_adjoint(rep, 1.0)
    kmax = max(1, drivers.WORKSPACE_BYTES // (16 * tape.total))   # tangents, cotangents
    best, floor = None, 0.0
    for k in CHUNKS:
        if k > min(kmax, n) or SUPPORT_COST * floor >= tape.active_total:
            break       # (no wider chunk can win: each reaches at least what one does)
        starts = np.unique(np.linspace(0, n - 1, PROBES).astype(np.int64) // k * k)
        _, reach = _sweep(rep, S, adj, starts, k, 1)
        cost = (reach * (1.0 + PER_DIRECTION * k) + PER_INSTRUCTION * tape.op.size) / k
        if best is None or cost < best.cost:
            best = Plan(S, k, cost)
        if k == 1:      # the cheapest any width could be
            floor = reach * min((1.0 + PER_DIRECTION * c) / c for c in CHUNKS)
    return best


def plan(rep):
    """A Plan when rep's tape's directions are worth sweeping over their supports
    (decided once per tape by a probe of a few chunks), else None."""
    tape = rep.tape
    if tape.n_in < MIN_N or tape.kernels is K.FULL:
        return None
    got = rep.entry.derived.get("supports", False)
    if got is False:
        # a product with a data matrix costs its multiply-adds per direction either way,
        # as matrix-vector loops here and one BLAS product a chunk there (the model's
        # positions had not counted them: a 400-spin mean-field Hessian, m @ J @ m, took
        # 29 ms by supports, 3.8 by chunks); when they alone decide, no probe
        products = tape.blas_work
        chunked = tape.active_total + products
        got = None if SUPPORT_COST * products >= chunked else _probe(rep, maps(tape))
        if got is not None and SUPPORT_COST * (got.cost + products) >= chunked:
            got = None
        for k in CHUNKS:        # the workspaces of widths not taken are not kept
            if got is None or k != got.k:
                rep.entry.derived.pop(("supports", k), None)
        rep.entry.derived["supports"] = got
    return got


def hessian(rep, plan, w=1.0):
    """The (n, n) Hessian of <w, f> (w: a weight per output) by support sweeps."""
    tape = rep.tape
    n = tape.n_in
    starts = np.arange(0, n, plan.k, dtype=np.int64)
    # with products, threads only where BLAS is held to one (drivers._plan says why)
    work = plan.cost * n
    workers = numba.get_num_threads() if work >= PARALLEL_MIN_WORK and (
        not tape.has_matmul or blas.one_thread.controls is not None) else 1
    adj, H = _kept_adjoint(rep, w), np.zeros((n, n))
    # a bar for long ones, in the chunked sweeps' units (SUPPORT_COST), in PROGRESS_STEPS
    progress.in_steps(lambda part: _sweep(rep, plan.maps, adj, part, plan.k, workers, H),
                      starts, max(workers, starts.size // (2 * PROGRESS_STEPS)),
                      SUPPORT_COST * work, "Hessian")
    return H
