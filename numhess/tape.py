"""The tape: a flat record of instructions over slots of one float64 buffer.

A slot is a C-ordered block of ``size`` elements at ``off`` in the value buffer. Inputs
take the first slots (so the differentiated variables are ``vals[:n_in]``), constants and
results follow in the order they were made. Every slot is written by one instruction only.
An alias is a slot inside another one (a contiguous slice such as ``x[1:]`` or ``x[i]``):
it costs no instruction, and its tangents and cotangents are its source's.
"""
import bisect

import numpy as np

from . import blas
from . import kernels as K

NO_IVALS = np.empty(0, dtype=np.int64)


class TapeBuilder:
    """Collects instructions while a function is traced."""

    def __init__(self, input_values, param_values=()):
        self.off, self.size, self.active = [], [], []
        self.alias_src, self.alias_start = [], []    # -1, 0 for a slot of its own
        self.base_off, self.base_slot = [], []        # slots of their own, by offset
        self.total = 0
        self.buf = np.empty(1024)   # concrete values at the trace point, slot by slot
        self.instr = []            # (op, out, a, b, c, pi, fp, iw)
        self.ipool = []            # list of int64 arrays, concatenated at the end
        self.ipool_len = 0
        self.ivals_len = 0
        self.const_pos, self.const_val = [], []
        self.guards = []           # (slot, expected float64 values)
        self.caught = False        # a LinAlgError went from numhess into f's code
        self.refused = None        # (frame, instruction, TraceError): the last refusal
        self._consts = {}
        self.inputs = [self.new_slot(v.size, True, v) for v in input_values]
        self.n_in = self.total
        # parameters: loaded at every call like the inputs, never differentiated
        self.params = [self.new_slot(v.size, False, v) for v in param_values]
        self.zero = self.constant(np.zeros(1))   # a slot whose value and tangent are 0

    # -- slots
    def new_slot(self, size, active, value):
        size = int(size)
        if self.total + size > self.buf.size:
            # only the filled part is copied: the rest of a large np.empty maps no page
            # until it is written (np.concatenate with empties would write them all)
            buf = np.empty(max(2 * self.buf.size, self.total + size))
            buf[:self.total] = self.buf[:self.total]
            self.buf = buf
        self.buf[self.total:self.total + size] = np.ravel(value)
        self.base_off.append(self.total)
        self.base_slot.append(len(self.off))
        self.total += size
        return self._slot(self.total - size, size, active, -1, 0)

    def _slot(self, off, size, active, src, start):
        self.off.append(off)
        self.size.append(size)
        self.active.append(bool(active))
        self.alias_src.append(src)
        self.alias_start.append(start)
        return len(self.off) - 1

    def constant(self, value):
        """A slot holding a constant array (deduplicated for scalars)."""
        value = np.ascontiguousarray(value, dtype=np.float64).ravel()
        key = float(value[0]) if value.size == 1 else None
        if key is not None and key in self._consts and not np.isnan(key):
            return self._consts[key]
        s = self.new_slot(value.size, False, value)
        self.const_pos.append(np.arange(self.off[s], self.off[s] + value.size))
        self.const_val.append(value)
        if key is not None:
            self._consts[key] = s
        return s

    def add_ints(self, ints):
        ints = np.asarray(ints, dtype=np.int64).ravel()
        start = self.ipool_len
        self.ipool.append(ints)
        self.ipool_len += ints.size
        return start

    # -- instructions
    def emit(self, op, value, args=(), ints=None, fp=0.0, ivals=0, active=None):
        """Append one instruction writing a new slot that holds `value` at the trace point."""
        a, b, c = (list(args) + [-1, -1, -1])[:3]
        if active is None:
            active = any(self.active[s] for s in args)
        out = self.new_slot(np.size(value), active, value)
        pi = self.add_ints(ints) if ints is not None else 0
        iw = self.ivals_len
        self.ivals_len += ivals
        self.instr.append((op, out, a, b, c, pi, float(fp), iw))
        return out

    def gather(self, positions, active):
        """y[i] = buf[positions[i]] over absolute buffer positions (any number of sources);
        a contiguous run inside one slot is an alias instead, with no instruction."""
        positions = np.asarray(positions, dtype=np.int64).ravel()
        n = positions.size
        # (the kernels read these unchecked: a position outside the buffer would read or
        # write outside it)
        if n and not 0 <= positions.min() <= positions.max() < self.total:
            raise RuntimeError("numhess: internal error, a gather outside the trace's "
                               "buffer; please report the function traced")
        if n and positions[-1] - positions[0] == n - 1 and (
                n == 1 or np.all(positions[1:] - positions[:-1] == 1)):
            src = self.base_slot[bisect.bisect_right(self.base_off, positions[0]) - 1]
            start = positions[0] - self.off[src]
            if positions[-1] < self.off[src] + self.size[src]:
                if start == 0 and n == self.size[src]:
                    return src
                return self._slot(positions[0], n, self.active[src], src, start)
        return self.emit(K.GATHER, self.buf[positions], ints=positions, active=active)

    def guard(self, slot, expected):
        self.guards.append((slot, np.asarray(expected, dtype=np.float64).ravel().copy()))

    def finish(self, out_slots):
        return Tape(self, self.n_in, out_slots)


