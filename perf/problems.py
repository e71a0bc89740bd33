"""The benchmark problems: plain NumPy objectives, their CasADi twins, analytic derivatives.

Each objective is written once against a NumPy-like module `xp` (default NumPy), so the very
same source runs under numhess (plain NumPy), jax.numpy, autograd.numpy and torch; CasADi's SX
algebra is 2-D and column-major, so it gets its own version. Constants (data matrices) are
extra positional arguments, as a scipy.optimize user would pass them through `args=`.
"""
import math
from dataclasses import dataclass, field

import numpy as np

SIZES = {"tiny": (10, 30), "small": (10, 100), "full": (10, 100, 1000)}
# Sizes beyond the dense ones, for hvp and grad only (a dense Hessian there is out of
# reach: the sparse table covers the Hessian of these functions).
LARGE = {"tiny": {}, "small": {}, "full": {"rosenbrock": (10 ** 5,)}}
DENSE_MAX_N = 20_000


@dataclass
class Problem:
    name: str
    n: int
    x: np.ndarray                 # the point of evaluation
    v: np.ndarray                 # the direction for hvp
    args: tuple                   # constant extra arguments, NumPy arrays
    fn: object                    # fn(x, *args, xp=np) -> scalar
    casadi: object                # casadi(x_sx, *args) -> SX scalar
    analytic: dict = field(default_factory=dict)   # op -> fn(x, [v,] *args), NumPy

    @property
    def key(self):
        return f"{self.name}/{self.n}"


# ---------------------------------------------------------------- chained Rosenbrock
def rosenbrock(x, xp=np):
    return xp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def rosenbrock_casadi(x):
    import casadi as ca
    return ca.sum1(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _rosenbrock(n, rng):
    from scipy.optimize import rosen_der, rosen_hess, rosen_hess_prod
    x = rng.uniform(-1.0, 2.0, n)
    return Problem("rosenbrock", n, x, rng.standard_normal(n), (), rosenbrock,
                   rosenbrock_casadi, {"hessian": rosen_hess, "hvp": rosen_hess_prod,
                                       "grad": rosen_der})


# ---------------------------------------------------------------- logistic regression
def logistic(w, A, y, xp=np):
    z = A @ w
    return xp.sum(xp.log1p(xp.exp(z)) - y * z)


def logistic_casadi(w, A, y):
    import casadi as ca
    z = ca.mtimes(ca.DM(A), w)
    return ca.sum1(ca.log1p(ca.exp(z)) - ca.DM(y) * z)


def _logistic_weights(w, A):
    p = 1.0 / (1.0 + np.exp(-(A @ w)))
    return p, p * (1.0 - p)


def logistic_hessian(w, A, y):
    _, s = _logistic_weights(w, A)
    return (A.T * s) @ A


def logistic_hvp(w, v, A, y):
    _, s = _logistic_weights(w, A)
    return A.T @ (s * (A @ v))


def logistic_grad(w, A, y):
    p, _ = _logistic_weights(w, A)
    return A.T @ (p - y)


def _logistic(n, rng):
    m = n   # square data matrix: the Hessian costs m n^2, like the anchor table's
    A = rng.standard_normal((m, n)) / math.sqrt(n)
    y = rng.integers(0, 2, m).astype(float)
    return Problem("logistic", n, 0.5 * rng.standard_normal(n), rng.standard_normal(n),
                   (A, y), logistic, logistic_casadi,
                   {"hessian": logistic_hessian, "hvp": logistic_hvp, "grad": logistic_grad})


# ---------------------------------------------------------------- Lennard-Jones cluster
def lennard_jones(x, xp=np):
    X = x.reshape(-1, 3)
    D = X[:, None, :] - X[None, :, :]            # all pairs by broadcasting
    # 1 on the diagonal keeps 1/r finite there; its term 4(1 - 1) and all its derivatives
    # are exactly 0, since D[i, i] = X[i] - X[i] is identically zero
    r2 = xp.sum(D ** 2, -1) + xp.asarray(np.eye(X.shape[0]))
    inv6 = 1.0 / r2 ** 3
    return 0.5 * xp.sum(4.0 * (inv6 ** 2 - inv6))


def lennard_jones_casadi(x):
    """The same energy summed over pairs i < j, as one writes it in CasADi (no 3-D arrays)."""
    import casadi as ca
    atoms = x.shape[0] // 3
    Xt = ca.reshape(x, 3, atoms)                 # column j is atom j (column-major)
    i, j = np.triu_indices(atoms, 1)
    D = Xt[:, i.tolist()] - Xt[:, j.tolist()]
    inv6 = 1.0 / ca.sum1(D ** 2) ** 3
    return ca.sum2(4.0 * (inv6 ** 2 - inv6))


def _lennard_jones(n, rng):
    atoms = max(2, round(n / 3))
    side = math.ceil(atoms ** (1 / 3))
    grid = np.stack(np.meshgrid(*[np.arange(side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    # near the pair-potential minimum (2^(1/6)), jittered so no symmetry hides an error
    X = 1.12 * grid[:atoms] + 0.05 * rng.standard_normal((atoms, 3))
    return Problem("lennard_jones", 3 * atoms, X.ravel(), rng.standard_normal(3 * atoms), (),
                   lennard_jones, lennard_jones_casadi)


# ---------------------------------------------------------------- small tanh network
NET_SHAPES = {10: (4, 2), 30: (5, 5), 100: (9, 10), 1000: (19, 50)}   # n -> (inputs, hidden)
NET_SAMPLES = 200


def tanh_net(theta, X, y, xp=np):
    d = X.shape[1]
    h = theta.shape[0] // (d + 1)
    W = theta[:h * d].reshape(h, d)
    return xp.mean((xp.tanh(X @ W.T) @ theta[h * d:] - y) ** 2)


def tanh_net_casadi(theta, X, y):
    import casadi as ca
    d = X.shape[1]
    h = theta.shape[0] // (d + 1)
    W = ca.reshape(theta[:h * d], d, h).T        # row-major W from column-major reshape
    r = ca.mtimes(ca.tanh(ca.mtimes(ca.DM(X), W.T)), theta[h * d:]) - ca.DM(y)
    return ca.sum1(r ** 2) / X.shape[0]


def _tanh_net(n, rng):
    d, h = NET_SHAPES[n]
    X = rng.standard_normal((NET_SAMPLES, d))
    y = np.sin(X.sum(1))
    theta = rng.standard_normal(h * d + h) / math.sqrt(d)
    return Problem("tanh_net", theta.size, theta, rng.standard_normal(theta.size), (X, y),
                   tanh_net, tanh_net_casadi)


BUILDERS = {"rosenbrock": _rosenbrock, "logistic": _logistic,
            "lennard_jones": _lennard_jones, "tanh_net": _tanh_net}


def make(name, n, seed=0):
    """The problem `name` at about n variables (exactly reproducible from the seed)."""
    return BUILDERS[name](n, np.random.default_rng(seed))


def cases(sizes, names=None):
    return [make(name, n) for name in (names or BUILDERS)
            for n in SIZES[sizes] + LARGE[sizes].get(name, ())]
