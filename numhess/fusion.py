"""Fused elementwise regions: one loop per run of elementwise instructions, as source.

The interpreter passes over whole arrays once per instruction and rule, so a long chain
of elementwise ops at large sizes is bound by memory traffic (Rosenbrock's gradient at
n = 10^5: 8 forward and 8 reverse passes). A region here is a run of consecutive
elementwise instructions (and gathers) of one size; its loop keeps every intermediate
value, tangent and cotangent of an element in registers, and reads and writes the
buffers only at the region's edges. `regions` finds them on a tape, `source` writes six
Numba functions per region (STEPS: values; the tangent and the second-order reverse
step over one direction, an HVP's, and over k, a Hessian chunk's; the gradient's
reverse step); fused.py compiles and runs them between the interpreter's stretches.
The rules are the interpreter's, over one element (scalar_rules.py).
"""
import numpy as np

from . import kernels as K
from .scalar_rules import ARITHMETIC, BINARY, HELPERS, UNARY, Param


# ----------------------------------------------------------------- symbolic sums
def _mul(*fs):
    """The product of names and constants, with the constants 0 and 1 folded (a zero
    term is left out, not multiplied: its factors may be infinite)."""
    if "0.0" in fs:
        return "0.0"
    fs = [f for f in fs if f != "1.0"]
    neg = sum(f == "-1.0" for f in fs) % 2
    fs = [f for f in fs if f != "-1.0"] or ["1.0"]
    return ("-" if neg else "") + " * ".join(fs)


def _add(*ts):
    ts = [t for t in ts if t != "0.0"]
    return " + ".join(f"({t})" for t in ts) if ts else "0.0"


class _Emitter:
    """Lines of a loop body, with fresh temporaries (numbered in n_box, which a loop
    nested in it shares)."""

    def __init__(self, n_box=None):
        self.lines, self.n_box = [], [0] if n_box is None else n_box

    def tmp(self, expr):
        if expr in ("0.0", "1.0", "-1.0", "2.0"):
            return expr
        self.n_box[0] += 1
        name = f"t{self.n_box[0]}"
        self.lines.append(f"{name} = {expr}")
        return name


# ----------------------------------------------------------------- regions
MIN_SIZE = 2     # elements: a region of scalars runs faster in the interpreter
MAX_LENGTH = 32  # instructions: a loop's compile time grows with its body (fused.MAX_INSTRUCTIONS)


class Region:
    """Instructions t0 <= t < t1, all elementwise (or gathers) over `n` elements.

    Operands outside the region ("externals") are read by offset, full (n elements) or
    broadcast (one); `exposed` marks the region's results read after it (their values
    pass through the buffer), `pulled` those whose tangents and cotangents do too; the
    others live in registers. A sum of a result right after the run (`total`, its
    instruction: SUMALL, or SCATTER over axes) joins the reverse steps: its cotangents
    are read where the interpreter would spread them over a buffer. A SUMALL's value
    joins the values step too (`summed`: in _sum's order of additions); its tangents, a
    SCATTER's values, stay the interpreter's."""

    def __init__(self, tape, t0, t1, exposed, pulled, total):
        self.t0, self.t1, self.n = t0, t1, int(tape.size[tape.out[t0]])
        self.exposed, self.pulled, self.total = exposed, pulled, total
        self.end = t1 + (total is not None)     # the reverse steps' stretch
        self.summed = total is not None and bool(tape.op[total] == K.SUMALL)
        self.stop = t1 + self.summed            # the values step's
        self.slots = [int(tape.out[t]) for t in range(t0, t1)]
        inner = {_place(tape, s) for s in self.slots}
        self.externals = {}   # (offset, size) -> (index in the offsets array, full, active)
        for t in range(t0, t1):
            for s in _operands(tape, t):
                o = _place(tape, s)
                if o not in inner and o not in self.externals:
                    self.externals[o] = (len(self.externals) + 1, bool(tape.size[s] > 1),
                                         bool(tape.sact[s]))
        # the externals among the inputs, read from the caller's arrays (xin, tin)
        self.inputs = {j for (o, m), (j, _, _) in self.externals.items() if o + m <= tape.n_in}
        # the sum's offset and size, if any; a gather's or SCATTER's positions: where
        # they start in the packed tape, by instruction
        self.total_j = len(self.externals) + len(self.slots) + 1
        sums = [] if total is None else [tape.off[tape.out[total]], tape.size[tape.out[total]]]
        starts = [t for t in range(t0, t1) if tape.op[t] == K.GATHER]
        starts += [total] if total is not None and tape.op[total] == K.SCATTER else []
        self.index_j = {t: self.total_j + len(sums) + q for q, t in enumerate(starts)}
        pool = (tape.ipool.ctypes.data - tape.packed.ctypes.data) // 8
        params = (tape.fp.ctypes.data - tape.packed.ctypes.data) // 8 + t0   # in T, as F
        self.offsets = np.array([self.n, *(o for o, _ in self.externals),
                                 *(tape.off[s] for s in self.slots), *sums,
                                 *(pool + tape.pi[t] for t in starts), params], dtype=np.int64)


