"""Sparse Hessians: the pattern and its colouring, found once per tape and cached with it."""
import numpy as np
import scipy.sparse as sp

from . import drivers
from .coloring import STAR_WORK, ColoredPattern, column_colors
from .sparsity import Dense, hessian_pattern, jacobian_pattern
from .traced import TracedFunction

MAX_DENSE_PATTERN = 10 ** 8    # entries of an all-true pattern we are willing to build
DENSE_ROW_MIN = 16     # a Jacobian row of more entries than this may be dense (below)


def colored_pattern(entry):
    """The entry's ColoredPattern, or None when its Hessian is (nearly) dense."""
    if "coloring" not in entry.derived:
        try:
            cp = ColoredPattern(hessian_pattern(entry.tape))
        except Dense:
            cp = None
        entry.derived["coloring"] = cp
    return entry.derived["coloring"]


def hessian_sparsity(f, x, *args, argnums=0):
    """The boolean (n, n) CSR pattern of the Hessian of f at x (n = total size of the
    differentiated arguments), found from the tape without evaluating the Hessian.
    It never misses a non-zero at any point that replays the same tape."""
    rep = TracedFunction(f, argnums).evaluate((x,) + args)
    n = rep.tape.n_in
    cp = colored_pattern(rep.entry)
    if cp is not None:
        return cp.pattern.copy()
    if n * n > MAX_DENSE_PATTERN:
        raise MemoryError(f"numhess: the Hessian of this function is dense; its pattern "
                          f"would hold {n * n:,} entries")
    return sp.csr_matrix(np.ones((n, n), dtype=bool))


def _jacobian_coloring(entry):
    """(pattern, dense rows, column colours of the other rows, colours) of the entry's
    Jacobian, or None when its pattern is too large to find; found once per tape. A row
    reaching an eighth of the columns or more (a norm, a budget) is dense: a reverse
    sweep each, the others coloured without them (with one, every column took a colour
    of its own: the n forward sweeps of the dense Jacobian, 2.4 s at n = 20,000). So are
    the longest rows where the colouring's walk would cost more than STAR_WORK (ten
    rows of n / 10 at n = 10^5 had sent the Jacobian to the dense one: 74 GiB)."""
    if "jacobian coloring" not in entry.derived:
        try:
            P = jacobian_pattern(entry.tape)
        except Dense:
            P = None
        got = None
        if P is not None:
            P.sort_indices()
            row_nnz = np.diff(P.indptr)
            dense = row_nnz > max(DENSE_ROW_MIN, P.shape[1] // 8)
            order = np.argsort(-row_nnz, kind="stable")
            walk = np.where(dense, 0.0, row_nnz.astype(np.float64) ** 2)[order]
            over = np.cumsum(walk[::-1])[::-1] > STAR_WORK   # from each row on: too long
            dense[order[over]] = True
            dense = np.flatnonzero(dense)
            rest = P[np.setdiff1d(np.arange(P.shape[0]), dense)] if dense.size else P
            got = (P, dense) + column_colors(rest)
        entry.derived["jacobian coloring"] = got
    return entry.derived["jacobian coloring"]


def sparse_jacobian(rep):
    """The (m, n) Jacobian as a CSR matrix: a reverse sweep per dense row and one forward
    sweep per colour of the other rows' columns (a banded one takes a few, whatever n),
    or the dense Jacobian's fewer sweeps (m reverse or n forward) when colouring saves
    none and it fits."""
    m, n = rep.entry.out_size, rep.tape.n_in
    jc = _jacobian_coloring(rep.entry)
    if jc is None or jc[1].size + jc[3] >= min(m, n) and m * n <= MAX_DENSE_PATTERN:
        return sp.csr_matrix(drivers.jacobian(rep, None, reverse=m < n))
    P, dense, color, ncolors = jc
    B = np.empty((m, ncolors))
    for c in range(ncolors):
        B[:, c] = drivers.push_forward(rep, (color == c).astype(np.float64))
    rows = np.repeat(np.arange(m), np.diff(P.indptr))
    data = B[rows, color[P.indices]]
    for i in dense:
        lo, hi = P.indptr[i], P.indptr[i + 1]
        data[lo:hi] = drivers.gradient(rep, np.eye(1, m, i)[0])[P.indices[lo:hi]]
    return sp.csr_matrix((data, P.indices.copy(), P.indptr.copy()), shape=(m, n))
