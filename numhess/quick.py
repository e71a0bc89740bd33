"""Small calls without the general path: for the tape of a transform's last call, one
closure with everything its replay reads bound, tried first at the next call (of a
10-variable Hessian's 5.3 us, 2 went to the general path's look-ups and checks).

A tape qualifies when nothing of the general path can differ from one call to the next:
one differentiated argument, no guard (nor a LinAlgError f caught: Tape.caught), no aux,
a scalar output, serial sweeps on the interpreter (no fused loops, no BLAS threads, no
progress bar), a fresh value buffer. The closure checks what still can (x's type, dtype
and shape, the other arguments, the values read from outside) and returns None when one
differs: the general path then serves the call, retracing if need be, and learns the tape
it used."""
import numpy as np

from . import blas, drivers, fused, hessians, kernels as K, traced
from .outside import same
from .tape import NO_IVALS

_F64 = np.dtype(np.float64)


def _no_call(*args):
    return None


class Quick:
    """A transform's fast path: call(*args) -> result, or None for the general path."""
    __slots__ = ("traced", "key", "call")

    def __init__(self, tf, build, *options):
        self.traced, self.key, self.call = tf, (build, *options), _no_call

    def learn(self, rep, args):
        """After a general call with f's arguments args (its sweeps done, so the fused
        loops asked for): the closure for its tape, if it qualifies (built once per tape
        and kind of call)."""
        e, tape, tf = rep.entry, rep.tape, self.traced
        call = None
        if not tf.multi and not tf.has_aux and not tape.guards and not tape.caught and \
                e.out_size == 1 and tape.total < traced.RECYCLE_MIN and tape.fused is None \
                and not tape.fusion and not blas.may_thread(tape, 1):
            nums, others = tf.positions(len(args))
            pnums = tuple(j for j in others if tf.use_params and traced.is_param(args[j]))
            key = self.key + (len(args), pnums)
            call = e.derived.get(key)
            if call is None:
                forward = _forward(rep, args, nums[0], pnums)
                call = e.derived[key] = self.key[0](rep, forward, *self.key[1:]) or False
        self.call = call or _no_call


def _forward(rep, args, i, pnums):
    """forward(args) -> (vals, ivals, held) of a forward sweep at f's arguments args, as
    Tape.run_forward's, or None where the tape may not fit them: x = args[i] of another
    type, dtype or shape, a parameter (at pnums) of another shape, another value of a
    constant argument or of what f reads from outside."""
    tape, e = rep.tape, rep.entry
    shape, n, total, n_ivals = e.spans[0][2], tape.n_in, tape.total, tape.ivals_len
    flat, outside, packed, kernels = len(shape) == 1, e.outside, tape.packed, tape.kernels
    nargs, params = len(args), tuple((j, args[j].shape) for j in pnums)
    # (the type as well: the call's key has it, and `same` compares arrays by value)
    statics = tuple((j, type(args[j]), e.statics[j]) for j in range(nargs)
                    if j != i and j not in pnums)
    is_param = traced.is_param

    def forward(args):
        if len(args) != nargs:
            return None
        x = args[i]
        if type(x) is not np.ndarray or x.dtype is not _F64 or x.shape != shape:
            return None
        for j, kind, v in statics:
            a = args[j]
            if a is not v and (type(a) is not kind or not same(a, v)):
                return None
        for j, pshape in params:
            if not is_param(args[j]) or args[j].shape != pshape:
                return None
        if outside is not None and not outside.unchanged():
            return None
        vals = np.empty(total)
        vals[:n] = x if flat else x.reshape(-1)
        ivals = np.empty(n_ivals, dtype=np.int64) if n_ivals else NO_IVALS
        held = tape.load_params([args[j] for j, _ in params], vals, ivals) if params else ()
        try:
            kernels.direct_forward(packed, vals, ivals, True, 0, K.ALL)
        except np.linalg.LinAlgError:       # (the general path traces again: f's except)
            return None
        return vals, ivals, held
    return forward


def hessian(rep, forward, chunk_size):
    """hessian(f)(*args) of a scalar f on fewer than hessians.SMALL_N variables (basis
    sweeps)."""
    tape, e = rep.tape, rep.entry
    n = tape.n_in
    if n >= hessians.SMALL_N:
        return None
    plan, colors, split = drivers._dense_plan(rep, chunk_size)
    if split or not plan.direct or tape.active_total * plan.k >= fused.HESSIAN_MIN_WORK:
        return None
    kernels, packed, shape = tape.kernels, tape.packed, e.out_shape + e.spans[0][2] * 2
    off, starts, k, W = e.out_off, plan.starts, plan.k, hessians.ONE

    def call(*args):
        sweep = forward(args)
        if sweep is None:
            return None
        B = np.empty((1, n, n))
        bufs = plan.take()
        kernels.direct_hessian_chunks_serial(packed, sweep[0], sweep[1], n, off, 1, W,
                                             colors, drivers._NO_SEEDS, n, starts, k, True,
                                             *bufs, B)
        plan.give(bufs)
        return B.reshape(shape)
    return call


def _gradient(rep):
    """(vals, ivals) -> the gradient of the scalar output, as drivers.gradient's serial
    path computes it."""
    tape, e = rep.tape, rep.entry
    plan = drivers._cached_plan(rep, "adjoint", 1)
    if not plan.direct:
        return None
    n, off, shape, kernels, packed = tape.n_in, e.out_off, e.spans[0][2], tape.kernels, \
        tape.packed

    def gradient(vals, ivals):
        bufs = plan.take()
        bufs[0][0][off] = 1.0
        g = np.empty(n)
        kernels.direct_adjoint(packed, vals, ivals, bufs[0][0], 1, False, g, 0, K.ALL)
        plan.give(bufs)
        return g.reshape(shape)
    return gradient


def grad(rep, forward):
    """grad(f)(*args)."""
    gradient = _gradient(rep)
    if gradient is None:
        return None

    def call(*args):
        sweep = forward(args)
        return None if sweep is None else gradient(sweep[0], sweep[1])
    return call


def value_and_grad(rep, forward):
    """value_and_grad(f)(*args) of an f whose value is a scalar."""
    gradient, off = _gradient(rep), rep.entry.out_off
    if gradient is None or rep.entry.out_shape != ():
        return None

    def call(*args):
        sweep = forward(args)
        return None if sweep is None else (sweep[0][off], gradient(sweep[0], sweep[1]))
    return call


def hvp(rep, forward):
    """hvp(f)(x, v, *args), as drivers.hessian_vector's interpreted path computes it."""
    tape, e = rep.tape, rep.entry
    plan = drivers._cached_plan(rep, "second", 1)
    if not plan.direct:
        return None
    kernels, packed = tape.kernels, tape.packed
    n, off, shape, starts = tape.n_in, e.out_off, e.spans[0][2], plan.starts

    def call(x, v, *args):
        if type(v) is not np.ndarray or v.dtype is not _F64 or v.shape != shape:
            return None
        sweep = forward((x, *args))
        if sweep is None:
            return None
        B = np.empty((1, n, 1))
        bufs = plan.take()
        kernels.direct_hessian_chunks_serial(
            packed, sweep[0], sweep[1], n, off, 1, drivers._UNIT, drivers._NO_COLORS,
            drivers.kernel_array(v).reshape(n, 1), 1, starts, 1, False, *bufs, B)
        plan.give(bufs)
        return B.reshape(shape)
    return call
