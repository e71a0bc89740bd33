"""torch.autograd.functional, for NumPy functions: the same names, signatures, shapes and
tuple semantics, so a script ports line by line.

=========================================================  ===================================
torch                                                      numhess
=========================================================  ===================================
``torch.autograd.functional.jacobian(f, x)``               ``nh.functional.jacobian(f, x)``
``jacobian(f, (x, y), strategy="forward-mode",             ``jacobian(f, (x, y),
vectorize=True)``                                          strategy="forward-mode")``
``hessian(f, x)`` / ``hessian(f, (x, y))``                 ``hessian(f, x)`` / ``H[i][j]``
``hvp(f, x, v)`` -> ``(f(x), H v)``                        ``hvp(f, x, v)``
``vhp(f, x, v)`` -> ``(f(x), v H)``                        ``vhp(f, x, v)``
``jvp(f, x, v)`` -> ``(f(x), J v)``                        ``jvp(f, x, v)``
``vjp(f, x, v)`` -> ``(f(x), v J)``                        ``vjp(f, x, v)``
=========================================================  ===================================

Inputs are NumPy arrays (lists and ints are converted to float64); a *tuple* means several
inputs, anything else one input, as in torch. `func` may return an array or a tuple of
arrays (jacobian, jvp, vjp); hessian, hvp and vhp need a single-element output.
Results are NumPy arrays with torch's shapes: ``jacobian`` gives ``out.shape + in.shape``
per (output, input) pair, nested ``J[i][j]`` when both are tuples.

Differences: ``create_graph=True`` raises (numhess does not differentiate its own
results); ``vectorize`` is accepted and ignored (sweeps are always batched).
``strict=True`` checks *structural* dependence recorded on the tape: output i depends on
input j when some operation path links them, whatever the values (``x * 0`` depends on x;
``np.zeros_like(x)`` or ``np.floor(x)`` does not). It raises ValueError naming the pair.
For hessian, hvp and vhp it checks that the output depends on every input (first order);
torch also rejects outputs whose *gradient* is independent of an input (a linear
function), which numhess does not detect.

Traced tapes are cached per function, so calling these in a loop replays compiled sweeps;
pass the same function object (not a new lambda each time) to benefit.
"""

import numpy as np

from . import drivers
from .traced import Memo, TracedFunction, as_input
from .tracer import builder_of, lift
from .hessians import weighted as weighted_hessian

_STRATEGIES = ("reverse-mode", "forward-mode")
_memo = Memo()             # (func, n_inputs) -> _Traced


# ---------------------------------------------------------------- tracing
def _flat_outputs(func):
    """func's outputs raveled into one vector; aux records the structure of this trace:
    (is_tuple, shapes, which outputs are active)."""
    def g(*xs):
        out = func(*xs)
        is_tuple = isinstance(out, tuple)
        outs = out if is_tuple else (out,)
        if not outs:
            raise ValueError("numhess.functional: func returned an empty tuple")
        b = builder_of(*xs)
        lifted = [lift(b, o) for o in outs]
        for i, t in enumerate(lifted):
            if t.dtype == np.bool_:
                raise TypeError(f"numhess.functional: output {i} is boolean; derivatives "
                                "need float outputs")
        shapes = tuple(t.shape for t in lifted)
        active = tuple(bool(t.active) for t in lifted)
        flat = lifted[0] if len(lifted) == 1 else np.concatenate([t.ravel() for t in lifted])
        return flat, (is_tuple, shapes, active)
    return g


class _Traced:
    """One TracedFunction over all inputs, plus one per input for strict's checks."""

    def __init__(self, func, k):
        self.g = _flat_outputs(func)
        self.all = TracedFunction(self.g, tuple(range(k)), has_aux=True)
        self.single = [None] * k

    def dependence(self, inputs):
        """dep[i][j]: output i depends structurally on input j (input j alone traced)."""
        cols = []
        for j in range(len(inputs)):
            if self.single[j] is None:
                self.single[j] = TracedFunction(self.g, j, has_aux=True)
            cols.append(self.single[j].evaluate(inputs).aux()[2])
        return [list(row) for row in zip(*cols)]

    def nbytes(self):
        return sum(t.nbytes() for t in (self.all, *self.single) if t is not None)


