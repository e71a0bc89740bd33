"""Functions for the concurrency tests, importable by name so that worker processes started
with `spawn` (which pickle functions by module and name) can find them."""
import numpy as np

import numhess as nh


def energy(x):
    """A scalar function with a guard, a traced mask and a max: threads that call it at
    different points retrace and replay concurrently."""
    s = np.sum(np.sin(x) * np.roll(x, 1) ** 2) + 0.1 * np.sum(x ** 4)
    if x[0] > 0:
        s = s + np.max(x) ** 2
    else:
        s = s - np.sum(x[x < 0.5] ** 3)
    return s


def guarded(x):
    """A guard but no value-dependent shape: two tapes in all."""
    s = np.sum(np.sin(x) * np.roll(x, 1) ** 2) + 0.1 * np.sum(x ** 4)
    return s * x[1] if x[0] > 0 else s - x[1]


def energy_hessian_reference(x):
    """The Hessian of `energy` by hand, to check results computed anywhere."""
    n = x.size
    r = np.roll(x, 1)
    H = np.diag(-np.sin(x) * r ** 2 + 1.2 * x ** 2)
    # s = sum_i sin(x_i) * x_{i-1}^2
    for i in range(n):
        j = (i - 1) % n
        H[i, j] += 2 * np.cos(x[i]) * x[j]
        H[j, i] += 2 * np.cos(x[i]) * x[j]
        H[j, j] += 2 * np.sin(x[i])
    if x[0] > 0:
        k = int(np.argmax(x))
        H[k, k] += 2.0
    else:
        m = x < 0.5
        H[m, m] -= 6 * x[m]
    return H


def dense(x):
    """A dense Hessian with a long tape: large enough for the parallel (prange) driver."""
    return (np.sum(np.sin(x)) * np.sum(np.cos(x)) + np.sum(np.sin(x) * np.roll(x, 1) ** 2)
            + np.sum(np.exp(0.1 * x) * np.tanh(x)) + np.sum(np.log1p(x ** 2) * np.cos(x)))


ENERGY_HESSIAN = nh.hessian(energy)
DENSE_HESSIAN = nh.hessian(dense)


def hessian_in_worker(x):
    return ENERGY_HESSIAN(x)


def dense_hessian_in_worker(x):
    return DENSE_HESSIAN(x)


def points(k, n, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1.0, 1.0, n) for _ in range(k)]