def _place(tape, s):
    """A slot's (offset, size): what it reads, whichever slot (an alias) names it."""
    return int(tape.off[s]), int(tape.size[s])


def _operands(tape, t):
    """Its operand slots (a GATHER's sources are positions, not operands)."""
    o = tape.op[t]
    if o == K.GATHER:
        return []
    return [int(s) for s in ((tape.a[t],) if o < K.UNARY_END else (tape.a[t], tape.b[t])
                              if o < K.BINARY_END else (tape.a[t], tape.b[t], tape.c[t]))]


def _positions(tape, t):
    """The buffer positions a GATHER reads."""
    return tape.ipool[tape.pi[t]:tape.pi[t] + tape.size[tape.out[t]]]


def _fusable(tape, t):
    o = int(tape.op[t])
    return (o in UNARY or o in BINARY or o == K.WHERE or o == K.GATHER) and \
        tape.size[tape.out[t]] >= MIN_SIZE and \
        tape.alias_src[tape.out[t]] < 0


def last_reads(tape, outputs=True):
    """Per buffer position, the last instruction that reads it (what the guards compare,
    and with `outputs` the outputs: past the last), so a result is read after its region
    when a position of it is."""
    last = np.full(tape.total, -1, np.int64)
    for t in range(tape.op.size):
        for s in (tape.a[t], tape.b[t], tape.c[t]):
            if s >= 0:
                last[tape.off[s]:tape.off[s] + tape.size[s]] = t
        if tape.op[t] == K.GATHER:
            last[tape.ipool[tape.pi[t]:tape.pi[t] + tape.size[tape.out[t]]]] = t
    for s in [*(tape.out_slots if outputs else ()), *(s for s, _ in tape.guards)]:
        last[tape.off[s]:tape.off[s] + tape.size[s]] = tape.op.size
    return last


def regions(tape, min_work=0):
    """The tape's fusable regions, in order: maximal runs of at least two consecutive
    elementwise instructions of one size whose operands are either results of the run
    itself, whole, or lie outside what the run writes; those of at least min_work
    elements times instructions."""
    found, t, nops = [], 0, tape.op.size
    last = None
    while t < nops:
        if not _fusable(tape, t):
            t += 1
            continue
        n, t0 = tape.size[tape.out[t]], t
        written = {}                       # offset -> size of the run's results
        while t < nops and t - t0 < MAX_LENGTH and _fusable(tape, t) and \
                tape.size[tape.out[t]] == n:
            ok = True
            if tape.op[t] == K.GATHER:
                pos = _positions(tape, t)
                lo, hi = int(pos.min()), int(pos.max()) + 1
                ok = not any(lo < wo + wm and wo < hi for wo, wm in written.items())
            for s in _operands(tape, t):
                o, m = int(tape.off[s]), int(tape.size[s])
                inside = written.get(o) == m
                overlaps = any(o < wo + wm and wo < o + m for wo, wm in written.items())
                if (m != n and m != 1) or (overlaps and not inside):
                    ok = False
            if not ok:
                break
            written[int(tape.off[tape.out[t]])] = int(n)
            t += 1
        # A gather loads by index, so its loop runs one element at a time: with a
        # function of its own in the run (tanh: 8 ns an element so, against about one
        # vectorized), the gathers that open the run stay the interpreter's (a net's bias
        # broadcast over its batch: the gradient 317 -> 114 us). Pairwise differences
        # gathered under plain arithmetic keep them (not written out: 2x faster).
        if any(tape.op[u] not in ARITHMETIC and tape.op[u] != K.GATHER for u in range(t0, t)):
            while t0 < t and tape.op[t0] == K.GATHER:
                t0 += 1
        if t - t0 >= 2 and n * (t - t0) >= min_work:
            if last is None:
                last = last_reads(tape)
            total = t if t < nops and tape.op[t] in (K.SUMALL, K.SCATTER) and \
                tape.sact[tape.out[t]] and int(tape.off[tape.a[t]]) in written and \
                tape.size[tape.a[t]] == n else None
            reads = [last[tape.off[tape.out[u]]:tape.off[tape.out[u]] + n].max(initial=-1)
                     for u in range(t0, t)]
            found.append(Region(tape, t0, t, [bool(r >= t) for r in reads],
                                [bool(r >= t + (total is not None)) for r in reads], total))
        elif t == t0:
            t += 1
    return found