def _traced(func, k):
    if not callable(func):
        raise TypeError(f"numhess.functional: func must be callable, got "
                        f"{type(func).__name__}")
    return _memo.get(func, (k,), lambda: _Traced(func, k))


class _Point:
    """func evaluated at inputs: the replay and the structure of inputs and outputs."""

    def __init__(self, func, inputs, fname, create_graph=False):
        if create_graph:
            raise NotImplementedError(f"numhess.functional.{fname}: create_graph=True is "
                                      "not supported (numhess does not differentiate its "
                                      "own results)")
        self.fname = fname
        if isinstance(inputs, list) and any(isinstance(v, np.ndarray) for v in inputs):
            raise TypeError(f"numhess.functional.{fname}: inputs is a list of arrays; pass "
                            "several inputs as a tuple (x, y), as torch.autograd.functional "
                            "takes them, or one input as one array")
        self.in_tuple = isinstance(inputs, tuple)
        raw = inputs if self.in_tuple else (inputs,)
        if not raw:
            raise ValueError(f"numhess.functional.{fname}: inputs is an empty tuple")
        self.inputs = tuple(as_input(x, f"input {j}") for j, x in enumerate(raw))
        self.traced = _traced(func, len(self.inputs))
        self.rep = self.traced.all.evaluate(self.inputs)
        self.out_tuple, self.out_shapes, _ = self.rep.aux()
        sizes = [int(np.prod(s)) for s in self.out_shapes]
        self.out_spans = np.cumsum([0] + sizes)

    # -- structure
    def outputs(self):
        return self.per_output(self.rep.output().ravel())

    def per_input(self, flat):
        parts = self.rep.split_inputs(flat)
        return tuple(parts) if self.in_tuple else parts[0]

    def per_output(self, flat):
        parts = [flat[a:b].reshape(s) for a, b, s in
                 zip(self.out_spans[:-1], self.out_spans[1:], self.out_shapes)]
        return tuple(parts) if self.out_tuple else parts[0]

    def scalar_output(self):
        if self.out_tuple or self.rep.out_size != 1:
            raise ValueError(f"numhess.functional.{self.fname}: func must return a single "
                             f"array with a single element, got "
                             f"{'a tuple' if self.out_tuple else self.out_shapes[0]}")

    # -- vectors given by the caller
    def flat_vector(self, v, shapes, what):
        """v shaped like `shapes` (tuple when several), as one flat float64 vector."""
        if v is None:
            if len(shapes) != 1 or int(np.prod(shapes[0])) != 1:
                raise ValueError(f"numhess.functional.{self.fname}: v can only be None when "
                                 f"the {what} is a single array with a single element")
            return np.ones(1)
        vs = v if isinstance(v, tuple) else (v,)
        if len(vs) != len(shapes):
            raise ValueError(f"numhess.functional.{self.fname}: v has {len(vs)} part(s) "
                             f"for {len(shapes)} {what}(s)")
        flat = []
        for j, (part, shape) in enumerate(zip(vs, shapes)):
            part = as_input(part, "v")
            if part.shape != tuple(shape):
                raise ValueError(f"numhess.functional.{self.fname}: v[{j}] has shape "
                                 f"{part.shape}, the {what} has shape {tuple(shape)}")
            flat.append(part.ravel())
        return np.concatenate(flat)

    def in_shapes(self):
        return [x.shape for x in self.inputs]

    # -- strict
    def check_strict(self, kind):
        dep = self.traced.dependence(self.inputs)
        n_out, n_in = len(dep), len(self.inputs)
        where = f"numhess.functional.{self.fname} (strict=True)"
        if kind == "pairs":
            for i in range(n_out):
                for j in range(n_in):
                    if not dep[i][j]:
                        raise ValueError(f"{where}: output {i} does not depend on input {j}")
        elif kind == "inputs":
            for j in range(n_in):
                if not any(dep[i][j] for i in range(n_out)):
                    raise ValueError(f"{where}: the outputs do not depend on input {j}")
        elif kind == "outputs":
            for i in range(n_out):
                if not any(dep[i]):
                    raise ValueError(f"{where}: output {i} does not depend on any input")