def _blas_work(tape):
    """The multiply-adds of the tape's largest BLAS or LAPACK call, per direction of a
    sweep: (m, p) @ (p, q) costs m p q, a factorization of an m x n matrix about
    m n min(m, n); an op of unknown cost counts as infinite. blas.py decides by it when
    to hold BLAS to one thread."""
    work = 0.0
    for t in np.flatnonzero(np.isin(tape.op, K.BLAS_OPS)):
        dims = tape.ipool[tape.pi[t]:tape.pi[t] + 4]
        if tape.op[t] == K.MATMUL:
            work = max(work, float(dims[1]) * dims[2] * dims[3])
        elif tape.op[t] in (K.INV, K.LOGABSDET, K.SIGNDET, K.CHOL, K.LU):
            work = max(work, float(dims[1]) ** 3)
        elif tape.op[t] == K.SOLVE:        # batch, n, m: solves with known factors
            work = max(work, float(dims[1]) ** 2 * dims[2])
        elif tape.op[t] == K.LAPACK:       # kind, batch, m, n
            work = max(work, float(dims[2]) * dims[3] * min(dims[2], dims[3]))
        else:
            return float("inf")
    return work


def _input_product_work(tape):
    """The multiply-adds, per direction, of the products with an operand among the inputs
    (x itself, or a view of it): their rows of a Hessian's chunk above its diagonal block
    can be left out (kernels._hessian_chunks, lower)."""
    work = 0.0
    for t in np.flatnonzero(tape.op == K.MATMUL):
        if any(tape.sact[s] and tape.off[s] < tape.n_in for s in (tape.a[t], tape.b[t])):
            work += float(np.prod(tape.ipool[tape.pi[t]:tape.pi[t] + 4]))
    return work


READ_IN_PLACE_MIN = 4096   # elements; a smaller parameter is copied (that costs a few us)


def _read_in_place(tape, params):
    """{parameter index: w} for the large parameters that only matrix products read (as
    an operand, or a view of one): the products read them where the caller keeps them
    (kernels._sources), so that no call copies them into vals (a 1000 x 1000 data matrix
    cost 150 us a call, a logistic regression's gradient 290 us). run_forward writes
    their address, offset and size at ivals[w:w + 3], and ipool[q + 4] (left operand),
    ipool[q + 5] (right) of each product reading one hold its w."""
    large = [j for j, s in enumerate(params) if tape.size[s] >= READ_IN_PLACE_MIN]
    if not large:
        return {}
    base = tape.base_of
    read = np.zeros(tape.off.size, dtype=np.bool_)       # by anything but a product
    read[base[tape.out_slots]] = True
    mark = _reads(tape)
    for t in np.flatnonzero(tape.op != K.MATMUL):
        mark(read, t)
    got = {}
    for j in large:
        if read[params[j]]:
            continue
        got[j] = tape.ivals_len
        tape.ivals_len += 3
        for t in np.flatnonzero(tape.op == K.MATMUL):
            for side, operand in ((4, tape.a[t]), (5, tape.b[t])):
                if base[operand] == params[j]:
                    tape.ipool[tape.pi[t] + side] = got[j]
    return got


