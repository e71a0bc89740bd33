"""Run the numhess performance suite: `python perf/run.py [--sizes tiny|small|full] ...`.

Exit status: 0 all agree; 1 a numerical disagreement or a crash; 3 (with --check-baseline)
a ratio worse than the baseline by more than the margin. Timings alone never fail a run.
"""
import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import sys
import time
import traceback

PERF = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(PERF), PERF]     # measure the working tree's numhess
# fused loops compile at a tape's first gradient or HVP, so the warm calls time them (by
# default they compile in the background, and the first warm calls would be interpreted)
os.environ.setdefault("NUMHESS_FUSE", "now")

import numba  # noqa: E402
import numpy as np  # noqa: E402

import fresh  # noqa: E402
import measure  # noqa: E402
import overhead  # noqa: E402
import peers as P  # noqa: E402
import problems  # noqa: E402
import report  # noqa: E402
import sparse  # noqa: E402

BUDGET = {"tiny": 0.05, "small": 0.2, "full": 0.4}   # seconds of repeats per measurement


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def _error(e):
    return {"status": "error", "note": f"{type(e).__name__}: {str(e).splitlines()[0][:80]}"
            if str(e) else type(e).__name__}


def _calls(builder, p):
    """{op: call} from a peer's builder, or {op: result dict} when it skips or fails."""
    try:
        calls = builder(p)
        if p.n > problems.DENSE_MAX_N:
            calls["hessian"] = {"status": "skip", "note": "dense Hessian too large"}
        return calls
    except P.Skip as e:
        return {op: {"status": "skip", "note": str(e)} for op in P.OPS}
    except ImportError as e:
        return {op: {"status": "skip", "note": f"import failed: {e}"} for op in P.OPS}
    except Exception as e:
        traceback.print_exc()
        return {op: _error(e) for op in P.OPS}


def _timed(call, budget):
    """(result dict, first result) for one call; the result dict records a crash."""
    if isinstance(call, dict):
        return call, None
    try:
        t, first, k, out = measure.per_call(call, budget)
        return {"status": "ok", "time": t, "first": first, "samples": k}, out
    except Exception as e:
        traceback.print_exc()
        return _error(e), None


def run_case(p, peer_names, budget):
    """Rows (one per op) for one problem: numhess, then every peer checked against it."""
    rows = {op: {"problem": p.name, "n": p.n, "op": op, "peers": {}} for op in P.OPS}
    refs = {}
    for op, call in _calls(P.numhess, p).items():
        rows[op]["numhess"], out = _timed(call, budget)
        if rows[op]["numhess"]["status"] == "ok":
            refs[op] = np.asarray(out)
        log(f"  {p.key:20} {op:8} {'numhess':14} "
            f"{report.fmt_time(rows[op]['numhess'].get('time'))}")
    if "hessian" in refs and "hvp" in refs:   # checks numhess even when no peer is installed
        rows["hvp"]["numhess"]["self_check"] = measure.disagreement(
            refs["hessian"] @ p.v, refs["hvp"])
    for name in peer_names:
        calls = _calls(P.PEERS[name][0], p)
        for op in P.OPS:
            r, out = _timed(calls.get(op, {"status": "skip", "note": "not provided"}), budget)
            if r["status"] == "ok":
                r["ratio"] = None
                if op in refs:
                    r["ratio"] = rows[op]["numhess"]["time"] / r["time"]
                    r["err"] = measure.disagreement(refs[op], P.to_numpy(out))
                    if not r["err"] <= measure.RTOL:
                        r["status"] = "disagree"
                log(f"  {p.key:20} {op:8} {name:14} {report.fmt_time(r['time'])}"
                    + (f"  DISAGREES {r['err']:.1e}" if r["status"] == "disagree" else ""))
            rows[op]["peers"][name] = r
    return list(rows.values())


def _ratio_again(key, budget):
    """numhess/peer for a row key problem/n/op/peer, measured again: numhess and the peer
    in turn, twice each, the best time of each kept; None when it cannot be measured."""
    name, n, op, peer = key.split("/")
    p = problems.make(name, int(n))
    calls = [_calls(P.numhess, p).get(op), _calls(P.PEERS[peer][0], p).get(op)]
    best = [float("inf"), float("inf")]
    for _ in range(2):
        for i, call in enumerate(calls):
            r, _ = _timed(call, budget) if call is not None else ({"status": "skip"}, None)
            if r["status"] != "ok":
                return None
            best[i] = min(best[i], r["time"])
    return best[0] / best[1]


def confirmed(worse, margin, budget):
    """The flagged ratios that are still worse than the baseline by more than the margin
    when measured again (a peer's time varies up to 2x from run to run on a shared
    machine, so one measurement flags rows that did not change). Sparse and
    fresh-process ratios are kept as measured."""
    kept = []
    for key, base, now in worse:
        if key.split("/")[0] not in problems.BUILDERS:
            kept.append((key, base, now))
            continue
        again = _ratio_again(key, budget)
        log(f"  measured again: {key}: {now:.3g} -> "
            + ("failed" if again is None else f"{again:.3g}"))
        if again is None or again > base * margin:
            kept.append((key, base, now if again is None else again))
    return kept


