"""Measurements that need a fresh process: time to the first Hessian, cold compile, memory."""
import json
import os
import subprocess
import sys
import tempfile

PERF = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(PERF)

# Each script times itself from its first line, so imports count. Peak memory is the
# process's own high-water mark, VmHWM: on Linux ru_maxrss of a child started from a big
# parent (this suite, with every peer loaded) starts at the parent's size.
_SCRIPT = """\
import time
t0 = time.perf_counter()
{imports}
import problems
p = problems.make({name!r}, {n})
{compute}
seconds = time.perf_counter() - t0
import json, resource, sys
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2 ** 20 if sys.platform == "darwin"
                                                             else 1024)
try:
    with open("/proc/self/status") as fh:
        peak = next(int(l.split()[1]) for l in fh if l.startswith("VmHWM")) / 1024
except (OSError, StopIteration):
    pass
print(json.dumps({{"seconds": seconds, "peak_mb": peak}}))
"""

LIBS = {
    "numhess": ("import numpy as np\nimport numhess as nh",
                "H = nh.hessian(p.fn)(p.x, *p.args)"),
    "jax": ("import numpy as np\nimport jax\njax.config.update('jax_enable_x64', True)\n"
            "import jax.numpy as jnp\nimport functools",
            "H = jax.jit(jax.hessian(functools.partial(p.fn, xp=jnp)))(p.x, *p.args)"
            ".block_until_ready()"),
}
# every transform the suite times, so every kernel they need compiles
COLD = ("nh.hessian(p.fn)(p.x, *p.args); nh.hvp(p.fn)(p.x, p.v, *p.args); "
        "nh.grad(p.fn)(p.x, *p.args)")


def run_script(lib, name, n, compute=None, env=None, timeout=1800):
    imports, default = LIBS[lib]
    script = _SCRIPT.format(imports=imports, name=name, n=n, compute=compute or default)
    env = dict(os.environ if env is None else env)
    # the working tree's numhess, not an installed copy, and perf/ for `problems`
    env["PYTHONPATH"] = os.pathsep.join(p for p in (ROOT, PERF, env.get("PYTHONPATH")) if p)
    # bytecode written and reused, as an installed package has it (pip compiles it, and
    # JAX's is): without, each fresh process compiled numhess's sources again (90 ms)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{lib} subprocess failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def first_hessian(lib, name, n, repeats=2):
    """Seconds to the first Hessian with warm on-disk caches: one run to warm them, then the
    best of `repeats` (the machine is shared; the minimum is the least disturbed)."""
    run_script(lib, name, n)
    return min(run_script(lib, name, n)["seconds"] for _ in range(repeats))


def cold_compile(name, n):
    """Seconds to the first hessian, hvp and grad with an empty Numba cache (a temp dir)."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        return run_script("numhess", name, n, compute=COLD, env=env)["seconds"]


def peak_memory(lib, name, n):
    """Peak resident MB of a fresh process computing one Hessian."""
    return run_script(lib, name, n)["peak_mb"]