def needed_by_derivatives(tape, region, last):
    """Does a gradient's or HVP's forward sweep need the region's values step: does it
    keep a value the reverse steps load, or one (its sum included) that a later
    instruction or a guard reads (`last`: last_reads without the outputs)?"""
    ts = range(region.t0, region.stop)
    return any(_loaded(tape, t) for t in range(region.t0, region.t1)) or any(
        last[tape.off[tape.out[t]]:tape.off[tape.out[t]] + tape.size[tape.out[t]]].max(
            initial=-1) >= region.stop for t in ts)


def _loaded(tape, t):
    """Do the reverse steps load t's value (stored by every forward sweep) rather than
    recompute it? The active ones that are not plain arithmetic nor gathers."""
    o = int(tape.op[t])
    return bool(tape.sact[tape.out[t]]) and o not in ARITHMETIC and o != K.GATHER



# ----------------------------------------------------------------- source
class _Body:
    """One region's loop body as it is built: the names of each slot's value and tangent
    in it, the loads of externals on first use. Values, partials and cotangents go to
    the `outer` lines (once per element); tangents and the cotangents' tangents to the
    `inner` ones, which are the same lines with one direction and a loop over the k
    directions with several (`wide`: tangent buffers hold k values per element)."""

    def __init__(self, tape, region, tangents=None, wide=False):
        self.tape, self.r, self.wide = tape, region, wide
        self.outer = _Emitter()
        self.inner = _Emitter(self.outer.n_box) if wide else self.outer
        self.value, self.tangent = {}, {}
        self.tangents = tangents      # the buffer tangents are loaded from, if any

    def operand(self, s):
        """The value name of operand slot s."""
        o = _place(self.tape, s)
        if o not in self.value:
            j, full, _ = self.r.externals[o]
            self.value[o] = self.outer.tmp(_at("vals", j, full))
        return self.value[o]

    def operand_tangent(self, s):
        """The tangent name of operand slot s ("0.0" when inactive or not computed)."""
        o = _place(self.tape, s)
        if o not in self.tangent and o in self.r.externals:
            j, full, active = self.r.externals[o]
            self.tangent[o] = (self.inner.tmp(_at(self.tangents, j, full, self.wide))
                               if active and self.tangents else "0.0")
        return self.tangent.get(o, "0.0")

    def instruction(self, t, recompute=True, with_tangent=False):
        """Emit t's value (recomputed, or loaded if recompute is False and not
        arithmetic), its partials, and with_tangent its tangent; returns the partials."""
        tape, e = self.tape, self.outer
        o, y = int(tape.op[t]), int(tape.out[t])
        p = Param(tape.fp[t], f"F[{t - self.r.t0}]")
        ops = [self.operand(s) for s in _operands(tape, t)]
        load = _at("vals", len(self.r.externals) + 1 + (t - self.r.t0))
        if o == K.GATHER:     # through its positions; parts: the position's name
            parts = e.tmp(f"U(idx{self.r.index_j[t]}[i])")
            v = e.tmp(f"vals[{parts}]")
        elif o == K.WHERE:    # selects, never products (a NaN not chosen stays out)
            v = e.tmp(_select(ops[2], ops[0], ops[1]))
            parts = ops[2]
        elif o in UNARY:
            value, derivs = UNARY[o]
            v = e.tmp(load if not recompute and _loaded(tape, t) else value(e, ops[0], p))
            parts = derivs(e, ops[0], v, p) if tape.sact[y] else None
        else:
            value, derivs = BINARY[o]
            v = e.tmp(load if not recompute and _loaded(tape, t) else value(ops[0], ops[1]))
            parts = derivs(e, ops[0], ops[1], v) if tape.sact[y] else None
        self.value[_place(tape, y)] = v
        if with_tangent and tape.sact[y] and tape.tused[t]:
            tans = [self.operand_tangent(s) for s in _operands(tape, t)]
            self.tangent[_place(tape, y)] = self.inner.tmp(
                f"{self.tangents}[{_wide_at(parts, self.wide)}]" if o == K.GATHER else
                _select(parts, *tans[:2]) if o == K.WHERE else
                _add(*(_mul(f, ts) for f, ts in zip(parts, tans))))
        return parts


