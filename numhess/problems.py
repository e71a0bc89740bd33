"""Built-in test problems in plain NumPy, shared by the demo, `check` and the tests.

Each takes `xp=np` so the demo can run the very same code under jax.numpy for a
comparison; numhess itself only ever sees NumPy.
"""
import numpy as np


def rosenbrock(x, xp=np):
    """Chained Rosenbrock; minimum 0 at x = 1. Tridiagonal Hessian."""
    return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def logistic_data(m, n, seed=0):
    """m samples of n features with labels +-1 drawn from a logistic model."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((m, n)) / np.sqrt(n)
    w = rng.standard_normal(n)
    y = np.where(rng.uniform(size=m) < 1.0 / (1.0 + np.exp(-X @ w)), 1.0, -1.0)
    return X, y


def logistic_loss(w, X, y, lam=1e-2, xp=np):
    """Mean logistic loss plus an L2 penalty: strictly convex, dense Hessian."""
    return xp.mean(xp.logaddexp(0.0, -y * (X @ w))) + 0.5 * lam * xp.sum(w * w)


def surface_boundary(k):
    """Boundary heights of the minimal surface on a (k+2)^2 grid of [-1/2, 1/2]^2
    (zero inside): the saddle s^2 - t^2."""
    s = np.linspace(-0.5, 0.5, k + 2)
    B = s[:, None] ** 2 - s[None, :] ** 2
    B[1:-1, 1:-1] = 0.0
    return B


def minimal_surface(u, B, xp=np):
    """Area of the surface with interior heights u (k*k values) over a grid whose
    boundary is B (MINPACK-2's msa, two triangles per cell). Sparse, 7-point Hessian."""
    k = B.shape[0] - 2
    h = 1.0 / (k + 1)
    U = B + xp.pad(u.reshape(k, k), 1)
    a = U[:-1, :-1]
    ux1, uy1 = (U[1:, :-1] - a) / h, (U[:-1, 1:] - a) / h
    c = U[1:, 1:]
    ux2, uy2 = (c - U[:-1, 1:]) / h, (c - U[1:, :-1]) / h
    return 0.5 * h * h * xp.sum(xp.sqrt(1.0 + ux1 ** 2 + uy1 ** 2)
                                + xp.sqrt(1.0 + ux2 ** 2 + uy2 ** 2))


def hs071(x):
    """Hock-Schittkowski problem 71, with `hs071_constraints` and 1 <= x <= 5."""
    return x[0] * x[3] * (x[0] + x[1] + x[2]) + x[2]


def hs071_constraints(x):
    """x0 x1 x2 x3 >= 25 and |x|^2 == 40."""
    return np.stack([np.prod(x), np.sum(x ** 2)])


HS071_SOLUTION = np.array([1.0, 4.74299963, 3.82114998, 1.37940829])
HS071_VALUE = 17.0140173