# Instructions whose second-order adjoint rules read no tangent (linear and index ops).
NO_SECOND_ORDER = K.LINEAR_OPS + (K.WHERE, K.GATHER, K.SCATTER, K.SUMALL, K.MAXRED,
                                  K.MINRED, K.SORT)


def _reads(tape):
    """mark(flags, t): flags[s] = True for every slot s that instruction t reads (its
    operands, and a GATHER's sources, by absolute position in any slot), by base slot."""
    base, base_slots = tape.base_of, tape.base_slots

    def mark(flags, t):
        flags[base[[s for s in (tape.a[t], tape.b[t], tape.c[t]) if s >= 0]]] = True
        if tape.op[t] == K.GATHER:
            pos = tape.ipool[tape.pi[t]:tape.pi[t] + tape.size[tape.out[t]]]
            flags[base_slots[np.searchsorted(tape.off[base_slots], pos, "right") - 1]] = True
    return mark


def _useful(tape):
    """Per slot: is it an input, or does it reach an output through instructions with
    derivatives? Activity is varied and useful: a value only compared (np.where's
    condition, a mask, an `if`) or rounded has no part in any derivative; left active,
    the reverse sweeps met its zero cotangents with its partials, and an infinite one
    (sqrt, log, 1 / x at 0) made gradients NaN. By base slot (an alias is its source's)."""
    base = tape.base_of
    useful = np.zeros(tape.off.size, dtype=np.bool_)
    useful[base[tape.out_slots]] = True
    mark = _reads(tape)
    for t in range(tape.op.size - 1, -1, -1):
        y = tape.out[t]
        if tape.sact[y] and useful[y]:
            mark(useful, t)
    return useful[base] | (tape.off < tape.n_in)


def _tangents_read(tape):
    """Per instruction: does a Hessian read its result's tangent, in a second-order rule
    or in the tangent rule of an instruction whose tangent is read? The tangent sweep of
    a Hessian skips the others (a sum of squares computes the squares' tangents, not the
    sum's). Unknown opcodes count as reading every tangent they touch."""
    mark = _reads(tape)
    read = np.zeros(tape.off.size, dtype=np.bool_)
    used = np.zeros(tape.op.size, dtype=np.bool_)
    for t in range(tape.op.size - 1, -1, -1):
        o, y = int(tape.op[t]), tape.out[t]
        if not tape.sact[y]:
            continue
        if o not in NO_SECOND_ORDER:
            mark(read, t)
            if o >= K.BINARY_END and o != K.MATMUL:
                read[y] = True          # the linear-algebra rules read their result's too
        used[t] = read[y]
        if used[t]:
            mark(read, t)
    return used


def _second_cotangents_zero(tape):
    """Per instruction: is the second-order cotangent of its result zero in every
    Hessian's reverse sweep? The output's is (its cotangent is a constant), and so are
    those that only sums and other linear rules pass zeros to, near the output; a rule
    with second derivatives gives its active operands non-zero ones (from their
    tangents), and any rule passes a non-zero one on. The reverse sweep skips the zero
    ones' share (reading, propagating and clearing them); unknown opcodes count as
    second-order."""
    mark = _reads(tape)
    nonzero = np.zeros(tape.off.size, dtype=np.bool_)
    zero = np.ones(tape.op.size, dtype=np.bool_)
    for t in range(tape.op.size - 1, -1, -1):
        o, y = int(tape.op[t]), tape.out[t]
        if not tape.sact[y]:
            continue
        zero[t] = not nonzero[y]
        if nonzero[y] or o not in NO_SECOND_ORDER:
            mark(nonzero, t)
    return zero


_F64 = np.dtype(np.float64)


def in_place(a, n):
    """Can the compiled steps read a where it is (n native float64s, C-contiguous,
    writable: their signatures' type)?"""
    return type(a) is np.ndarray and a.dtype is _F64 and a.shape == (n,) and \
        a.flags.c_contiguous and a.flags.writeable


