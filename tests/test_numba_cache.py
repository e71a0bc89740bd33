"""Numba's on-disk cache: corrupt, in a directory that cannot be written, missing, and
shared by processes that start cold together. Each case runs in fresh interpreters, since
a process reads the cache once per kernel."""
import glob
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from numhess import kernels as K
import workers

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# a derivative checked against the hand-written one, then how many kernels were compiled
# and how many loaded from the cache
SCRIPT = """
import json, sys
import numpy as np
sys.path.insert(0, {here!r})
import numhess as nh, workers
from numhess import coloring, kernels
x = workers.points(1, 7, seed=11)[0]
if {hessian}:
    np.testing.assert_allclose(nh.hessian(workers.energy)(x), workers.energy_hessian_reference(x),
                               rtol=1e-12, atol=1e-12)
else:      # a gradient compiles in half the time
    np.testing.assert_allclose(nh.grad(lambda x: np.sum(np.sin(x) * x ** 2))(x),
                               np.cos(x) * x ** 2 + 2 * x * np.sin(x), rtol=1e-13, atol=1e-13)
# (the module's helpers, and the sweeps and drivers of each kernel set)
spaces = (kernels, coloring, kernels.FULL, kernels.PLAIN, kernels.LEAN)
jits = [d for m in spaces for d in vars(m).values() if hasattr(d, "_cache_hits")]
print(json.dumps(dict(numhess=nh.__file__,
                      compiled=sum(sum(d._cache_misses.values()) for d in jits),
                      loaded=sum(sum(d._cache_hits.values()) for d in jits))))
"""


def _start(tmp_path, package=ROOT, hessian=True, **env):
    """A fresh interpreter running SCRIPT on the numhess found in `package`; env entries
    set to None are removed."""
    env = {**os.environ, "PYTHONPATH": package, "PYTHONDONTWRITEBYTECODE": "1", **env}
    env = {k: v for k, v in env.items() if v is not None}
    script = SCRIPT.format(here=HERE, hessian=hessian)
    return subprocess.Popen([sys.executable, "-W", "always", "-c", script],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _finish(proc):
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, out + err
    result = json.loads(out.strip().splitlines()[-1])
    result["warnings"] = [line for line in err.splitlines() if "numhess: " in line]
    return result


def _run(tmp_path, package=ROOT, **env):
    return _finish(_start(tmp_path, package, **env))


def _package_copy(tmp_path, pycache_files=()):
    """numhess copied without its __pycache__, and `pycache_files` copied into a new one:
    a cache directory this test controls, found by Numba's in-tree locator."""
    dest = tmp_path / "site" / "numhess"
    shutil.copytree(os.path.join(ROOT, "numhess"), dest,
                    ignore=shutil.ignore_patterns("__pycache__"))
    if pycache_files:
        (dest / "__pycache__").mkdir()
        for f in pycache_files:
            shutil.copy(f, dest / "__pycache__")
    return dest


def _blocked(tmp_path):
    """A path no one can create, root included: its parent is a regular file."""
    (tmp_path / "file").write_text("")
    return str(tmp_path / "file" / "cache")


def test_a_corrupt_cache_is_a_miss_then_rewritten(tmp_path):
    cache = getattr(K.forward._cache, "cache_path", None)
    if cache is None:
        pytest.skip("this process has no Numba cache to copy")
    workers.ENERGY_HESSIAN(workers.points(1, 7)[0])   # every kernel the script needs is saved
    pkg = _package_copy(tmp_path, glob.glob(os.path.join(cache, "*.nb[ic]")))

    warm = _run(tmp_path, str(pkg.parent), NUMBA_CACHE_DIR=None)
    assert warm["numhess"].startswith(str(pkg))
    assert warm["compiled"] == 0 and warm["loaded"] > 0 and warm["warnings"] == []

    # garbage for one kernel's index, half of another's compiled code: what an interrupted
    # write or a full disk leaves
    # (workers.energy has no product nor linear algebra: it runs the kernels without them)
    pycache = pkg / "__pycache__"
    for index in glob.glob(str(pycache / "kernels.hessian_chunks_serial_lean-*.nbi")):
        with open(index, "wb") as f:
            f.write(os.urandom(300))
    for data in glob.glob(str(pycache / "kernels.forward_lean-*.nbc")):
        os.truncate(data, os.path.getsize(data) // 2)
    hurt = _run(tmp_path, str(pkg.parent), NUMBA_CACHE_DIR=None)
    assert hurt["compiled"] >= 2
    assert len(hurt["warnings"]) == 1, hurt["warnings"]
    assert "unreadable Numba cache in " + str(pkg / "__pycache__") in hurt["warnings"][0]

    healed = _run(tmp_path, str(pkg.parent), NUMBA_CACHE_DIR=None)
    assert healed["compiled"] == 0 and healed["warnings"] == []

    # NUMBA_CACHE_DIR that cannot be made: Numba uses the package's __pycache__ instead
    elsewhere = _run(tmp_path, str(pkg.parent), NUMBA_CACHE_DIR=_blocked(tmp_path))
    assert elsewhere["compiled"] == 0
    assert len(elsewhere["warnings"]) == 1
    assert "is not writable; Numba caches numhess's kernels in " + str(pkg / "__pycache__") \
        in elsewhere["warnings"][0]


@pytest.mark.slow
def test_cold_processes_on_one_empty_cache_and_one_with_no_cache_at_all(tmp_path):
    """Three processes compile into one missing cache directory at the same time, while a
    fourth has nowhere to write (the package's __pycache__ is a file, NUMBA_CACHE_DIR and
    the user cache directory cannot be made): every one compiles and gives the right
    derivatives. Four cold compiles, a few minutes on two cores."""
    shared = str(tmp_path / "shared" / "numba")     # missing: Numba makes it
    pkg = _package_copy(tmp_path)
    (pkg / "__pycache__").write_text("")
    blocked = _blocked(tmp_path)
    procs = [_start(tmp_path, NUMBA_CACHE_DIR=shared) for _ in range(3)]
    procs.append(_start(tmp_path, str(pkg.parent), hessian=False, NUMBA_CACHE_DIR=blocked,
                        XDG_CACHE_HOME=blocked, HOME=blocked))
    *cold, nowhere = [_finish(p) for p in procs]

    for r in cold:
        assert r["compiled"] > 0 and r["warnings"] == []
    assert nowhere["numhess"].startswith(str(pkg))
    assert nowhere["compiled"] > 0 and nowhere["loaded"] == 0
    assert len(nowhere["warnings"]) == 1, nowhere["warnings"]
    assert "Numba cannot write its cache in any of NUMBA_CACHE_DIR=" + blocked \
        in nowhere["warnings"][0]
    assert "compile in every process" in nowhere["warnings"][0]

    # what the racing processes left is a complete, readable cache
    after = _run(tmp_path, NUMBA_CACHE_DIR=shared)
    assert after["compiled"] == 0 and after["loaded"] > 0 and after["warnings"] == []