def _wide_at(q, wide):
    """Position q of a buffer, or its direction d in a wide one."""
    return f"U({q} * k + d)" if wide else q


def _at(buf, j, full=True, wide=False):
    """Element i of operand or result j in buf (a broadcast operand's one element); in a
    wide buffer, its direction d."""
    if wide:
        return f"{buf}{j}[U(i * k + d)]" if full else f"{buf}{j}[d]"
    return f"{buf}{j}[i]" if full else f"{buf}{j}[0]"


INPUTS = {"vals": "xin", "tans": "tin"}    # the inputs' values and tangents, apart


def _header(region, name, buffers, wide=(), flags=""):
    """The function's head, of (*buffers, *inputs, [k,] *flags, o): each operand and
    result in each buffer as a slice of its own, indexed by the loop's counter (an index
    computed from an offset would be wrapped when negative, a select per access that
    keeps LLVM from vectorizing). The buffers in `wide` hold k values per element. The
    operands among the inputs are read from the arrays `xin` and `tin` (INPUTS), which
    may be the caller's (fused.Program.inputs_aside)."""
    inputs = [INPUTS[b] for b in buffers if b in INPUTS]
    args = ", ".join([*buffers, *inputs, *(["k"] if wide else []), "T", "pact", *flags, "o"])
    lines = ["@njit(**_JIT)", f"def {name}({args}):", "    n = o[0]",
             f"    F = T[o[-1]:o[-1] + {region.t1 - region.t0}].view(np.float64)"]
    lines += [f"    idx{j} = T[o[{j}]:o[{j}] + n]" for j in region.index_j.values()]
    sizes = [full for _, full, _ in region.externals.values()] + [True] * len(region.slots)
    if region.total is not None:       # the sum's, of size o[j + 1]
        sizes.append(f"o[{region.total_j + 1}]")
    for j, full in enumerate(sizes, 1):
        m = "n" if full is True else "1" if full is False else full
        src = {b: INPUTS.get(b, b) if j in region.inputs else b for b in buffers}
        lines += [f"    {b}{j} = {src[b]}[o[{j}] * k:(o[{j}] + {m}) * k]" if b in wide else
                  f"    {b}{j} = {src[b]}[o[{j}]:o[{j}] + {m}]" for b in buffers]
    return lines


def _loop(lines, body, before=(), after=(), summand=None, total=None):
    """lines, then body's outer lines in a loop over the elements (its inner ones, if
    apart, in a loop over the directions inside), then after. With a summand (a name
    in body), its sum into `total`: in _sum's order of additions."""
    inner = ["for d in range(k):", *("    " + b for b in body.inner.lines)] \
        if body.inner is not body.outer and body.inner.lines else []
    if summand is None:
        loop = ["for i in range(n):", *("    " + b for b in body.outer.lines + inner)]
    else:
        loop = _tiles(body.outer.lines + inner, summand, total)
    return lines + ["    " + b for b in [*before, *loop, *after]]


SUM_TILE = 256   # elements: a tile's summands stay in L1


