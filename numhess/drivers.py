"""Numba plumbing in one place: chunk sizes, the serial/parallel choice, thread safety."""
import math
import threading

import numba
import numpy as np

from . import blas, fused, progress
from . import kernels as K
from .tape import in_place

WORKSPACE_BYTES = 64 * 2 ** 20   # per chunk: tangents plus second-order adjoints
# The buffers hold every slot (slot e's k values at e * k + j) though the sweeps touch only
# the active ones: untouched pages cost no memory, but the address space must be granted.
# A 2000 x 2000 data matrix on the tape at 500 directions asked for 30 GB and was refused.
ADDRESS_BYTES = 4 * 2 ** 30
# Below this many (active slots x directions), threads cost more than they save: measured
# on the 2-core machine, a 300-variable logistic regression or Lennard-Jones Hessian ran
# 1.2-2x slower on two threads than on one.
PARALLEL_MIN_WORK = 20_000_000
# A handful of directions (a sparse Hessian's colour groups) run in one round of chunks
# even where the budget above would split them: on the chained Rosenbrock function at
# n = 10^6, 3 colours as 2 chunks of two took 67 ms, as 3 chunks of one 135 ms (then;
# one-direction sweeps have vectorized since, and cost 1.25x per direction what a
# three-direction sweep does there).
FEW_DIRECTIONS = 4
# A dense Hessian whose products have an operand among the inputs leaves out each chunk's
# rows above its diagonal block (kernels._hessian_chunks, lower): with c chunks a worker
# the products cost (c + 1) / 2c of the whole. Where they outweigh the elementwise work
# and pass this many multiply-adds over all directions, every worker takes at least
# LOWER_CHUNKS chunks of at least LOWER_MIN_K directions (narrower, the products lose
# BLAS's speed: 100-weight logistic regression, 85 us in one chunk, 79 in two, 91 in
# four).
LOWER_MIN_WORK = 2 ** 17
LOWER_CHUNKS = 2
LOWER_MIN_K = 50
_parallel_lock = threading.Lock()  # parallel regions run one at a time
# GNU OpenMP, Numba's first choice here, kills a forked child that runs a parallel region
# after its parent did (multiprocessing's default start method); the workqueue layer is
# fork-safe, and not thread-safe, which the lock above covers. A layer the user chose
# (NUMBA_THREADING_LAYER) is kept.
if numba.config.THREADING_LAYER == "default":
    numba.config.THREADING_LAYER = "workqueue"


def kernel_array(a):
    """a as the kernels' array arguments are typed: float64, C-ordered and writable (Numba
    compiles a kernel again for a strided or read-only array: a read-only hvp direction
    compiled the whole Hessian kernel again)."""
    if type(a) is np.ndarray and a.dtype == np.float64:
        flags = a.flags
        if flags.c_contiguous and flags.writeable:
            return a
    return np.array(a, dtype=np.float64, order="C")


