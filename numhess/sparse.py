"""Sparse Hessians: the pattern and its colouring, found once per tape and cached with it."""
import numpy as np
import scipy.sparse as sp

from .coloring import ColoredPattern
from .sparsity import Dense, hessian_pattern
from .traced import TracedFunction

MAX_DENSE_PATTERN = 10 ** 8    # entries of an all-true pattern we are willing to build


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