def _tiles(body, summand, total):
    """The loop over the elements in tiles, each tile's summands added after it to
    eight running sums as _sum's (one would chain every add, and round otherwise): an
    element's is its index mod 8 (a tile starts at a multiple of 8), the last n % 8
    elements go to the first after all the others."""
    lanes = [f"s{j}" for j in range(8)]
    return [" = ".join(lanes) + " = 0.0", f"terms = np.empty({SUM_TILE})",
            f"for i0 in range(0, n, {SUM_TILE}):",
            f"    m = min({SUM_TILE}, n - i0)",
            "    for q in range(m):",
            "        i = U(i0 + q)      # (unsigned: not wrapped, so vectorized)",
            *("        " + b for b in body), f"        terms[q] = {summand}",
            "    m8 = m - m % 8",
            "    for q in range(0, m8, 8):",
            *(f"        {s} += terms[q + {j}]" for j, s in enumerate(lanes)),
            "    for q in range(m8, m):", "        s0 += terms[q]",
            f"{total} = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))"]


def _values(tape, region, name):
    """Every result's values; with every False only those read after the region (after
    its sum, if the step computes it) and those the reverse steps load (a gradient's or
    HVP's forward sweep)."""
    b = _Body(tape, region)
    read = region.pulled if region.summed else region.exposed    # after this step
    for t in range(region.t0, region.t1):
        b.instruction(t)
        u = t - region.t0
        store = f"{_at('vals', len(region.externals) + 1 + u)} = " \
            f"{b.value[_place(tape, tape.out[t])]}"
        b.outer.lines.append(store if read[u] or _loaded(tape, t) else "if every: " + store)
    head = _header(region, name, ["vals"], flags=["every"])
    if not region.summed:
        return _loop(head, b)
    return _loop(head, b, summand=b.value[_place(tape, tape.a[region.total])],
                 total=f"vals{region.total_j}[0]")


def _tangents(tape, region, name, wide):
    b = _Body(tape, region, tangents="tans", wide=wide)
    for t in range(region.t0, region.t1):
        b.instruction(t, with_tangent=True)
        y = int(tape.out[t])
        j = len(region.externals) + 1 + (t - region.t0)
        if region.exposed[t - region.t0] and tape.sact[y] and tape.tused[t]:
            b.inner.lines.append(f"{_at('tans', j, True, wide)} = {b.tangent[_place(tape, y)]}")
    return _loop(_header(region, name, ["vals", "tans"], ["tans"] if wide else ()), b)


MAX_CARRY = 4    # elements between overlapping externals whose cotangents are carried


def _routes(tape, region):
    """Where the loop puts the cotangents of externals that overlap another (x[:-1] and
    x[1:]): their updates of one buffer would depend on each other across iterations
    and keep the loop scalar. One a few elements past the first of its run (its
    `shift`) is carried: the first's update at element i adds what the others computed
    at i - shift, held in registers (Rosenbrock's HVP step at n = 10^5: 46 -> 24 us).
    Others are parked in the place of a result of the region that nothing after it reads
    (its cotangents are zero in every sweep and never otherwise touched), and added to
    theirs after the loop. Returns carried: offset -> (its run's first, shift), and
    parked: offset -> that result's index."""
    free = [len(region.externals) + 1 + u for u, t in enumerate(range(region.t0, region.t1))
            if tape.sact[tape.out[t]] and not region.pulled[u]]
    carried, parked, first, end = {}, {}, None, -1
    for (o, m), (j, full, active) in sorted(region.externals.items()):
        if not (full and active):
            continue
        if o >= end:
            first = (o, m)
        elif o - first[0] <= MAX_CARRY:
            carried[o, m] = (first, o - first[0])
        elif free:
            parked[o, m] = free.pop()
        end = max(end, o + m)
    return carried, parked


