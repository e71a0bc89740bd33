"""The Hessian's sparsity pattern, read off the tape without evaluating any derivative.

Each live slot gets a boolean matrix D (slot elements x inputs): which inputs each element
depends on. An instruction maps D through its structural Jacobian (linear ops take
unions), and a nonlinear one adds the input pairs that interact through it (Walther's
nonlinear interaction domains): a product pairs its operands' sets, a nonlinear unary op
pairs its operand's set with itself. The result never misses a non-zero of the Hessian
at any point where the tape is replayed.
"""
import numpy as np
import scipy.sparse as sp

from . import kernels as K
from .tape import NO_SECOND_ORDER

LINEAR_UNARY = {K.NEG, K.ADDC, K.MULC, K.RSUBC, K.DIVC, K.ABS, K.MAXC, K.MINC, K.FMAXC, K.FMINC}
LINEAR_BINARY = {K.ADD, K.SUB, K.MAXIMUM, K.MINIMUM, K.FMAX, K.FMIN, K.REMAINDER, K.FMOD}


MAX_WORK = 50_000_000    # and 64 per active position of the tape (_max_work)


class Dense(Exception):
    """The pattern is dense, or too costly to find; the caller treats the Hessian as dense."""


def _csr(rows, cols, shape):
    return sp.csr_matrix((np.ones(len(rows), dtype=bool), (rows, cols)), shape=shape)


def _ones(shape):
    return sp.csr_matrix(np.ones(shape, dtype=bool))


def liveness(tape):
    """The instructions whose result reaches an output (dead code adds no interactions),
    in order, and the slots (of their own) each reads last, by instruction: the walk
    drops their dependences after it (on a tape of pairwise terms each is as large as
    the slot: kept all, a 333-atom cluster's first Hessian peaked at 284 MB, 271 now)."""
    live_slot = np.zeros(tape.size.size, dtype=bool)
    live_slot[[_base(tape, s) for s in tape.out_slots]] = True
    live, last_read = [], {}
    for t in range(len(tape) - 1, -1, -1):
        if not live_slot[tape.out[t]] or not tape.sact[tape.out[t]]:
            continue
        live.append(t)
        for s in source_slots(tape, t):
            s = _base(tape, s)
            if not live_slot[s]:        # (backwards: its last reader)
                live_slot[s] = True
                last_read.setdefault(t, []).append(s)
    return live[::-1], last_read


def live_positions(tape):
    """Per buffer position: does its value reach an output, element by element? An
    elementwise op's element reaches it through its own elements (a broadcast scalar
    through any), a gather's through the positions it reads, a sum's or maximum's by
    index through its own output's; other ops through all their sources (a
    conservative answer). A gather fixed at the trace (a mask, a cutoff
    of a neighbour list) leaves the elements it drops out of the pattern: their pairs
    had made a sparse Hessian dense."""
    live = np.zeros(tape.total, dtype=bool)
    for s in tape.out_slots:
        live[tape.off[s]:tape.off[s] + tape.size[s]] = True
    for t in range(len(tape) - 1, -1, -1):
        y = tape.out[t]
        ly = live[tape.off[y]:tape.off[y] + tape.size[y]]
        if not tape.sact[y] or not ly.any():
            continue
        o = tape.op[t]
        if o == K.GATHER:
            live[tape.ipool[tape.pi[t]:tape.pi[t] + ly.size][ly]] = True
            continue
        if o in (K.SCATTER, K.MAXRED, K.MINRED):     # source k into output idx[k]
            a, nx = tape.a[t], int(tape.size[tape.a[t]])
            live[tape.off[a]:tape.off[a] + nx] |= ly[tape.ipool[tape.pi[t]:tape.pi[t] + nx]]
            continue
        elementwise = o < K.BINARY_END or o == K.WHERE
        for s in source_slots(tape, t):
            span = live[tape.off[s]:tape.off[s] + tape.size[s]]
            if elementwise and span.size == ly.size:
                span |= ly
            else:
                span[:] = True
    return live


def _base(tape, s):
    """The slot an alias lies in (a slot of its own is its own base)."""
    return s if tape.alias_src[s] < 0 else tape.alias_src[s]


def base_slots_at(tape, pos):
    """The slots of their own holding the buffer positions pos."""
    base = tape.base_slots
    return base[np.searchsorted(tape.off[base], pos, side="right") - 1]


