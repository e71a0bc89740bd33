"""Sparse Hessians at scale, side by side with one NumPy evaluation of f.

The chained Rosenbrock function at n up to 10^6: the warm time of
`hessian(f, sparse=True)` (one compressed sweep per colour and the recovery into CSR)
over the time of f itself; the target is a ratio of at most 50 at n = 10^6. The first
call (trace, pattern, colouring) is reported apart, and every Hessian is checked
against the analytic tridiagonal one.
"""
import time

import numpy as np
import scipy.sparse as sp

import numhess as nh
from measure import RTOL, per_call
from problems import rosenbrock

SIZES = {"tiny": (1000,), "small": (10_000, 100_000), "full": (10_000, 100_000, 1_000_000)}
TARGET = 50.0


def rosenbrock_hessian(x):
    """The analytic Hessian of the chained Rosenbrock function, tridiagonal CSR."""
    d = np.zeros_like(x)
    d[:-1] = 1200.0 * x[:-1] ** 2 - 400.0 * x[1:] + 2.0
    d[1:] += 200.0
    off = -400.0 * x[:-1]
    return sp.diags([off, d, off], [-1, 0, 1], format="csr")


def run(sizes, budget):
    rows = []
    for n in SIZES[sizes]:
        x = np.random.default_rng(n).uniform(-1.0, 1.5, n)
        hess = nh.hessian(rosenbrock, sparse=True)
        t = time.perf_counter()
        H = hess(x)
        first = time.perf_counter() - t
        t_h, _, _, H = per_call(lambda: hess(x), budget)
        t_f = per_call(lambda: rosenbrock(x), budget)[0]
        ref = rosenbrock_hessian(x)
        err = float(abs(ref - H).max() / abs(ref).max()) if H.shape == ref.shape \
            else float("inf")
        rows.append({"problem": "rosenbrock", "n": n, "time": t_h, "f_time": t_f,
                     "ratio": t_h / t_f, "target": TARGET, "first": first, "nnz": H.nnz,
                     "err": err, "status": "ok" if err <= RTOL else "disagree"})
    return rows
