"""Differential fuzzing: random NumPy programs, numhess against finite differences and JAX.

Each example is a random program (fuzzgen.py) over an input of random shape: elementwise
functions on safe domains, broadcasting, indexing (basic, fancy, masks, traced masks),
reductions, products, structural functions, assignments into arrays, and Python control
flow on traced values (`if`, `while`, `max()`). numhess's gradient, Hessian (dense,
chunked and sparse), HVP, Jacobians and vector-output Hessian are checked at two points
(the second replays the cached tape or retraces), then at the first point again, against
Richardson-extrapolated finite differences and, when JAX is installed, against JAX with
x64 enabled.

CI runs a bounded number of examples (120, derandomized; JAX, when installed, on every
8th: JAX compiles every primitive it meets, about 0.5 s a program, while numhess and the
finite differences take about 25 ms). The long mode, random programs with JAX on each:

    NUMHESS_FUZZ_EXAMPLES=5000 python -m pytest -q -s tests/fuzz -p no:cacheprovider

NUMHESS_FUZZ_SEED=<int> picks another random stream (run two in parallel on two cores),
NUMHESS_FUZZ_JAX_EVERY=<k> checks JAX on every k-th program (0: never).
A failure prints the program as plain NumPy source; make it an explicit test in
tests/test_regressions.py.
"""
import os

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, note, settings, strategies as st  # noqa: E402

import fuzzgen  # noqa: E402

EXAMPLES = int(os.environ.get("NUMHESS_FUZZ_EXAMPLES", "120"))
LONG = "NUMHESS_FUZZ_EXAMPLES" in os.environ
SEED = os.environ.get("NUMHESS_FUZZ_SEED")
JAX_EVERY = int(os.environ.get("NUMHESS_FUZZ_JAX_EVERY", "1" if LONG else "8"))

try:
    import jax  # noqa: F401
    HAVE_JAX = JAX_EVERY > 0
except ImportError:
    HAVE_JAX = False

STATS = {"programs": 0, "two points": 0, "jax": 0, "jax refused": 0}


def _settings():
    kw = dict(max_examples=EXAMPLES, deadline=None, print_blob=True,
              suppress_health_check=list(HealthCheck))
    if LONG:
        kw["database"] = None
    else:
        kw["derandomize"] = True
    return settings(**kw)


def _run(prog):
    note(repr(prog))
    jax_fns = None
    if HAVE_JAX and STATS["programs"] % JAX_EVERY == 0:
        if STATS["jax"] % 50 == 49:      # op-by-op JAX keeps every compiled primitive
            jax.clear_caches()
        jax_fns = fuzzgen.jax_reference(prog)
        try:      # JAX's own limits (not numhess's) drop the JAX comparison only
            jax_fns[1](np.array(prog.x1))
            STATS["jax"] += 1
        except Exception as err:   # pragma: no cover
            note(f"jax refused the program: {type(err).__name__}: {err}")
            STATS["jax refused"] += 1
            jax_fns = None
    STATS["programs"] += 1
    points = fuzzgen.check_program(prog, jax_fns, rng_seed=prog.seed)
    STATS["two points"] += points == 2


@_settings()
@given(fuzzgen.programs(st))
def _fuzz(prog):
    _run(prog)


if SEED is not None:
    _fuzz = hypothesis.seed(int(SEED))(_fuzz)


def test_fuzz_programs():
    _fuzz()
    print(f"\nfuzz: {STATS}, steps around known engine bugs: {fuzzgen.KNOWN}")
    assert STATS["programs"] > 0
