"""`python -m numhess demo`: built-in problems solved with scipy.optimize + numhess, with
per-call Hessian times next to finite differences and (when installed) JAX."""
import time

import numpy as np
from scipy.optimize import approx_fprime

import numhess as nh
from . import problems as P
from .scipy_api import constraint, minimize
from .sparse import colored_pattern
from .timing import fmt, median_time, once

FD_STEP = np.sqrt(np.finfo(float).eps)   # scipy's '2-point' step


def _jax():
    """jax and jax.numpy in float64, or None when JAX is not installed."""
    try:
        import jax
        import jax.numpy as jnp
    except Exception:
        return None
    jax.config.update("jax_enable_x64", True)
    return jax, jnp


def _jax_time(make, *args):
    """Median time of a jitted JAX function, or a short note of why there is none."""
    J = _jax()
    if J is None:
        return "JAX not installed"
    try:
        fn = make(*J)
        t = median_time(lambda: fn(*args).block_until_ready())
        return f"JAX jit {fmt(t)}"
    except Exception as err:                      # a comparison must never break the demo
        return f"JAX failed ({type(err).__name__})"


def _row(label, ours, fd, fd_err, jax_note):
    print(f"   {label}: numhess {fmt(ours)} (exact) | finite differences {fmt(fd)} "
          f"(error {fd_err:.0e}) | {jax_note}")


def _solved(res, extra=""):
    print(f"   {'solved' if res.success else 'NOT solved'}: {res.nit} iterations, "
          f"{res.n_replays} forward sweeps, {extra}")
    return bool(res.success)


def rosenbrock_dense():
    n = 100
    print(f"1. Chained Rosenbrock, n = {n}: scipy.optimize.minimize(method='trust-exact', "
          "jac=nh.grad(f), hess=nh.hessian(f))")
    from scipy.optimize import minimize as scipy_minimize
    f, g, h = P.rosenbrock, nh.grad(P.rosenbrock), nh.hessian(P.rosenbrock)
    x0 = np.full(n, -1.0)
    t = time.perf_counter()
    res = scipy_minimize(f, x0, jac=g, hess=h, method="trust-exact", options={"gtol": 1e-8})
    t = time.perf_counter() - t
    ok = res.success and np.abs(res.x - 1).max() < 1e-6
    print(f"   {'solved' if ok else 'NOT solved'}: {res.nit} iterations in {fmt(t)}, "
          f"max |x - 1| = {np.abs(res.x - 1).max():.1e}")
    x = np.random.default_rng(0).uniform(-1, 1, n)
    H = h(x)
    fd = approx_fprime(x, g, FD_STEP)
    _row("Hessian per call", median_time(h, x), median_time(approx_fprime, x, g, FD_STEP),
         np.abs(fd - H).max() / np.abs(H).max(),
         _jax_time(lambda jax, jnp: jax.jit(jax.hessian(lambda z: P.rosenbrock(z, jnp))), x))
    return ok


def logistic_dense():
    m, n = 1000, 100
    print(f"\n2. Logistic regression, {m} samples x {n} features (dense Hessian): "
          "nh.minimize(f, w0, args=(X, y), method='trust-exact')")
    X, y = P.logistic_data(m, n)
    w0 = np.zeros(n)
    t = time.perf_counter()
    res = minimize(P.logistic_loss, w0, args=(X, y), method="trust-exact",
                   options={"gtol": 1e-8})
    ok = _solved(res, f"|grad| = {np.abs(res.jac).max():.1e}, {fmt(time.perf_counter() - t)}")
    h, g = nh.hessian(P.logistic_loss), nh.grad(P.logistic_loss)
    H = h(res.x, X, y)
    fd = approx_fprime(res.x, g, FD_STEP, X, y)
    _row("Hessian per call", median_time(h, res.x, X, y),
         median_time(approx_fprime, res.x, g, FD_STEP, X, y),
         np.abs(fd - H).max() / np.abs(H).max(),
         _jax_time(lambda jax, jnp: jax.jit(jax.hessian(
             lambda w: P.logistic_loss(w, jnp.asarray(X), jnp.asarray(y), xp=jnp))), res.x))
    return ok


