"""`python -m numhess check module:function`: the Hessian doctor for a user's function.

Traces f at one point, then reports its gradient and Hessian against finite differences,
symmetry, definiteness, sparsity and timings, and optionally plots the Hessian.
"""
import argparse
import ast
import importlib
import importlib.util
import os
import sys
import traceback

import numpy as np

from . import drivers
from .timing import fmt, median_time, once
from .traced import TracedFunction
from .hessians import weighted as weighted_hessian

DENSE_MAX = 4000      # above this many variables the dense Hessian is skipped (n^2 memory)
EIG_MAX = 3000        # dense eigenvalues up to here, Lanczos (eigsh) above


class CheckError(Exception):
    """A bad command line or function: printed as one line, exit status 2."""


# ---------------------------------------------------------------- inputs
def load_function(spec):
    """'package.module:function' or 'path/to/file.py:function' (dotted attributes ok)."""
    mod_name, sep, attr = spec.rpartition(":")
    if not sep or not mod_name or not attr:
        raise CheckError(f"expected module:function (e.g. mymodule:f or path/to/file.py:f), "
                         f"got {spec!r}")
    if mod_name.endswith(".py") or os.sep in mod_name:
        if not os.path.isfile(mod_name):
            raise CheckError(f"no such file: {mod_name}")
        name = os.path.splitext(os.path.basename(mod_name))[0]
        spec_ = importlib.util.spec_from_file_location(name, mod_name)
        module = importlib.util.module_from_spec(spec_)
        sys.modules.setdefault(name, module)
        spec_.loader.exec_module(module)
    else:
        if os.getcwd() not in sys.path:     # `python -m` runs from here: find local modules
            sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(mod_name)
        except ModuleNotFoundError as err:
            raise CheckError(f"cannot import {mod_name!r}: {err}") from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise CheckError(f"{mod_name} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise CheckError(f"{spec} is not callable")
    return obj


def parse_x0(text):
    """'1, 2, 3', '1 2 3', '[1, 2]' or '[[1, 2], [3, 4]]' as a float64 array."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        value = text.replace(",", " ").split()
    try:
        x = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise CheckError(f"--x0 must be numbers such as '1, 2, 3' or '[[1, 2], [3, 4]]', "
                         f"got {text!r}") from None
    if x.size == 0:
        raise CheckError("--x0 is empty: give the point's numbers, such as '1, 2, 3'")
    return np.atleast_1d(x)


# ---------------------------------------------------------------- finite differences
def fd_gradient(f, x, idx):
    """Central differences of the plain function f at the coordinates idx of x."""
    g = np.empty(idx.size)
    xf = x.ravel()
    for k, i in enumerate(idx):
        h = np.cbrt(np.finfo(float).eps) * max(1.0, abs(xf[i]))
        xp, xm = xf.copy(), xf.copy()
        xp[i] += h
        xm[i] -= h
        fp, fm = (np.asarray(f(z.reshape(x.shape)), dtype=float).ravel()[0] for z in (xp, xm))
        g[k] = (fp - fm) / (2 * h)
    return g


def fd_columns(grad, x, idx):
    """Central differences of the gradient: Hessian columns idx, shape (n, len(idx))."""
    xf = x.ravel()
    cols = np.empty((xf.size, idx.size))
    for k, i in enumerate(idx):
        h = np.cbrt(np.finfo(float).eps) * max(1.0, abs(xf[i]))
        xp, xm = xf.copy(), xf.copy()
        xp[i] += h
        xm[i] -= h
        cols[:, k] = (grad(xp) - grad(xm)) / (2 * h)
    return cols


def _compare(name, got, ref, tol, out):
    scale = max(1.0, float(np.abs(ref).max(initial=0.0)))
    err = float(np.abs(got - ref).max(initial=0.0))
    ok = err <= tol * scale
    out(f"  {name}: max |error| = {err:.2e} (relative {err / scale:.1e})  "
        f"{'OK' if ok else 'MISMATCH'}")
    return ok


# ---------------------------------------------------------------- the report
def _sparsity(H, out):
    nz = H != 0.0
    n, nnz = H.shape[0], int(nz.sum())
    rows, cols = np.nonzero(nz)
    band = int(np.abs(rows - cols).max(initial=0))
    per_row = int(nz.sum(axis=1).max(initial=0))
    out(f"  sparsity (exact zeros at this x): {nnz:,} of {n * n:,} entries nonzero "
        f"({100.0 * nnz / max(n * n, 1):.3g}%), bandwidth {band}, at most {per_row} per row")


def _structure(f, x, out):
    """The pattern the tape allows at any x (an upper bound), when numhess can find it."""
    import numhess
    finder = getattr(numhess, "hessian_sparsity", None)
    if finder is None:
        return
    try:
        nnz = finder(f, x).nnz
    except Exception as err:          # optional information: never fail the check on it
        out(f"  structural pattern: not available ({type(err).__name__})")
        return
    out(f"  structural pattern (any x on this tape, diagonal included): {nnz:,} nonzeros")


def _eigen(H, out):
    n = H.shape[0]
    if n <= EIG_MAX:
        ev = np.linalg.eigvalsh(H)
        lo, hi = ev[0], ev[-1]
    else:
        from scipy.sparse.linalg import eigsh
        lo = eigsh(H, k=1, which="SA", return_eigenvectors=False)[0]
        hi = eigsh(H, k=1, which="LA", return_eigenvectors=False)[0]
    tol = 1e-10 * max(abs(lo), abs(hi), 1e-300)
    kind = ("positive definite" if lo > tol else "negative definite" if hi < -tol else
            "positive semidefinite" if lo >= -tol and hi > tol else
            "negative semidefinite" if hi <= tol and lo < -tol else
            "zero" if abs(lo) <= tol and abs(hi) <= tol else "indefinite")
    out(f"  eigenvalues: min {lo:.4g}, max {hi:.4g}  ->  {kind}")


def _user_line(err):
    """Where in the user's code the error arose: the deepest frame outside numhess."""
    here = os.path.dirname(os.path.abspath(__file__))
    frames = [fr for fr in traceback.extract_tb(err.__traceback__)
              if not os.path.abspath(fr.filename).startswith(here + os.sep)]
    if not frames:
        return ""
    fr = frames[-1]
    return f"\n  at {fr.filename}:{fr.lineno}: {fr.line}"


def check(f, x, plot=None, fd_max=100, seed=0, out=print):
    """Run every check on f at x; return 0 when derivatives agree with differences, else 1."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    tf = TracedFunction(f, 0)
    try:
        rep, t_trace = once(tf.evaluate, (x,))
    except Exception as err:     # f's own error at this x (an IndexError at --n 1, say)
        raise CheckError(f"cannot trace f: {type(err).__name__}: {err}{_user_line(err)}"
                         ) from None
    if rep.out_size != 1:
        raise CheckError(f"check needs a scalar function; f returned shape "
                         f"{rep.entry.out_shape} (for residuals r, check e.g. "
                         "lambda x: np.sum(r(x) ** 2))")
    value = float(rep.output().ravel()[0])
    out(f"numhess check: {getattr(f, '__name__', 'f')} at x of shape {x.shape} "
        f"(n = {n}), f(x) = {value:.6g}")
    out(f"  tape: {len(rep.tape):,} instructions over {rep.tape.total:,} values")

    def grad_at(xf):
        r = tf.evaluate((xf.reshape(x.shape),))
        return drivers.gradient(r, 1.0)

    dense = n <= DENSE_MAX
    direction = np.random.default_rng(seed).standard_normal(n)
    if dense:
        H, t_first = once(weighted_hessian, rep)
    else:
        _, t_first = once(drivers.hessian_vector, rep, 1.0, direction)
    t_vg = median_time(lambda: grad_at(x.ravel()))
    t_hvp = median_time(drivers.hessian_vector, rep, 1.0, direction)
    t_h = median_time(lambda: weighted_hessian(tf.evaluate((x,)))) if dense else None
    out(f"  times: trace and first forward sweep {fmt(t_trace)}, first "
        f"{'Hessian' if dense else 'HVP'} {fmt(t_first)} (loads or compiles kernels)")
    out(f"         replay: value+gradient {fmt(t_vg)}, HVP {fmt(t_hvp)}"
        + (f", Hessian {fmt(t_h)}" if dense else ""))

    rng = np.random.default_rng(seed)
    idx = np.arange(n) if n <= fd_max else np.sort(rng.choice(n, fd_max, replace=False))
    subset = "" if n <= fd_max else f" ({fd_max} random coordinates of {n})"
    g = drivers.gradient(rep, 1.0)
    ok = _compare(f"gradient vs central differences of f{subset}", g[idx],
                  fd_gradient(f, x, idx), 1e-6, out)
    if dense:
        ok &= _compare(f"Hessian vs differences of the gradient{subset}", H[:, idx],
                       fd_columns(grad_at, x, idx), 1e-5, out)
        asym = float(np.abs(H - H.T).max(initial=0.0))
        out(f"  symmetry: max |H - H^T| = {asym:.2e}")
        _eigen(H, out)
        _sparsity(H, out)
    else:
        out(f"  n > {DENSE_MAX}: the dense Hessian ({n * n * 8 / 2 ** 30:.1f} GB) is skipped; "
            "checking a Hessian-vector product")
        hv = drivers.hessian_vector(rep, 1.0, direction)
        h = np.cbrt(np.finfo(float).eps) / max(1.0, float(np.abs(direction).max()))
        ref = (grad_at(x.ravel() + h * direction) - grad_at(x.ravel() - h * direction)) / (2 * h)
        ok &= _compare("HVP vs differences of the gradient", hv, ref, 1e-5, out)
    _structure(f, x, out)
    if tf.n_traces > 1:
        out(f"  note: f was traced {tf.n_traces} times (branches on values: guards flipped "
            "near x)")
    if plot:
        if not dense:
            out("  --plot skipped: the Hessian is too large to form")
        else:
            plot_hessian(H, plot)
            out(f"  plot written to {plot}")
    out("  all checks passed" if ok else "  some checks FAILED (see MISMATCH above)")
    return 0 if ok else 1


def _matplotlib():
    try:
        import matplotlib
    except ImportError:
        raise CheckError("--plot needs matplotlib: pip install 'numhess[plot]' "
                         "(or pip install matplotlib)") from None
    matplotlib.use("Agg")          # files only: works without a display
    import matplotlib.pyplot as plt
    return plt


def plot_hessian(H, path):
    """Heat map (symmetric colour scale) and sparsity pattern, side by side."""
    plt = _matplotlib()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 5))
    a = float(np.abs(H).max(initial=0.0)) or 1.0
    im = ax1.imshow(H, cmap="RdBu_r", vmin=-a, vmax=a, interpolation="nearest")
    fig.colorbar(im, ax=ax1, shrink=0.8)
    ax1.set_title("Hessian")
    ax2.spy(H, markersize=max(0.5, 200.0 / H.shape[0]))
    ax2.set_title(f"sparsity: {int((H != 0).sum()):,} nonzeros")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ---------------------------------------------------------------- command line
def parser():
    p = argparse.ArgumentParser(
        prog="python -m numhess check",
        description="Check a function's gradient and Hessian against finite differences "
                    "and report symmetry, definiteness, sparsity and timings.")
    p.add_argument("function", help="module:function or path/to/file.py:function; "
                   "f(x) must return a scalar")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--x0", help="the point, e.g. '1, 2, 3' or '[[1, 2], [3, 4]]'")
    where.add_argument("--n", type=int, help="use a random point in [-1, 1]^N")
    p.add_argument("--seed", type=int, default=0, help="seed of the random point (0)")
    p.add_argument("--plot", metavar="FILE.png", help="draw the Hessian (needs matplotlib)")
    p.add_argument("--fd-max", type=int, default=100, metavar="K",
                   help="finite-difference at most K coordinates (100)")
    return p


def main(argv):
    args = parser().parse_args(argv)
    try:
        if args.plot:
            _matplotlib()            # fail before the work, not after it
        if args.n is not None and args.n < 1:
            raise CheckError(f"--n must be at least 1, got {args.n}")
        if args.fd_max < 1:
            raise CheckError(f"--fd-max must be at least 1, got {args.fd_max}")
        f = load_function(args.function)
        x = parse_x0(args.x0) if args.x0 is not None else \
            np.random.default_rng(args.seed).uniform(-1.0, 1.0, args.n)
        return check(f, x, plot=args.plot, fd_max=args.fd_max, seed=args.seed)
    except CheckError as err:
        print(f"numhess check: {err}", file=sys.stderr)
        return 2
