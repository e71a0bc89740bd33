"""Star colouring of a symmetric pattern and the map that recovers H from H @ seeds.

A star colouring is a distance-1 colouring in which every path on four vertices uses at
least three colours (Coleman and Moré). Then every non-zero H[i, j] sits alone in its
colour within row i or within row j, so H[i, j] is read directly from the compressed
product B = H @ S, S[j, colour(j)] = 1 (direct recovery). Greedy colouring after
Gebremedhin, Manne and Pothen (2005), algorithm 4.1, tried over several vertex orders.
"""
import numpy as np
import scipy.sparse as sp

from .jit import njit

_JIT = dict(cache=True, nogil=True)
# a vertex of degree above max(HUB_MIN_DEGREE, HUB_FACTOR sqrt(non-zeros)) is a hub
# (at most sqrt(non-zeros) / HUB_FACTOR of them: as many colours more, at most)
HUB_MIN_DEGREE = 100
HUB_FACTOR = 4.0
# above this estimate of the star greedy's neighbour walks (sum of deg^2 times the mean
# degree), vertices are coloured at distance 2 instead
STAR_WORK = 5e7


@njit(**_JIT)
def _greedy_color(indptr, indices, order, star):
    """Greedy colouring in the given order: a star colouring (star=True), or the cheaper
    distance-2 colouring (vertices sharing a neighbour differ; a star colouring too, no
    path on four vertices can alternate two colours, often with more colours), which
    walks sum(deg^2) neighbours where the star checks walk up to sum(deg^3)."""
    n = indptr.size - 1
    color = -np.ones(n, dtype=np.int64)
    forbidden = -np.ones(n + 1, dtype=np.int64)
    for v in order:
        for a in range(indptr[v], indptr[v + 1]):
            w = indices[a]
            if w == v:
                continue
            if color[w] >= 0:
                forbidden[color[w]] = v
            for b in range(indptr[w], indptr[w + 1]):
                x = indices[b]
                if x == v or x == w or color[x] < 0:
                    continue
                if not star or color[w] < 0:
                    forbidden[color[x]] = v      # v and x must differ: w joins them later
                else:
                    for c in range(indptr[x], indptr[x + 1]):
                        y = indices[c]
                        if y != w and y != x and color[y] == color[w]:
                            forbidden[color[x]] = v   # else a two-coloured path y-x-w-v
                            break
        c = 0
        while forbidden[c] == v:
            c += 1
        color[v] = c
    return color


@njit(**_JIT)
def _recovery_map(indptr, indices, color, ncolors):
    """For each stored (i, j): the flat index into B (n, ncolors) holding H[i, j]."""
    n = indptr.size - 1
    count = np.zeros((n, ncolors), dtype=np.int64)
    for i in range(n):
        for a in range(indptr[i], indptr[i + 1]):
            count[i, color[indices[a]]] += 1
    src = np.empty(indices.size, dtype=np.int64)
    for i in range(n):
        for a in range(indptr[i], indptr[i + 1]):
            j = indices[a]
            if count[i, color[j]] == 1:
                src[a] = i * ncolors + color[j]
            elif count[j, color[i]] == 1:
                src[a] = j * ncolors + color[i]
            else:
                return src, False
    return src, True


def _orders(P):
    n = P.shape[0]
    degree = np.diff(P.indptr)
    yield np.arange(n, dtype=np.int64)
    yield np.argsort(-degree, kind="stable").astype(np.int64)           # largest first
    yield np.arange(n - 1, -1, -1, dtype=np.int64)
    if n:
        rcm = sp.csgraph.reverse_cuthill_mckee(P, symmetric_mode=True)
        yield np.asarray(rcm, dtype=np.int64)


def _greedy(P):
    """The fewest colours the greedy star colouring finds over the vertex orders; a
    distance-2 colouring where the star greedy's walks would cost too much (dense blocks
    of 100 along 2000 variables: 3.6 s)."""
    indptr, indices = P.indptr.astype(np.int64), P.indices.astype(np.int64)
    degree = np.diff(indptr).astype(np.float64)
    star = not degree.size or float(np.sum(degree ** 2) * degree.mean()) <= STAR_WORK
    best = None
    for order in _orders(P):
        color = _greedy_color(indptr, indices, order, star)
        ncolors = int(color.max()) + 1 if P.shape[0] else 0
        if best is None or ncolors < best[1]:
            best = (color, ncolors)
    return best


def _colors(P):
    """A star colouring of P. A vertex of high degree (a variable every term shares) makes
    the greedy's walks over neighbours of neighbours quadratic in n (an arrowhead at
    n = 10^5 took 69 s), so each such vertex gets a colour of its own, which no path can
    repeat, and the others are coloured without them."""
    degree = np.diff(P.indptr)
    hubs = degree > max(HUB_MIN_DEGREE, HUB_FACTOR * np.sqrt(P.nnz))
    if not hubs.any():
        return _greedy(P)
    rest = np.flatnonzero(~hubs)
    color = np.empty(P.shape[0], np.int64)
    color[rest], ncolors = _greedy(P[rest][:, rest])
    color[hubs] = ncolors + np.arange(hubs.sum())
    return color, ncolors + int(hubs.sum())


class ColoredPattern:
    """A symmetric pattern with its star colouring and recovery map."""

    def __init__(self, P):
        P = sp.csr_matrix(P, dtype=bool)
        P.sort_indices()
        self.pattern = P
        self.n = P.shape[0]
        indptr = P.indptr.astype(np.int64)
        indices = P.indices.astype(np.int64)
        self.colors, self.ncolors = _colors(P)
        src, ok = _recovery_map(indptr, indices, self.colors, max(self.ncolors, 1))
        if not ok:
            raise AssertionError("star colouring failed to give direct recovery")
        self.src = src
        self.rows = np.repeat(np.arange(self.n), np.diff(indptr))
        self.cols = indices

    def recover_csr(self, B):
        """The sparse Hessian from B = H @ S (n, ncolors), with index arrays of its own
        (the pattern's, shared, had let eliminate_zeros() on one result corrupt the
        Hessians after it)."""
        P = self.pattern
        return sp.csr_matrix((B.ravel()[self.src], P.indices.copy(), P.indptr.copy()),
                             shape=P.shape)

    def recover_dense(self, B, out):
        out[self.rows, self.cols] = B.ravel()[self.src]
        return out


def column_colors(P):
    """(colour of each column, colours) for an (m, n) Jacobian pattern: no two columns of
    a colour share a row, so J[i, j] is read from J @ S at (i, colour(j)). The greedy's
    distance-2 walk over the graph of columns and rows, only the columns coloured, is a
    distance-1 colouring of the columns' intersection graph (its walk: the sum of the
    squares of the rows' lengths; sparse.py keeps it under STAR_WORK)."""
    P = sp.csr_matrix(P, dtype=bool)
    m, n = P.shape
    if m == 0 or n == 0:
        return np.zeros(n, np.int64), min(n, 1)
    graph = sp.bmat([[None, P.T], [P, None]], format="csr")
    indptr, indices = graph.indptr.astype(np.int64), graph.indices.astype(np.int64)
    degree = np.diff(P.tocsc().indptr)
    best = None
    for order in (np.arange(n), np.argsort(-degree, kind="stable")):
        color = _greedy_color(indptr, indices, order.astype(np.int64), False)[:n]
        ncolors = int(color.max()) + 1
        if best is None or ncolors < best[1]:
            best = (color, ncolors)
    return best