class Tape:
    """An immutable, picklable tape of flat arrays."""

    def __init__(self, b, n_in, out_slots):
        ins = np.array(b.instr, dtype=object).reshape(-1, 8)
        col = lambda j, dt: np.ascontiguousarray(ins[:, j].astype(dt)) if len(ins) else \
            np.zeros(0, dt)
        self.op, self.out, self.a, self.b, self.c = (col(j, np.int32 if j == 0 else np.int64)
                                                     for j in range(5))
        self.pi, self.fp, self.iw = col(5, np.int64), col(6, np.float64), col(7, np.int64)
        self.off = np.array(b.off, dtype=np.int64)
        self.size = np.array(b.size, dtype=np.int64)
        self.sact = np.array(b.active, dtype=np.bool_)
        self.ipool = np.concatenate(b.ipool) if b.ipool else np.zeros(0, np.int64)
        b.ipool = []       # (the builder's pieces, freed while the tape is built)
        self.cpos = np.concatenate(b.const_pos).astype(np.int64)
        self.fpool = np.concatenate(b.const_val)
        self.total = b.total
        self.ivals_len = b.ivals_len
        self.n_in = n_in
        self.param_spans = [(b.off[s], b.size[s]) for s in b.params]
        self.out_slots = list(out_slots)
        self.guards = list(b.guards)
        # all guards as one comparison: a floor `max(h, 1e-4)` in a 500-step loop is 500
        # guards, and one np.array_equal each cost 1.4 us of every call (a GARCH gradient
        # 1.08 ms, 0.28 without the floor)
        self.guard_pos = np.concatenate([np.arange(b.off[s], b.off[s] + e.size)
                                         for s, e in b.guards] or [NO_IVALS])
        self.guard_val = np.concatenate([e for _, e in b.guards] or [np.zeros(0)])
        # f went on after a LinAlgError of numhess's (its `except` ran): a tape of this
        # point alone, not kept, as no guard can say where the error would come again
        self.caught = b.caught
        self.alias_src = np.array(b.alias_src, dtype=np.int64)
        self.alias_start = np.array(b.alias_start, dtype=np.int64)
        self.base_slots = np.flatnonzero(self.alias_src < 0)   # slots of their own, by offset
        self.base_of = np.where(self.alias_src < 0, np.arange(self.alias_src.size),
                                self.alias_src)                 # each slot's
        self.in_place = _read_in_place(self, b.params)
        self.sact &= _useful(self)
        base = self.alias_src < 0
        self.pact = np.repeat(self.sact[base], self.size[base])   # activity by position
        self.active_total = int(self.size[base & self.sact].sum())
        self.has_matmul = bool(np.any(np.isin(self.op, K.BLAS_OPS)))   # BLAS or LAPACK
        # the kernels compiled without the rules no instruction of the tape needs
        self.kernels = (K.FULL if np.any(np.isin(self.op, K.LINALG_OPS)) else
                        K.PLAIN if np.any(self.op == K.MATMUL) else K.LEAN)
        self.blas_work = _blas_work(self)
        # OpenBLAS threads a solve with known factors (getrs) over its right-hand sides
        # at any size (blas.py holds it to one thread then)
        self.solves = bool(np.any(self.op == K.SOLVE))
        self.input_product_work = _input_product_work(self)
        self.tused = _tangents_read(self)
        self.gzero = _second_cotangents_zero(self)
        self._pack()
        self.fused = None     # fused.Program once compiled; fusion: its state (fused.py)
        self.fusion = None

    INT_FIELDS = ("op", "out", "a", "b", "c", "pi", "iw", "off", "size", "ipool", "cpos")

    def _pack(self):
        """The kernels' one int64 array, `packed` (kernels.unpack cuts it): 14 header
        entries (the 12 bounds of the 11 integer fields, the end of the floats, the number
        of booleans), the integer fields, then the floats' and the booleans' bytes. One
        array, as Numba unboxes each array of every call (a tuple of three cost 0.18 us
        more a call). The fields become views of it."""
        ints = [np.asarray(getattr(self, f), dtype=np.int64) for f in self.INT_FIELDS]
        nf = self.fp.size + self.fpool.size
        nb = self.sact.size + 2 * self.op.size + self.pact.size
        sizes = [p.size for p in ints] + [nf, -(-nb // 8)]
        bounds = 14 + np.cumsum([0] + sizes)
        packed = np.empty(bounds[-1], np.int64)
        packed[:13], packed[13] = bounds[:13], nb
        for f, p, lo in zip(self.INT_FIELDS, ints, bounds):
            packed[lo:lo + p.size] = p
            setattr(self, f, packed[lo:lo + p.size])
        floats = packed[bounds[11]:bounds[12]].view(np.float64)
        np.concatenate([self.fp, self.fpool], out=floats)
        self.fp, self.fpool = floats[:self.fp.size], floats[self.fp.size:]
        ns, ni = self.sact.size, self.op.size
        bools = packed[bounds[12]:].view(np.bool_)[:nb]
        np.concatenate([self.sact, self.tused, self.gzero, self.pact], out=bools)
        self.sact, self.tused = bools[:ns], bools[ns:ns + ni]
        self.gzero, self.pact = bools[ns + ni:ns + 2 * ni], bools[ns + 2 * ni:]
        self.packed = packed

    def __getstate__(self):      # compiled loops stay in their process
        return dict(self.__dict__, fused=None, fusion=None)

    def __len__(self):
        return self.op.size

    def run_forward(self, x, params=(), vals=None, constants=True, lean=False, output=True):
        """Evaluate at x (flat float64 of length n_in) with the parameter arrays, into
        vals (a new buffer when None): returns (vals, ivals). constants: write the tape's
        constants (False: vals holds them from a forward sweep before; an identity matrix
        among them cost the 999-variable Lennard-Jones gradient 33 us a call). lean: for
        a gradient or HVP only (fused loops may then leave results they keep in
        registers unwritten, and without output the outputs too). Returns (vals, ivals,
        xin, held): xin the inputs' values, vals[:n_in] or, for a gradient or HVP whose
        fused loops alone read them (fused.Program.inputs_aside), x itself, not copied;
        held the parameters the products read in place (load_params)."""
        if vals is None:
            vals, constants = np.empty(self.total), True
        fused = self.fused
        if lean and not output and fused is not None and fused.inputs_aside and \
                in_place(x, self.n_in):
            xin = x
        else:
            # (here, not in the kernel: x may be strided or read-only, each another compile)
            vals[:self.n_in] = x
            xin = vals[:self.n_in]
        # most tapes keep no index maps: share one empty array, nothing ever writes it
        ivals = np.empty(self.ivals_len, dtype=np.int64) if self.ivals_len else NO_IVALS
        held = self.load_params(params, vals, ivals) if params else ()
        if fused is not None:
            fused.forward(self, vals, ivals, not lean, constants, output, xin)
        elif blas.may_thread(self, 1):
            blas.sweep(self.kernels.direct_forward, self, 1, vals, ivals, constants, 0, K.ALL)
        else:           # nothing for BLAS to thread: a Python frame less (0.24 us)
            self.kernels.direct_forward(self.packed, vals, ivals, constants, 0, K.ALL)
        return vals, ivals, xin, held

    def load_params(self, params, vals, ivals):
        """Copy the parameters into vals, but for those the products read in place: their
        address, offset and size into ivals. Returns the arrays read in place (C-contiguous
        float64: a copy where the caller's is not), which must outlive the sweeps."""
        held = []
        for j, ((o, size), p) in enumerate(zip(self.param_spans, params)):
            w = self.in_place.get(j)
            if w is None:
                vals[o:o + size] = p.reshape(-1)
            else:
                p = np.ascontiguousarray(p, dtype=np.float64)
                ivals[w:w + 3] = p.ctypes.data, o, size
                held.append(p)
        return held

    def guards_hold(self, vals):
        """Does every guard see the value it was traced with (NaN never does)?"""
        return bool((vals[self.guard_pos] == self.guard_val).all())

    def value(self, vals, slot):
        o = self.off[slot]
        return vals[o:o + self.size[slot]]