def source_slots(tape, t):
    if tape.op[t] == K.GATHER:
        pos = tape.ipool[tape.pi[t]:tape.pi[t] + tape.size[tape.out[t]]]
        return np.unique(base_slots_at(tape, pos))
    return [s for s in (tape.a[t], tape.b[t], tape.c[t]) if s >= 0]


class _Pattern:
    def __init__(self, tape, max_work, pairs=True):
        self.tape = tape
        self.n = tape.n_in
        self.D = {}
        self.pairs = sp.csr_matrix((self.n, self.n), dtype=bool)
        self.pending, self.pending_nnz = [], 0     # pairs not yet merged into self.pairs
        self.work = 0
        self.max_work = max_work
        self.want_pairs = pairs     # (a Jacobian's pattern needs D alone)
        self.live = None            # positions reaching an output (run)

    def deps(self, s):
        t = self.tape
        if s in self.D:
            return self.D[s]
        size = int(t.size[s])
        if not t.sact[s]:
            return sp.csr_matrix((size, self.n), dtype=bool)
        if t.alias_src[s] >= 0:
            start = int(t.alias_start[s])
            return self.deps(int(t.alias_src[s]))[start:start + size]
        raise AssertionError(f"slot {s} used before it was computed")

    def deps_sized(self, s, n):
        d = self.deps(s)
        return self.rows(d, np.zeros(n, dtype=np.int64)) if d.shape[0] == 1 and n != 1 else d

    def rows(self, d, idx):
        """d[idx], its entries counted as work first: a broadcast or a gather repeats rows,
        and one that depends on all of x (x - np.mean(x)) repeated n times held n^2
        entries (at n = 10^5 scipy's int32 indices overflowed: a crash)."""
        self.work += int(np.diff(d.indptr)[idx].sum())
        if self.work > self.max_work:
            raise Dense()
        return d[idx]

    def interact(self, A, B=None):
        """Add the pairs (i, j) for i in row r of A, j in row r of B, over all rows r."""
        if A.shape[0] == 0 or not self.want_pairs:
            return
        ra = np.diff(A.indptr)
        rb = ra if B is None else np.diff(B.indptr)
        self.work += int(np.dot(ra.astype(np.int64), rb))
        if self.work > self.max_work:
            raise Dense()
        P = (A.T @ (A if B is None else B)).tocoo()
        self.pending.append(P)
        self.pending_nnz += P.nnz
        if self.pending_nnz > max(self.pairs.nnz, self.n):
            self.merge()

    def merge(self):
        """The pending pairs into self.pairs, in one sum: when they outnumber it, so each
        pair is merged a few times at most (a sum per interaction had taken 2.7 s of a
        36,504-instruction tape's 5.0, an element loop of 3042 triangles)."""
        P, Q = self.pairs.tocoo(), self.pending      # (Q's both ways: pairs are symmetric)
        rows = np.concatenate([P.row, *(q.row for q in Q), *(q.col for q in Q)])
        cols = np.concatenate([P.col, *(q.col for q in Q), *(q.row for q in Q)])
        self.pairs = _csr(rows, cols, (self.n, self.n))
        self.pending, self.pending_nnz = [], 0
        if self.pairs.nnz > 0.5 * self.n * self.n and self.n > 16:
            raise Dense()

    def run(self):
        tape = self.tape
        for s in range(tape.size.size):
            if tape.sact[s] and tape.alias_src[s] < 0 and tape.off[s] + tape.size[s] <= self.n:
                # an input slot (its views read it through deps)
                o = tape.off[s]
                self.D[s] = _csr(np.arange(tape.size[s]), o + np.arange(tape.size[s]),
                                 (tape.size[s], self.n))
        live, last_read = liveness(tape)
        self.live = live_positions(tape) if self.want_pairs else None
        for t in live:
            if not self.want_pairs or tape.tused[t]:
                self.D[tape.out[t]] = self.step(t)
            elif tape.op[t] not in NO_SECOND_ORDER:
                # no rule reads this result's dependences (Tape.tused, as its tangents):
                # a nonlinear op adds its pairs alone, a linear one nothing (a sum of all
                # of x broadcast into a sum of terms had counted as n^2 dependences)
                self.step(t)
            for s in last_read.get(t, ()):
                self.D.pop(s, None)
        self.merge()
        return self.pairs

    def _reaching(self, y, *Ds):
        """The rows of the Ds (elements of slot y) whose element reaches an output."""
        if self.live is None:
            return Ds
        keep = self.live[self.tape.off[y]:self.tape.off[y] + self.tape.size[y]]
        return Ds if keep.all() else tuple(D[keep] for D in Ds)

    def step(self, t):
        tape = self.tape
        o, y = tape.op[t], tape.out[t]
        n = int(tape.size[y])
        if n == 0:
            return sp.csr_matrix((0, self.n), dtype=bool)
        if o < K.UNARY_END:
            D = self.deps(tape.a[t])
            if o not in LINEAR_UNARY:
                self.interact(*self._reaching(y, D))
            return D
        if o < K.BINARY_END:
            Da, Db = self.deps_sized(tape.a[t], n), self.deps_sized(tape.b[t], n)
            if o == K.MUL:
                self.interact(*self._reaching(y, Da, Db))
            elif o in (K.DIV, K.XLOGY, K.XLOG1PY):    # no a-a term
                self.interact(*self._reaching(y, Db, Da + Db))
            elif o not in LINEAR_BINARY:
                self.interact(*self._reaching(y, Da + Db))
            return Da + Db
        if o == K.WHERE:
            return self.deps_sized(tape.a[t], n) + self.deps_sized(tape.b[t], n)
        if o == K.GATHER:
            return self.gather(t, n)
        nx = int(tape.size[tape.a[t]])
        Dx = self.deps(tape.a[t])
        if o == K.SUMALL:
            return _ones((1, nx)) @ Dx
        if o in (K.SCATTER, K.MAXRED, K.MINRED):
            idx = tape.ipool[tape.pi[t]:tape.pi[t] + nx]
            return _csr(idx, np.arange(nx), (n, nx)) @ Dx
        if o == K.SORT:     # any element of a row may land anywhere in it
            L = int(tape.ipool[tape.pi[t]])
            if L * n > self.max_work:
                raise Dense()
            return sp.kron(sp.eye(n // L, dtype=bool), _ones((L, L))).tocsr() @ Dx
        if o == K.MATMUL:
            return self.matmul(t)
        if o in (K.INV, K.LOGABSDET, K.CHOL):   # each output of a matrix meets all of its inputs
            nb, m = (int(v) for v in tape.ipool[tape.pi[t]:tape.pi[t] + 2])
            U = sp.kron(sp.eye(nb, dtype=bool), _ones((1, m * m))).tocsr() @ Dx
            self.interact(U)
            if o == K.LOGABSDET:
                return U
            return sp.kron(sp.eye(nb, dtype=bool), _ones((m * m, 1))).tocsr() @ U
        if o == K.SOLVE:    # column c of X = A^-1 B meets all of A and column c of B
            return self.solve(t)
        raise AssertionError(f"no sparsity rule for opcode {o}")

    def gather(self, t, n):
        tape = self.tape
        pos = tape.ipool[tape.pi[t]:tape.pi[t] + n]
        src = base_slots_at(tape, pos)
        order = np.argsort(src, kind="stable")
        blocks = []
        for s in np.unique(src):
            sel = order[src[order] == s]
            blocks.append(self.rows(self.deps(s), pos[sel] - tape.off[s]))
        stacked = sp.vstack(blocks).tocsr()
        return stacked[np.argsort(order, kind="stable")]

    def solve(self, t):
        tape = self.tape
        nb, n, m = (int(v) for v in tape.ipool[tape.pi[t]:tape.pi[t] + 3])
        I = sp.eye(nb, dtype=bool, format="csr")
        # UA: row (s, c) holds all of A_s's inputs; UB: column c of B_s's
        UA = sp.kron(I, _ones((m, 1))).tocsr() @ (sp.kron(I, _ones((1, n * n))).tocsr()
                                                 @ self.deps(tape.a[t]))
        UB = sp.kron(I, sp.kron(_ones((1, n)), sp.eye(m, dtype=bool))).tocsr() \
            @ self.deps(tape.b[t])
        self.interact(UA, UA + UB)       # X is linear in B: no B-B terms
        return sp.kron(I, sp.kron(_ones((n, 1)), sp.eye(m, dtype=bool))).tocsr() @ (UA + UB)

    def matmul(self, t):
        """C = A @ B: C[i, l] meets the row A[i, :] and the column B[:, l], or of a
        constant factor's only its non-zeros (a difference matrix built with np.diff of
        np.eye: its product had made a banded Hessian dense)."""
        tape = self.tape
        nb, m, p, q = (int(v) for v in tape.ipool[tape.pi[t]:tape.pi[t] + 4])
        I = sp.eye(nb, dtype=bool, format="csr")
        Da, Db = self.deps(tape.a[t]), self.deps(tape.b[t])
        A, B = (_constant_nonzeros(tape, s) for s in (tape.a[t], tape.b[t]))
        # SA: C's entries (rows) by the entries of A they meet (columns); SB likewise
        SA = sp.kron(I, sp.kron(sp.eye(m, dtype=bool), _ones((q, p)))).tocsr() if B is None \
            else _meets(B.reshape(nb, p, q).transpose(0, 2, 1), (nb, m, q), (nb, m, p), 1)
        SB = sp.kron(I, sp.kron(_ones((m, p)), sp.eye(q, dtype=bool))).tocsr() if A is None \
            else _meets(A.reshape(nb, m, p), (nb, m, q), (nb, p, q), 2)
        if tape.sact[tape.a[t]] and tape.sact[tape.b[t]]:
            # A[i, r] meets B[r, l] for every i and l
            M = sp.kron(I, sp.kron(_ones((m, 1)),
                                   sp.kron(sp.eye(p, dtype=bool), _ones((1, q))))).tocsr()
            self.interact(Da, M @ Db)
        return SA @ Da + SB @ Db


def _max_work(tape):
    """The entries the pattern's sparse products may handle before the pattern counts as
    too costly to find: in proportion to the tape (a sum of 30 terms over the chain's
    differences of 10^6 variables needs 120 per variable; one total of 50 per variable
    had called its tridiagonal Hessian dense), so that what stops it is a step of n^2
    (x - np.mean(x) in a nonlinear term)."""
    return MAX_WORK + 64 * tape.active_total


def _constant_nonzeros(tape, s):
    """Where slot s is not zero, when it is one of the tape's constants (its values fixed,
    unlike a parameter's); else None."""
    o, size = int(tape.off[s]), int(tape.size[s])
    i = int(np.searchsorted(tape.cpos, o))      # (cpos is sorted: slots in order)
    if size == 0 or i + size > tape.cpos.size or tape.cpos[i] != o or \
            tape.cpos[i + size - 1] != o + size - 1:
        return None
    return tape.fpool[i:i + size] != 0


def _meets(nz, out_shape, in_shape, axis):
    """The boolean map of C's entries (rows, C of out_shape, batched) to the entries of
    the other factor (columns, of in_shape) that a constant factor's non-zeros nz link:
    for nz[b, u, v], C[b, u, w] meets X[b, v, w] (axis 2: C = nz @ X) or, for nz given
    as B transposed, C[b, w, u] meets X[b, w, v] (axis 1: C = X @ B)."""
    b, u, v = np.nonzero(nz)
    w = np.arange(out_shape[axis])[None, :]
    if axis == 2:
        rows = np.ravel_multi_index((b[:, None], u[:, None], w), out_shape)
        cols = np.ravel_multi_index((b[:, None], v[:, None], w), in_shape)
    else:
        rows = np.ravel_multi_index((b[:, None], w, u[:, None]), out_shape)
        cols = np.ravel_multi_index((b[:, None], w, v[:, None]), in_shape)
    return _csr(rows.ravel(), cols.ravel(), (int(np.prod(out_shape)), int(np.prod(in_shape))))


def jacobian_pattern(tape, max_work=None):
    """The boolean (m, n) pattern of the output's Jacobian (its rows' dependences); raises
    Dense when it is too costly to find."""
    pattern = _Pattern(tape, _max_work(tape) if max_work is None else max_work, False)
    pattern.run()
    return pattern.deps(int(tape.out_slots[0])).tocsr()


def hessian_pattern(tape, max_work=None):
    """The boolean (n, n) pattern of the Hessian of any weighted sum of the outputs, with
    the diagonal included; raises Dense when it is (nearly) dense or too costly to find."""
    n = tape.n_in
    P = _Pattern(tape, _max_work(tape) if max_work is None else max_work).run()
    P = (P + sp.eye(n, dtype=bool, format="csr")).tocsr()
    P.sort_indices()
    return P