def run_fresh(sizes, peer_names):
    """Fresh-process measurements: time to first Hessian; on 'full', cold compile and memory."""
    libs = ["numhess"] + (["jax"] if "jax" in peer_names else [])
    out = {}
    n = problems.SIZES[sizes][-1]
    out["first_hessian_s"] = {
        "problem": f"rosenbrock/{n}",
        **{lib: fresh.first_hessian(lib, "rosenbrock", n, repeats=1 if sizes == "tiny" else 2)
           for lib in libs}}
    if sizes == "full":
        out["cold_compile_s"] = {
            "problem": "rosenbrock/10", "numhess": fresh.cold_compile("rosenbrock", 10)}
        lj = problems.make("lennard_jones", 1000)
        h_mb = lj.n ** 2 * 8 / 2 ** 20
        out["peak_memory_mb"] = {
            "problem": lj.key, **{lib: fresh.peak_memory(lib, lj.name, 1000) for lib in libs},
            "Hessian": h_mb, "target 2H+200": 2 * h_mb + 200}
        # the same process with next to no work: imports and loaded kernels, the floor
        out["floor_memory_mb"] = {
            "problem": "lennard_jones/99",
            **{lib: fresh.peak_memory(lib, lj.name, 99) for lib in libs}}
    return out


def versions(peer_names):
    mods = ["numpy", "numba", "scipy"] + sorted({P.PEERS[p][1] for p in peer_names})
    return {m: importlib.metadata.version(m) for m in mods}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", choices=list(problems.SIZES), default="small")
    ap.add_argument("--peers", help="comma-separated subset of: " + ",".join(P.GROUPS)
                    + " (default: all installed; 'none' for numhess alone)")
    ap.add_argument("--problems", help="comma-separated subset of: "
                    + ",".join(list(problems.BUILDERS) + ["sparse"]))
    ap.add_argument("--out", default=os.path.join(PERF, "results"))
    ap.add_argument("--budget", type=float, help="seconds of repeats per measurement")
    ap.add_argument("--no-fresh", action="store_true", help="skip the fresh-process measurements")
    ap.add_argument("--check-baseline", action="store_true")
    ap.add_argument("--baseline", default=os.path.join(PERF, "baseline.json"))
    ap.add_argument("--margin", type=float, default=1.5)
    ap.add_argument("--write-baseline", action="store_true",
                    help="write this run's ratios to --baseline")
    args = ap.parse_args(argv)

    wanted = None if args.peers is None else [
        s for s in args.peers.split(",") if s and s != "none"]
    peer_names, missing = P.select(wanted)
    if missing:
        log(f"not installed, skipped: {', '.join(missing)}")
    budget = args.budget or BUDGET[args.sizes]
    load_start = os.getloadavg()[0]

    t = time.perf_counter()
    for call in P.numhess(problems.make("rosenbrock", 10)).values():
        call()     # load the kernels (or compile them, if the cache is stale) before timing
    kernel_load = time.perf_counter() - t
    log(f"numhess kernels ready in {kernel_load:.2f} s")

    names = args.problems.split(",") if args.problems else None
    rows = []
    dense = [name for name in names if name != "sparse"] if names else None
    if dense != []:
        for p in problems.cases(args.sizes, dense):
            rows += run_case(p, peer_names, budget)
    sparse_rows = sparse.run(args.sizes, budget) if not names or "sparse" in names else []
    log("call overhead (f = x[0], n = 10) ...")
    overhead_s = overhead.measure_all(budget)
    fresh_results = {}
    if not args.no_fresh:
        try:
            fresh_results = run_fresh(args.sizes, peer_names)
        except Exception as e:
            traceback.print_exc()
            fresh_results = {"fresh_process": {"error": str(e)[:200]}}

    result = {"meta": {"sizes": args.sizes, "peers": peer_names, "budget_s": budget,
                       "kernel_load_s": kernel_load, "versions": versions(peer_names),
                       # the machine is shared: other processes' load is the main noise
                       "loadavg_start_end": [load_start, os.getloadavg()[0]],
                       "machine": {"cpus": os.cpu_count(), "numba_threads":
                                   numba.get_num_threads(), "platform": platform.platform()},
                       "date": datetime.datetime.now().isoformat(timespec="seconds")},
              "rows": rows, "sparse": sparse_rows, "overhead": overhead_s,
              "fresh": fresh_results}
    table = report.markdown(result)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.md"), "w") as fh:
        fh.write(table)
    with open(os.path.join(args.out, "results.json"), "w") as fh:
        json.dump(result, fh, indent=1)
    print(table)

    failures = report.failures(result)
    for line in failures:
        log("FAILED: " + line)
    status = 1 if failures else 0
    if args.write_baseline:
        report.write_baseline(args.baseline, result)
        log(f"baseline written to {args.baseline}")
    if args.check_baseline:
        with open(args.baseline) as fh:
            worse = report.regressions(result, json.load(fh), args.margin)
        if worse:
            log(f"{len(worse)} ratio(s) flagged; measuring them again ...")
            worse = confirmed(worse, args.margin, budget)
        for key, base, now in worse:
            log(f"REGRESSION: {key}: ratio {now:.3g}, baseline {base:.3g} (margin {args.margin}x)")
        if worse and not status:
            status = 3
        log(f"baseline check: {len(worse)} ratio(s) worse than baseline x {args.margin}")
    return status


if __name__ == "__main__":
    sys.exit(main())
