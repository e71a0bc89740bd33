"""The demo: Hessians of built-in problems, checked and timed."""
import time

import numpy as np

import numhess as nh


def rosenbrock(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _timed(fn, *args, repeat=5):
    best = np.inf
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t)
    return out, best


def run():
    from scipy.optimize import minimize, rosen_hess
    print("numhess demo: exact Hessians of plain NumPy functions\n")
    t0 = time.perf_counter()
    hess = nh.hessian(rosenbrock)
    H = hess(np.zeros(10))
    print(f"first Hessian (trace + kernel load or compile): {time.perf_counter() - t0:.2f} s")

    n = 2000
    x = np.random.default_rng(0).uniform(-1, 1, n)
    H, t = _timed(hess, x, repeat=3)
    err = np.abs(H - rosen_hess(x)).max()
    print(f"chained Rosenbrock, n = {n}: dense Hessian {H.shape} in {t * 1e3:.1f} ms, "
          f"max |H - analytic| = {err:.1e}")

    res = minimize(rosenbrock, np.full(50, -1.0), jac=nh.grad(rosenbrock),
                   hess=nh.hessian(rosenbrock), method="trust-exact")
    print(f"scipy trust-exact with hess=nh.hessian: n = 50, {res.nit} iterations, "
          f"f = {res.fun:.2e}, success = {res.success}")
    return 0
