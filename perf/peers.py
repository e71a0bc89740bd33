"""The libraries numhess is measured against, each imported only when asked for.

A peer's builder takes a Problem and returns {op: call}, where call() computes that op at the
problem's point on inputs already converted to the peer's own array type, and waits for the
result (JAX dispatches asynchronously). Conversion back to NumPy happens outside the timing,
through `to_numpy`. A builder raises Skip when a case is out of the peer's reach.
"""
import functools
import importlib.util

import numpy as np

OPS = ("hessian", "hvp", "grad")


class Skip(Exception):
    """A case this peer does not run, with the reason shown in the table."""


def numhess(p):
    import numhess as nh
    x, v, args = p.x, p.v, p.args
    H, Hv, g = nh.hessian(p.fn), nh.hvp(p.fn), nh.grad(p.fn)
    return {"hessian": lambda: H(x, *args), "hvp": lambda: Hv(x, v, *args),
            "grad": lambda: g(x, *args)}


def analytic(p):
    if not p.analytic:
        raise Skip("no analytic form")
    x, v, args, a = p.x, p.v, p.args, p.analytic
    return {"hessian": lambda: a["hessian"](x, *args), "hvp": lambda: a["hvp"](x, v, *args),
            "grad": lambda: a["grad"](x, *args)}


def jax(p):
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    f = functools.partial(p.fn, xp=jnp)
    x, v = jnp.asarray(p.x), jnp.asarray(p.v)
    args = tuple(jnp.asarray(a) for a in p.args)   # arguments, not closures: no constant folding
    H, g = jax.jit(jax.hessian(f)), jax.jit(jax.grad(f))
    Hv = jax.jit(lambda x, v, *a: jax.jvp(lambda y: jax.grad(f)(y, *a), (x,), (v,))[1])
    return {"hessian": lambda: H(x, *args).block_until_ready(),
            "hvp": lambda: Hv(x, v, *args).block_until_ready(),
            "grad": lambda: g(x, *args).block_until_ready()}


def _torch_inputs(p):
    import torch
    return torch, torch.from_numpy(p.x), torch.from_numpy(p.v), \
        tuple(torch.from_numpy(a) for a in p.args)


def torch_func(p):
    torch, x, v, args = _torch_inputs(p)
    from torch.func import grad, hessian, jvp
    if p.name == "lennard_jones" and p.n > 300:
        # vmap batches every pairwise intermediate over all n directions: ~13 GB here
        raise Skip("memory: batched pairwise tensors")
    f = functools.partial(p.fn, xp=torch)
    H, g = hessian(f), grad(f)
    return {"hessian": lambda: H(x, *args),
            "hvp": lambda: jvp(lambda y: g(y, *args), (x,), (v,))[1],
            "grad": lambda: g(x, *args)}


def torch_autograd(p):
    torch, x, v, args = _torch_inputs(p)
    from torch.autograd.functional import hessian, hvp
    f = functools.partial(p.fn, xp=torch)

    def grad():
        y = x.detach().requires_grad_()
        return torch.autograd.grad(f(y, *args), y)[0]
    return {"hessian": lambda: hessian(lambda y: f(y, *args), x),
            "hvp": lambda: hvp(lambda y: f(y, *args), x, v)[1], "grad": grad}


def autograd(p):
    import autograd
    import autograd.numpy as anp
    f = functools.partial(p.fn, xp=anp)
    x, v, args = p.x, p.v, p.args
    H, Hv, g = autograd.hessian(f), autograd.hessian_vector_product(f), autograd.grad(f)
    return {"hessian": lambda: H(x, *args), "hvp": lambda: Hv(x, *args, v),   # v goes last
            "grad": lambda: g(x, *args)}


# Above these sizes the SX expression graph of a dense Hessian (about n^2 x data entries) takes
# minutes and gigabytes to build; CasADi users switch to MX there.
CASADI_MAX_N = {"logistic": 100, "tanh_net": 100, "lennard_jones": 300, "rosenbrock": 10_000}


def casadi(p):
    import casadi as ca
    if p.n > CASADI_MAX_N.get(p.name, 10 ** 9):
        raise Skip("SX graph too large")
    x, v = ca.SX.sym("x", p.n), ca.SX.sym("v", p.n)
    fx = p.casadi(x, *p.args)
    g = ca.gradient(fx, x)
    H = ca.Function("H", [x], [ca.hessian(fx, x)[0]])
    Hv = ca.Function("Hv", [x, v], [ca.jtimes(g, x, v)])
    G = ca.Function("g", [x], [g])
    xd, vd = ca.DM(p.x), ca.DM(p.v)
    return {"hessian": lambda: H(xd), "hvp": lambda: Hv(xd, vd), "grad": lambda: G(xd)}


def to_numpy(result):
    """A peer's result as a dense float64 NumPy array."""
    if hasattr(result, "full"):                    # CasADi DM, possibly sparse
        return np.asarray(result.full())
    if hasattr(result, "detach"):                  # torch
        return result.detach().numpy()
    return np.asarray(result, dtype=np.float64)


# name -> (builder, module it needs); the --peers names map to groups of these.
PEERS = {"analytic": (analytic, "scipy"), "jax": (jax, "jax"),
         "torch.func": (torch_func, "torch"), "torch.autograd": (torch_autograd, "torch"),
         "autograd": (autograd, "autograd"), "casadi": (casadi, "casadi")}
GROUPS = {"jax": ["jax"], "torch": ["torch.func", "torch.autograd"], "autograd": ["autograd"],
          "casadi": ["casadi"]}


def installed(module):
    return importlib.util.find_spec(module) is not None


def select(names):
    """Peer names to run for a --peers value (None: every installed one), and the missing."""
    groups = list(GROUPS) if names is None else names
    chosen, missing = ["analytic"], []
    for group in groups:
        if group not in GROUPS:
            raise SystemExit(f"unknown peer {group!r}; choose from {', '.join(GROUPS)}")
        for peer in GROUPS[group]:
            (chosen if installed(PEERS[peer][1]) else missing).append(peer)
    return chosen, sorted(set(missing))