def _carry(buf, j, last, reach, shifts, wide):
    """The loop lines that add a run's cotangents into its first external j (`shifts`:
    shift -> terms, 0 the first's own), through the registers q1.. (q_s: what is due
    s elements on), and the lines after the loop that add what is still due (into
    external `last`, the run's furthest, `reach` past the first)."""
    top = max(shifts)
    q = [f"q{buf}{j}_{s}" + ("[d]" if wide else "") for s in range(top + 1)]
    lines = [f"{_at(buf, j, True, wide)} += {_add(*shifts.get(0, []), *q[1:2])}"]
    lines += [f"{q[s]} = {_add(*shifts.get(s, []), *q[s + 1:s + 2])}" for s in range(1, top + 1)]
    before = [f"q{buf}{j}_{s} = " + ("np.zeros(k)" if wide else "0.0")
              for s in range(1, top + 1)]
    after = []
    for s in range(1, top + 1):     # element n - 1 + s of the first is last's below
        at = f"n - {1 + reach - s}"
        after += (["for d in range(k):", f"    {buf}{last}[U(({at}) * k + d)] += {q[s]}"]
                  if wide else [f"{buf}{last}[{at}] += {q[s]}"])
    return lines, before, after


def _select(c, a, b):
    """a where c is not zero, else b."""
    return "0.0" if a == b == "0.0" else f"({a} if {c} != 0.0 else {b})"


def _pull_select(tape, ops, c, gy, gty, g, gt, outer, inner, second):
    """WHERE's cotangents (and their tangents) to the operand it chose."""
    for s, chosen in zip(ops[:2], (True, False)):
        if tape.sact[s]:
            pick = (lambda v: _select(c, v, "0.0")) if chosen else \
                (lambda v: _select(c, "0.0", v))
            g.setdefault(_place(tape, s), []).append(outer.tmp(pick(gy)))
            if second:
                gt.setdefault(_place(tape, s), []).append(inner.tmp(pick(gty)))