def minimal_surface_large():
    k = 100
    n = k * k
    print(f"\n3. Minimal surface on a {k} x {k} grid, n = {n:,} (sparse 7-point Hessian, "
          f"{n * n * 8 / 2 ** 20:.0f} MB dense): nh.minimize(..., method='trust-krylov', "
          "hess='hvp')")
    B = P.surface_boundary(k)
    u0 = np.zeros(n)
    t = time.perf_counter()
    res = minimize(P.minimal_surface, u0, args=(B,), method="trust-krylov",
                   options={"gtol": 1e-6})
    ok = _solved(res, f"{res.nhev} Hessian-vector products, "
                      f"|grad| = {np.abs(res.jac).max():.1e}, {fmt(time.perf_counter() - t)}")
    hv, g = nh.hvp(P.minimal_surface), nh.grad(P.minimal_surface)
    v = np.random.default_rng(1).standard_normal(n)
    exact = hv(res.x, v, B)
    fd_hvp = lambda: (g(res.x + FD_STEP * v, B) - g(res.x, B)) / FD_STEP
    _row("HVP per call", median_time(hv, res.x, v, B), median_time(fd_hvp),
         np.abs(fd_hvp() - exact).max() / np.abs(exact).max(),
         _jax_time(lambda jax, jnp: jax.jit(lambda z, d: jax.jvp(jax.grad(
             lambda q: P.minimal_surface(q, jnp.asarray(B), jnp)), (z,), (d,))[1]),
             res.x, v))
    hs = nh.hessian(P.minimal_surface, sparse=True)
    H, t_first = once(hs, res.x, B)
    cp = colored_pattern(hs.traced.evaluate((res.x, B)).entry)
    print(f"   the whole Hessian, sparse: {H.shape[0]:,} x {H.shape[1]:,} with {H.nnz:,} "
          f"non-zeros from {cp.ncolors} compressed sweeps, {fmt(median_time(hs, res.x, B))} "
          f"per call (first call, finding the pattern: {fmt(t_first)}); "
          f"max |H v - hvp| = {np.abs(H @ v - exact).max():.0e}")
    return ok


def constrained():
    print("\n4. Hock-Schittkowski 71 (4 variables, 2 nonlinear constraints, bounds): "
          "nh.minimize(..., constraints=[nh.constraint(c, lb, ub)], bounds=...)")
    from scipy.optimize import Bounds
    con = constraint(P.hs071_constraints, [25.0, 40.0], [np.inf, 40.0])
    t = time.perf_counter()
    res = minimize(P.hs071, [1.0, 5.0, 5.0, 1.0], constraints=[con], bounds=Bounds(1, 5),
                   options={"gtol": 1e-12, "xtol": 1e-14, "barrier_tol": 1e-12})
    err = np.abs(res.x - P.HS071_SOLUTION).max()
    ok = res.success and err < 1e-5
    print(f"   {'solved' if ok else 'NOT solved'} by trust-constr: f = {res.fun:.7f} "
          f"(known {P.HS071_VALUE}), max |x - x*| = {err:.0e}, {res.nit} iterations, "
          f"{fmt(time.perf_counter() - t)}")
    return ok


def run():
    print("numhess demo: exact Hessians of plain NumPy functions, for scipy.optimize")
    print("(the problems are in numhess/problems.py)\n")
    t0 = time.perf_counter()
    x = np.zeros(3)        # load (or compile) every kernel the problems use
    nh.hessian(P.rosenbrock)(x), nh.hvp(P.rosenbrock)(x, x), nh.jacfwd(P.hs071_constraints)(x)
    print(f"kernels ready in {fmt(time.perf_counter() - t0)} (the first run on a machine "
          "compiles them, about 40 s on 2 cores, once)\n")
    ok = all([rosenbrock_dense(), logistic_dense(), minimal_surface_large(), constrained()])
    print(f"\ndemo finished in {fmt(time.perf_counter() - t0)}"
          + ("" if ok else "; some problems were NOT solved"))
    print("""
Where to go next:
  - your own function: python -m numhess check mymodule:f --n 10 [--plot hessian.png]
    (gradient and Hessian against finite differences, eigenvalues, sparsity, timings)
  - README.md, "Use" and "With SciPy": nh.grad, nh.hessian, nh.hvp, nh.minimize,
    nh.constraint, and nh.functional (torch.autograd.functional's API)
  - the demo's source, numhess/demo.py, is a template for scipy.optimize with numhess""")
    return 0 if ok else 1
