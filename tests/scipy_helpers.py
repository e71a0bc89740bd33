"""Helpers that test_scipy_linalg.py reaches through this module and an object of it: a
name imported here (cho_factor, cho_solve) is numhess's stand-in while tracing too."""
import numpy as np
from scipy.linalg import cho_factor, cho_solve


def quad(x, A):
    return x @ cho_solve(cho_factor(A + np.outer(x, x)), x)


class Model:
    def __init__(self, A):
        self.A = A

    def loss(self, x):
        return quad(x, self.A)


def deep(x, A, levels=6):
    """quad, levels calls down."""
    return quad(x, A) if levels == 0 else deep(x, A, levels - 1)