def _reverse(tape, region, name, second, wide=False):
    """The reverse step: cotangents (and with second, their tangents, over k directions
    when wide) pulled back from the region's exposed results through it to its
    externals."""
    b = _Body(tape, region, tangents="tans" if second else None, wide=wide)
    outer, inner = b.outer, b.inner
    parts = [b.instruction(t, recompute=False, with_tangent=second)
             for t in range(region.t0, region.t1)]
    g = {}        # (offset, size) -> terms of its cotangent; gt: of its tangent
    gt = {}
    before, after = [], []
    if region.total is not None:     # the sum's cotangents, read (then cleared) here
        ts, js = region.total, region.total_j
        summand = _place(tape, tape.a[ts])
        if tape.op[ts] == K.SUMALL:      # one for all its terms
            before.append(f"gsum = adj{js}[0]")
            g[summand] = ["gsum"]
            q = "0"
        else:                            # each term's, at its position
            q = f"U(idx{region.index_j[ts]}[i])"
            g[summand] = [outer.tmp(f"adj{js}[{q}]")]
        after += [f"for i in range(o[{js + 1}]):", f"    adj{js}[i] = 0.0"]
        if second and not tape.gzero[ts]:
            gt[summand] = [inner.tmp(f"adjt{js}[{_wide_at(q, wide)}]")]
            after += [f"for i in range(o[{js + 1}]{' * k' if wide else ''}):",
                      f"    adjt{js}[i] = 0.0"]
    for t in range(region.t1 - 1, region.t0 - 1, -1):
        y, u = int(tape.out[t]), t - region.t0
        if not tape.sact[y]:
            continue
        oy, j = _place(tape, y), len(region.externals) + 1 + u
        if region.pulled[u]:
            g.setdefault(oy, []).append(outer.tmp(_at("adj", j)))
            outer.lines.append(f"{_at('adj', j)} = 0.0")
            if second and not tape.gzero[t]:
                gt.setdefault(oy, []).append(inner.tmp(_at("adjt", j, True, wide)))
                inner.lines.append(f"{_at('adjt', j, True, wide)} = 0.0")
        gy = outer.tmp(_add(*g.get(oy, [])))
        gty = inner.tmp(_add(*gt.get(oy, []))) if second else "0.0"
        if gy == "0.0" and gty == "0.0":
            continue
        ops = _operands(tape, t)
        p = parts[u]
        if tape.op[t] == K.GATHER:     # to its positions, the active ones
            outer.lines.append(f"if pact[{p}]: adj[{p}] += {gy}")
            if second and gty != "0.0":
                inner.lines.append(f"if pact[{p}]: adjt[{_wide_at(p, wide)}] += {gty}")
            continue
        if len(ops) == 3:         # WHERE: the chosen operand's, by a select
            _pull_select(tape, ops, p, gy, gty, g, gt, outer, inner, second)
            continue
        first, cross = ([p[0]], [[p[1]]]) if len(ops) == 1 else \
            ([p[0], p[1]], [[p[2], p[3]], [p[3], p[4]]])
        tans = [b.operand_tangent(s) for s in ops] if second else []
        for q, s in enumerate(ops):
            if not tape.sact[s]:
                continue
            g.setdefault(_place(tape, s), []).append(outer.tmp(_mul(first[q], gy)))
            if second:
                terms = [_mul(first[q], gty)]
                terms += [_mul(_mul(f, gy), ts) for f, ts in zip(cross[q], tans)
                          if f != "0.0" and ts != "0.0"]
                gt.setdefault(_place(tape, s), []).append(inner.tmp(_add(*terms)))
    carried, parked = _routes(tape, region)
    runs = {}      # (buffer, first external) -> shift -> terms
    for o, (j, full, active) in region.externals.items():
        if not active:
            continue
        for buf, acc, e, w in (("adj", g, outer, False), ("adjt", gt, inner, wide)):
            total = _add(*acc.get(o, []))
            # (no second-order sweep reads an input's first-order cotangent)
            if total == "0.0" or second and buf == "adj" and sum(o) <= tape.n_in:
                continue
            first, shift = carried.get(o, (o, 0))
            if first != o or any(f == o for f, _ in carried.values()):
                runs.setdefault((buf, first), {}).setdefault(shift, []).append(total)
            elif o in parked:
                q = parked[o]
                e.lines.append(f"{_at(buf, q, True, w)} = {total}")
                after += [f"for i in range({'n * k' if w else 'n'}):",
                          f"    {buf}{j}[i] += {buf}{q}[i]", f"    {buf}{q}[i] = 0.0"]
            elif full:
                e.lines.append(f"{_at(buf, j, True, w)} += {total}")
            elif w:   # a broadcast operand: its cotangents sum over the loop
                before.append(f"s{buf}{j} = np.zeros(k)")
                e.lines.append(f"s{buf}{j}[d] += {total}")
                after += ["for d in range(k):", f"    {buf}{j}[d] += s{buf}{j}[d]"]
            else:
                before.append(f"s{buf}{j} = 0.0")
                e.lines.append(f"s{buf}{j} += {total}")
                after.append(f"{buf}{j}[0] += s{buf}{j}")
    for (buf, first), shifts in runs.items():
        w = buf == "adjt" and wide
        last, reach = max(((o, s) for o, (f, s) in carried.items() if f == first),
                          key=lambda os: os[1])
        lines, head, tail = _carry(buf, region.externals[first][0],
                                   region.externals[last][0], reach, shifts, w)
        (inner if buf == "adjt" else outer).lines.extend(lines)
        before += head
        after += tail
    head = _header(region, name, ["vals", "tans", "adj", "adjt"] if second else
                   ["vals", "adj"], ["tans", "adjt"] if wide else ())
    return _loop(head, b, before, after)


STEPS = ("values", "tangent", "adjoint", "second", "tangent_k", "second_k")
_BUILDERS = (_values, lambda t, r, n: _tangents(t, r, n, False),
             lambda t, r, n: _reverse(t, r, n, False),
             lambda t, r, n: _reverse(t, r, n, True),
             lambda t, r, n: _tangents(t, r, n, True),
             lambda t, r, n: _reverse(t, r, n, True, True))


def source(tape, region, suffix=""):
    """The functions of one region, named STEPS (+ suffix), as source: values, the
    tangent and the second-order step with one direction (HVP) and with k (Hessians),
    the gradient's step."""
    out = []
    for name, build in zip(STEPS, _BUILDERS):
        out += build(tape, region, name + suffix) + ["", ""]
    return "\n".join(out)


PRELUDE = f"""# generated by numhess.fusion
import math
import numpy as np
from numba import uint64 as U
from numhess.jit import njit
from numhess.kernels import _JIT, {", ".join(HELPERS)}

"""