def check_chunk_size(chunk_size):
    if chunk_size is None:
        return None
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)):
        raise TypeError(f"chunk_size must be a positive int or None, got {chunk_size!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    return int(chunk_size)


def _plan(n_dirs, tape, chunk_size, buffers, split):
    """Chunk starts, the common chunk width, and how many workers run the chunks (split:
    LOWER_CHUNKS chunks a worker at least).

    Only active slots are touched by the sweeps, so the memory budget is counted on them
    (the address space the buffers span, on all slots); the width is evened out over the
    chunks, so the padding of the last one stays small."""
    if n_dirs == 0:
        return np.zeros(0, np.int64), 1, 1
    # get_num_threads costs microseconds: ask only when threads could pay off. Products
    # and factorizations count with their multiply-adds. They run on BLAS's threads when
    # numhess cannot hold BLAS to one (blas.py): more threads would oversubscribe.
    work = (tape.active_total + tape.blas_work) * n_dirs
    threads = numba.get_num_threads() if work >= PARALLEL_MIN_WORK and (
        not tape.has_matmul or blas.one_thread.controls is not None) else 1
    if chunk_size is None:
        kmax = max(1, WORKSPACE_BYTES // (8 * buffers * max(tape.active_total, 1)))
        if n_dirs <= FEW_DIRECTIONS * threads:    # one round, even past the budget
            kmax = max(kmax, -(-n_dirs // threads))
        kmax = min(kmax, max(1, ADDRESS_BYTES // (8 * buffers * tape.total * threads)))
        nchunks = max(-(-n_dirs // kmax), min(threads, n_dirs))
        if split:
            nchunks = max(nchunks, min(LOWER_CHUNKS * threads, n_dirs // LOWER_MIN_K))
        nchunks = -(-nchunks // threads) * threads   # whole rounds: every worker as busy
        k = -(-n_dirs // nchunks)
    else:
        k = min(chunk_size, n_dirs)
    starts = np.arange(0, n_dirs, k, dtype=np.int64)
    return starts, k, min(threads, starts.size)


class Plan:
    """How one kind of sweep runs on one tape: chunk starts, the chunk width k, the
    workers, and the work buffers it takes, as (role, shape) pairs ("wants"), from the
    tape's pool, or for small ones from the plan's own spares."""
    __slots__ = ("starts", "k", "workers", "wants", "small", "pool", "spares", "direct")

    def __init__(self, rep, what, n_dirs, chunk_size):
        total = rep.tape.total
        roles = ROLES[what]
        self.starts, self.k, self.workers = _plan(n_dirs, rep.tape, chunk_size,
                                                  sum(wide for _, wide in roles),
                                                  what == "lower")
        # one worker, nothing for BLAS to thread and no progress bar: the serial kernel
        # is called as it is (the common case, on every call: a frame less, 0.24 us)
        self.direct = self.workers == 1 and not blas.may_thread(rep.tape, self.k) and (
            rep.tape.active_total * n_dirs < progress.MIN_WORK)
        self.wants = tuple((role, (self.workers, total * self.k if wide else total))
                           for role, wide in roles)
        self.small = sum(math.prod(shape) for _, shape in self.wants) < Workspaces.SMALL
        self.pool = _workspaces(rep)
        self.spares = []

    def take(self):
        """One buffer per want. Small ones skip the pool's lock: list.pop is atomic, so
        concurrent calls never share a set (3 fresh zero arrays cost a microsecond)."""
        if not self.small:
            return self.pool.take(self.wants)
        try:
            return self.spares.pop()
        except IndexError:
            return [np.zeros(shape) for _, shape in self.wants]

    def give(self, buffers):
        """Buffers back after a complete sweep (an interrupted one, a KeyboardInterrupt
        under the progress bar, leaves them dirty: they are dropped instead)."""
        if not self.small:
            self.pool.give(self.wants, buffers)
        elif len(self.spares) < 2:
            self.spares.append(buffers)


# The work buffers of each kind of sweep: (role, one element per direction?); "lower":
# a dense Hessian's second-order sweeps in LOWER_CHUNKS chunks a worker at least
ROLES = {"second": (("tangent", True), ("adjoint", False), ("adjoint", True)),
         "tangent": (("tangent", True),), "adjoint": (("adjoint", True),)}
ROLES["lower"] = ROLES["second"]


def _cached_plan(rep, what, n_dirs, chunk_size=None):
    key = (what, n_dirs, chunk_size)
    plan = rep.entry.derived.get(key)
    if plan is None:
        plan = rep.entry.derived[key] = Plan(rep, what, n_dirs, chunk_size)
    return plan


class Workspaces:
    """Work buffers kept with a tape between calls: a large buffer freshly mapped on every
    call would cost page faults on every call. Taken and given back under a lock, so
    concurrent calls never share one, and by role: a tangent buffer is zero at inactive
    slots, an adjoint buffer at active ones (see kernels.py), so the two never swap."""

    # elements: below, a plan keeps spares of its own (no lock: taking and giving back
    # three buffers costs 0.1 us, from the pool 1.4); above, the pool shares them
    # between plans (a gradient's cotangents and an HVP's) to bound the memory kept
    SMALL = 1 << 18

    def __init__(self):
        self.free = {}
        self.lock = threading.Lock()

    def take(self, wants):
        """One buffer for each (role, shape) in wants."""
        got = []
        with self.lock:
            for want in wants:
                stack = self.free.get(want)
                got.append(stack.pop() if stack else None)
        return [np.zeros(w[1]) if g is None else g for w, g in zip(wants, got)]

    def give(self, wants, buffers):
        with self.lock:
            for want, a in zip(wants, buffers):
                stack = self.free.setdefault(want, [])
                stack.append(a)
                if len(stack) > 2:
                    stack.pop(0)


def _workspaces(rep):
    ws = rep.entry.derived.get("workspaces")
    if ws is None:
        ws = rep.entry.derived.setdefault("workspaces", Workspaces())
    return ws


def _dense_plan(rep, chunk_size):
    """(plan, seeds, split) of a dense Hessian's sweeps, decided once per tape: input j
    is direction j; split: the products' work calls for LOWER_CHUNKS chunks a worker."""
    key = ("dense", chunk_size)
    got = rep.entry.derived.get(key)
    if got is None:
        tape, n = rep.tape, rep.tape.n_in
        split = tape.input_product_work >= tape.active_total and (
            tape.input_product_work * n >= LOWER_MIN_WORK)
        got = rep.entry.derived[key] = (
            _cached_plan(rep, "lower" if split else "second", n, chunk_size),
            np.arange(n, dtype=np.int64), split)
    return got


def _chunks(serial, parallel_fn, plan, tape, head, tail, work, what):
    """kernel(tape.packed, *head, starts, plan.k, *tail) over the plan's chunk starts: the
    parallel kernel when the plan has workers (one region at a time), in steps under a
    progress bar when the work is long; else one direct call, the common case, kept to
    few Python frames since it runs on every call."""
    if plan.workers == 1 and work < progress.MIN_WORK:
        if plan.direct:
            return serial(tape.packed, *head, plan.starts, plan.k, *tail)
        return blas.sweep(serial, tape, plan.k, *head, plan.starts, plan.k, *tail)

    def run(part):
        if plan.workers > 1:
            with _parallel_lock, blas.held(tape, plan.k):
                return parallel_fn(tape.packed, *head, part, plan.k, *tail)
        return blas.sweep(serial, tape, plan.k, *head, part, plan.k, *tail)
    progress.in_steps(run, plan.starts, plan.workers, work, what)


def hessian(rep, W, chunk_size, colors=None, n_dirs=None):
    """B[w] = H_w @ S for the Hessians H_w of the cotangent-weighted outputs <W[w], f>
    (W: a C-contiguous float64 matrix);
    S holds basis vectors (the dense Hessians, shape (len(W), n, n)) or, given a
    colouring, the compressed seeds S[j, colors[j]] = 1 (shape (len(W), n, n_dirs))."""
    tape, e = rep.tape, rep.entry
    n = tape.n_in
    lower = colors is None      # basis seeds: H_w is symmetric
    if lower:
        (plan, colors, split), n_dirs = _dense_plan(rep, chunk_size), n
    else:
        plan, split = _cached_plan(rep, "second", n_dirs, chunk_size), False
    B = np.empty((W.shape[0], n, n_dirs))
    bufs = plan.take()
    kern = tape.kernels
    head = (rep.vals, rep.ivals, n, e.out_off, e.out_size, W, colors, _NO_SEEDS, n_dirs)
    work = tape.active_total * n_dirs * len(W)
    # fused: large enough chunks, one worker or no products for BLAS to thread, short
    # enough for no progress bar
    prog = fused.program(tape) if not split and (
        tape.active_total * plan.k >= fused.HESSIAN_MIN_WORK) and (
        plan.workers == 1 or not tape.blas_work) and work < progress.MIN_WORK else None
    if prog is not None and prog.wide:
        prog.hessian(tape, rep.vals, rep.ivals, n, e.out_off, W, colors, n_dirs, plan.starts,
                     plan.k, bufs, B)
    elif plan.direct and W.shape[0] == 1:     # the common case, without _chunks' frame
        kern.direct_hessian_chunks_serial(tape.packed, *head, plan.starts, plan.k, lower,
                                          *bufs, B)
    else:
        _chunks(kern.direct_hessian_chunks_serial, kern.hessian_chunks_parallel, plan, tape,
                head, (lower, *bufs, B), work, "Hessian")
    plan.give(bufs)
    return B


def jacobian(rep, chunk_size, reverse):
    """The (out_size, n) Jacobian, by forward (columns) or reverse (rows) sweeps."""
    tape, e = rep.tape, rep.entry
    n, m = tape.n_in, e.out_size
    plan = _cached_plan(rep, "adjoint" if reverse else "tangent", m if reverse else n,
                        chunk_size)
    J = np.empty((m, n))
    bufs = plan.take()
    kern = tape.kernels
    _chunks(kern.direct_jacobian_chunks_serial, kern.jacobian_chunks_parallel, plan, tape,
            (rep.vals, rep.ivals, n, e.out_off, m), (reverse, bufs[0], J),
            tape.active_total * (m if reverse else n), "Jacobian")
    plan.give(bufs)
    return J


def gradient(rep, cotangent):
    """vjp: the cotangent pulled back to the inputs (one reverse sweep)."""
    tape, n, o = rep.tape, rep.tape.n_in, rep.entry.out_off
    plan = _cached_plan(rep, "adjoint", 1)
    bufs = plan.take()
    adj = bufs[0][0]
    m = rep.entry.out_size
    if m == 1 and type(cotangent) is float:     # one element (a slice costs 0.2 us)
        adj[o] = cotangent
    else:
        adj[o:o + m] = cotangent
    g = np.empty(n)
    prog = tape.fused if tape.fusion is not None else fused.program(tape)
    if prog is not None:
        prog.gradient(tape, rep.vals, rep.ivals, adj, g, rep.xin)
    elif plan.direct:
        tape.kernels.direct_adjoint(tape.packed, rep.vals, rep.ivals, adj, 1, False, g, 0,
                                    K.ALL)
    else:
        blas.sweep(tape.kernels.direct_adjoint, tape, 1, rep.vals, rep.ivals, adj, 1, False, g,
                   0, K.ALL)
    plan.give(bufs)
    return g


def push_forward(rep, direction):
    """jvp: one tangent direction pushed to the output."""
    tape, n, o = rep.tape, rep.tape.n_in, rep.entry.out_off
    plan = _cached_plan(rep, "tangent", 1)
    bufs = plan.take()
    tans = bufs[0][0]
    tans[:n] = direction
    blas.sweep(tape.kernels.direct_tangent, tape, 1, rep.vals, rep.ivals, tans, 1, True, 0,
               K.ALL)
    t = tans[o:o + rep.entry.out_size].copy()
    tans[:n] = 0.0
    plan.give(bufs)
    return t


_NO_SEEDS = np.zeros((0, 0))      # hessian: the seeds are given by colours
_NO_COLORS = np.zeros(0, np.int64)  # hessian_vector: the seed is given as a column
_UNIT = np.ones((1, 1))             # the cotangent of a scalar output, the common case


def hessian_vector(rep, cotangent, direction):
    """(d^2 <cotangent, f> / dx^2) @ direction: one tangent and one second-order adjoint,
    run by the serial Hessian kernel with the direction as its one seed (so hvp compiles
    nothing that hessian does not)."""
    tape, n, m = rep.tape, rep.tape.n_in, rep.entry.out_size
    plan = _cached_plan(rep, "second", 1)
    prog = tape.fused if tape.fusion is not None else fused.program(tape)
    if prog is not None:      # the seeds straight into the buffers, or beside them
        bufs = plan.take()
        tans, adj, adjt = (b[0] for b in bufs)
        if prog.inputs_aside and in_place(direction, n):
            tin = direction
        else:
            tans[:n] = direction
            tin = tans[:n]
        adj[rep.entry.out_off:rep.entry.out_off + m] = cotangent
        h = prog.hvp(tape, rep.vals, rep.ivals, tans, adj, adjt, n, rep.xin, tin)
        plan.give(bufs)
        return h
    W = _UNIT if m == 1 and cotangent == 1.0 else np.full((1, m), cotangent, dtype=float)
    V = kernel_array(direction).reshape(n, 1)
    B = np.empty((1, n, 1))
    bufs = plan.take()
    args = (rep.vals, rep.ivals, n, rep.entry.out_off, m, W, _NO_COLORS, V, 1, plan.starts,
            1, False, *bufs, B)
    if plan.direct:
        tape.kernels.direct_hessian_chunks_serial(tape.packed, *args)
    else:
        blas.sweep(tape.kernels.direct_hessian_chunks_serial, tape, 1, *args)
    plan.give(bufs)
    return B[0, :, 0]