def _check_strategy(strategy, name="strategy"):
    if strategy not in _STRATEGIES:
        raise ValueError(f"{name} must be 'reverse-mode' or 'forward-mode', got {strategy!r}")


# ---------------------------------------------------------------- the API
def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T J): v shaped like the outputs; the result like the inputs."""
    p = _Point(func, inputs, "vjp", create_graph)
    c = p.flat_vector(v, p.out_shapes, "output")
    if strict:
        p.check_strict("inputs")
    return p.outputs(), p.per_input(drivers.gradient(p.rep, c))


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J v): v shaped like the inputs; the result like the outputs."""
    p = _Point(func, inputs, "jvp", create_graph)
    t = p.flat_vector(v, p.in_shapes(), "input")
    if strict:
        p.check_strict("outputs")
    return p.outputs(), p.per_output(drivers.push_forward(p.rep, t))


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False,
             strategy="reverse-mode"):
    """J with shape out.shape + in.shape; J[i] / J[j] / J[i][j] when outputs and/or inputs
    are tuples. strategy picks reverse sweeps over outputs or forward sweeps over inputs."""
    _check_strategy(strategy)
    p = _Point(func, inputs, "jacobian", create_graph)
    if strict:
        p.check_strict("pairs")
    J = drivers.jacobian(p.rep, None, reverse=strategy == "reverse-mode")
    return _blocks(J, p.out_spans, p.out_shapes, p.rep.spans, p.out_tuple, p.in_tuple)


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False,
            outer_jacobian_strategy="reverse-mode"):
    """H with shape in.shape + in.shape; H[i][j] (in_i.shape + in_j.shape) for tuple
    inputs. func must return a single element. outer_jacobian_strategy is accepted for
    torch compatibility; numhess always runs forward-over-reverse."""
    _check_strategy(outer_jacobian_strategy, "outer_jacobian_strategy")
    p = _Point(func, inputs, "hessian", create_graph)
    p.scalar_output()
    if strict:
        p.check_strict("inputs")
    H = weighted_hessian(p.rep)
    spans = p.rep.spans
    blocks = tuple(tuple(H[a:b, c:d].reshape(si + sj) for c, d, sj in spans)
                   for a, b, si in spans)
    return blocks if p.in_tuple else blocks[0][0]


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), H v): v and the result shaped like the inputs."""
    return _second_order(func, inputs, v, create_graph, strict, "hvp")


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T H); equal to hvp since numhess's Hessians are symmetric."""
    return _second_order(func, inputs, v, create_graph, strict, "vhp")


def _second_order(func, inputs, v, create_graph, strict, name):
    p = _Point(func, inputs, name, create_graph)
    p.scalar_output()
    d = p.flat_vector(v, p.in_shapes(), "input")
    if strict:
        p.check_strict("inputs")
    out = p.rep.output().reshape(p.out_shapes[0])
    return out, p.per_input(drivers.hessian_vector(p.rep, 1.0, d))


def _blocks(J, out_spans, out_shapes, in_spans, out_tuple, in_tuple):
    rows = []
    for a, b, so in zip(out_spans[:-1], out_spans[1:], out_shapes):
        row = tuple(J[a:b, c:d].reshape(tuple(so) + tuple(si)) for c, d, si in in_spans)
        rows.append(row if in_tuple else row[0])
    return tuple(rows) if out_tuple else rows[0]
