"""numhess's fixed cost per call: each transform on f(x) = x[0] at n = 10, whose tape
has no instruction, so the time is all argument checks, cache look-up, kernel dispatch and
result allocation, and no sweep work. Also the callbacks `nh.minimize` hands to scipy."""
import numpy as np

import measure

N = 10


def _first(x):
    return x[0]


def calls():
    """{name: call} of every per-call path a scipy optimizer exercises."""
    import numhess as nh
    from numhess.scipy_api import Objective
    x, v = np.linspace(-1.0, 1.0, N), np.ones(N)
    H, Hv, g = nh.hessian(_first), nh.hvp(_first), nh.grad(_first)
    obj = Objective(_first, ())
    points = [x + i for i in range(Objective.KEEP + 1)]   # more than it keeps: always new
    turn = iter(range(10 ** 12))

    def fun_and_grad_new_x():
        return obj.value_and_grad(points[next(turn) % len(points)])[1]
    return {"hessian": lambda: H(x), "hvp": lambda: Hv(x, v), "grad": lambda: g(x),
            "minimize fun+grad, new x": fun_and_grad_new_x,
            "minimize hess, same x": lambda: obj.hess(x),
            "minimize hessp, same x": lambda: obj.hessp(x, v)}


def measure_all(budget):
    """{name: median seconds per call}."""
    return {name: measure.per_call(call, budget)[0] for name, call in calls().items()}
