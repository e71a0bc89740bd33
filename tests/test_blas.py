"""Sweeps of tapes with matrix products run on one BLAS thread; the caller's setting is
restored after every call, also when calls overlap in several threads."""
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import numpy as np
import pytest

import numhess as nh
from numhess import blas
from numhess.blas import OneThread

needs_openblas = pytest.mark.skipif(blas.one_thread.controls is None,
                                    reason="no OpenBLAS thread control behind SciPy")


def logistic(w, A, y):
    z = A @ w
    return np.sum(np.log1p(np.exp(z)) - y * z)


def analytic_hessian(w, A):
    p = 1.0 / (1.0 + np.exp(-(A @ w)))
    return (A.T * (p * (1 - p))) @ A


class FakeBlas:
    def __init__(self, n):
        self.n, self.sets = n, []

    def get(self):
        return self.n

    def set(self, n):
        self.n = n
        self.sets.append(n)


def test_one_thread_inside_and_restored_after():
    fake = FakeBlas(4)
    limit = OneThread((fake.get, fake.set))
    with limit:
        assert fake.n == 1
        with limit:                # nested: still one, nothing restored yet
            assert fake.n == 1
        assert fake.n == 1
    assert fake.n == 4 and fake.sets == [1, 4]
    with pytest.raises(RuntimeError):
        with limit:
            raise RuntimeError("a failing sweep restores the count too")
    assert fake.n == 4


def test_one_thread_already_is_left_alone():
    fake = FakeBlas(1)
    with OneThread((fake.get, fake.set)):
        pass
    assert fake.sets == []


def test_overlapping_threads_restore_once_the_last_leaves():
    fake = FakeBlas(3)
    limit = OneThread((fake.get, fake.set))
    inside, leave = threading.Barrier(3), threading.Event()

    def worker():
        with limit:
            inside.wait()
            leave.wait()
    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    inside.wait()
    assert fake.n == 1 and limit.inside == 2
    leave.set()
    for t in threads:
        t.join()
    assert fake.n == 3 and fake.sets == [1, 3]


@needs_openblas
@pytest.mark.parametrize("user_threads", [1, 2, 3])
def test_every_transform_restores_the_callers_blas_threads(user_threads):
    rng = np.random.default_rng(0)
    A, y, w = rng.normal(size=(120, 8)), rng.integers(0, 2, 120).astype(float), rng.normal(size=8)
    get, set_ = blas.one_thread.controls
    before = get()
    try:
        set_(user_threads)
        H = nh.hessian(logistic)(w, A, y)
        assert get() == user_threads
        np.testing.assert_allclose(H, analytic_hessian(w, A), rtol=1e-10)
        nh.grad(logistic)(w, A, y)
        nh.hvp(logistic)(w, np.ones(8), A, y)
        nh.jacfwd(lambda w, A: np.tanh(A @ w))(w, A)
        nh.jacrev(lambda w, A: np.tanh(A @ w))(w, A)
        nh.minimize(logistic, w, args=(A, y), method="trust-exact")
        assert get() == user_threads
    finally:
        set_(before)


@needs_openblas
def test_concurrent_calls_restore_the_callers_blas_threads():
    rng = np.random.default_rng(1)
    A, y = rng.normal(size=(200, 30)), rng.integers(0, 2, 200).astype(float)
    h = nh.hessian(logistic)
    get, set_ = blas.one_thread.controls
    before = get()

    def worker(seed):
        w = np.random.default_rng(seed).normal(size=30)
        return all(np.allclose(h(w, A, y), analytic_hessian(w, A), rtol=1e-10)
                   for _ in range(20))
    try:
        set_(2)
        with ThreadPoolExecutor(4) as pool:
            assert all(pool.map(worker, range(4)))
        assert get() == 2 and blas.one_thread.inside == 0
    finally:
        set_(before)


@needs_openblas
def test_sweeps_with_large_products_see_one_thread():
    get, set_ = blas.one_thread.controls
    before = get()
    seen = []
    try:
        set_(2)
        # a small solve (getrs threads at any size); the last: one call long enough for
        # BLAS's threads to pay (a big factorization)
        for work, k, solves in ((1e6, 1, False), (1e3, 10, False), (1e3, 1, False),
                                (0.0, 100, False), (27.0, 1, True),
                                (blas.THREADS_PAY, 1, False)):
            tape = SimpleNamespace(blas_work=work, packed="T", solves=solves)
            assert blas.sweep(lambda T, a: seen.append((T, a, get())) or a, tape, k, 7) == 7
        assert [s[2] for s in seen] == [1, 1, 2, 2, 1, 2]
        x = np.ones((3, 30))
        solve = nh.grad(lambda x: np.sum(np.linalg.solve(np.eye(3) + x[:, :3], x)))
        assert solve.traced.evaluate((x,)).tape.solves
        assert get() == 2
    finally:
        set_(before)


FORK_MID_SWEEP = """
import os, threading
from numhess import blas
get, set_ = blas.one_thread.controls
set_(2)
inside, leave = threading.Event(), threading.Event()

def sweep():
    with blas.one_thread:
        inside.set()
        leave.wait()
t = threading.Thread(target=sweep)
t.start()
inside.wait()
pid = os.fork()
if pid == 0:     # the child: the sweeping thread is gone
    os._exit(0 if get() == 2 and blas.one_thread.inside == 0 else 1)
child_ok = os.waitpid(pid, 0)[1] == 0
leave.set()
t.join()
raise SystemExit(0 if child_ok and get() == 2 else 1)
"""


@needs_openblas
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_mid_sweep_gets_the_count_back():
    # in a fresh interpreter: this one may hold other libraries' threads (JAX's)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    subprocess.run([sys.executable, "-c", FORK_MID_SWEEP], env=env, check=True, timeout=120)
