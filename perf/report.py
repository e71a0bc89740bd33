"""Results as a Markdown table and JSON, failures, and the comparison with the baseline."""
import json

from measure import RTOL


def fmt_time(s):
    if s is None:
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def _time(r):
    return fmt_time(r["time"]) + {0: "²", 1: "¹"}.get(r["samples"], "")


def _cell(r):
    if r["status"] == "skip":
        return f"skip: {r['note']}"
    if r["status"] == "error":
        return f"**ERROR** {r['note']}"
    text = _time(r) if r["ratio"] is None else f"{r['ratio']:.2f} ({_time(r)})"
    if r["status"] == "disagree":
        text = f"**DISAGREES {r['err']:.1e}** " + text
    return text


def _own(r):
    if r["status"] == "skip":
        return f"skip: {r['note']}"
    if r["status"] == "error":
        return f"**ERROR** {r['note']}"
    text = _time(r)
    if not r.get("self_check", 0) <= RTOL:
        text += f" **hvp≠H·v {r['self_check']:.1e}**"
    return text


FRESH_LABELS = {
    "first_hessian_s": "first Hessian, warm caches (s)",
    "cold_compile_s": "cold compile: hessian+hvp+grad, empty Numba cache (s)",
    "peak_memory_mb": "peak memory, one Hessian (MB)",
    "floor_memory_mb": "peak memory, imports and kernels: a 99-variable Hessian (MB)"}


def _fresh_table(fresh):
    cols = []
    for entry in fresh.values():
        cols += [k for k in entry if k != "problem" and k not in cols]
    lines = ["| fresh process | problem | " + " | ".join(cols) + " |",
             "|---|---|" + "---:|" * len(cols)]
    for what, entry in fresh.items():
        cells = [f"{entry[c]:.3g}" if isinstance(entry.get(c), float) else str(entry.get(c, ""))
                 for c in cols]
        lines.append(f"| {FRESH_LABELS.get(what, what)} | {entry.get('problem', '')} | "
                     + " | ".join(cells) + " |")
    return lines


def _overhead_table(result):
    """The fixed cost per call, and its share of the Rosenbrock n = 10 call when measured."""
    over = result["overhead"]
    rosen = {row["op"]: row["numhess"].get("time") for row in result["rows"]
             if row["problem"] == "rosenbrock" and row["n"] == 10}
    lines = ["| call overhead: f(x) = x[0], n = 10 | time | share of rosenbrock/10 |",
             "|---|---:|---:|"]
    for what, t in over.items():
        share = f"{t / rosen[what]:.0%}" if rosen.get(what) else ""
        lines.append(f"| {what} | {fmt_time(t)} | {share} |")
    return lines


def markdown(result):
    meta, peers = result["meta"], result["meta"]["peers"]
    lines = [f"numhess perf, sizes={meta['sizes']}, {meta['date']}, "
             + ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
             + f"; numhess kernels ready in {meta['kernel_load_s']:.2f} s; load average "
             + " → ".join(f"{x:.1f}" for x in meta["loadavg_start_end"]), "",
             "| problem | n | op | numhess | " + " | ".join(peers) + " |",
             "|---|---:|---|---:|" + "---:|" * len(peers)]
    for row in result["rows"]:
        cells = [_cell(row["peers"][p]) if p in row["peers"] else "" for p in peers]
        lines.append(f"| {row['problem']} | {row['n']} | {row['op']} | {_own(row['numhess'])} | "
                     + " | ".join(cells) + " |")
    lines += ["", "numhess: median warm time per call. Peer cells: ratio numhess time / peer "
              "time (the peer's own time); below 1 means numhess is faster. ¹ one warm call "
              "(slow); ² the first call only, tracing and compiling included (very slow)."]
    if result.get("sparse"):
        lines += [""] + _sparse_table(result["sparse"])
    if result.get("overhead"):
        lines += [""] + _overhead_table(result)
    if result.get("fresh"):
        lines += [""] + _fresh_table(result["fresh"])
    return "\n".join(lines) + "\n"


def _sparse_table(rows):
    lines = ["| sparse Hessian | n | numhess | f in NumPy | ratio (target) | first call | "
             "non-zeros | error |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        err = f"{r['err']:.1e}" + (" **DISAGREES**" if r["status"] == "disagree" else "")
        lines.append(f"| {r['problem']} | {r['n']} | {fmt_time(r['time'])} | "
                     f"{fmt_time(r['f_time'])} | {r['ratio']:.0f} (≤ {r['target']:.0f}) | "
                     f"{fmt_time(r['first'])} | {r['nnz']} | {err} |")
    return lines + ["", "ratio: warm hessian(f, sparse=True) time / f's time; first call: "
                    "trace, pattern, colouring and one Hessian."]


def failures(result):
    """Every crash and numerical disagreement, one line each."""
    out = []
    for row in result["rows"]:
        case = f"{row['problem']}/{row['n']} {row['op']}"
        nh = row["numhess"]
        if nh["status"] == "error":
            out.append(f"{case}: numhess {nh['note']}")
        elif not nh.get("self_check", 0) <= RTOL:
            out.append(f"{case}: numhess hvp differs from hessian @ v by {nh['self_check']:.1e}")
        for p, r in row["peers"].items():
            if r["status"] == "error":
                out.append(f"{case}: {p} {r['note']}")
            elif r["status"] == "disagree":
                out.append(f"{case}: {p} disagrees with numhess by {r['err']:.1e} "
                           f"(max-norm relative, tolerance {RTOL})")
    for r in result.get("sparse", []):
        if r["status"] == "disagree":
            out.append(f"sparse {r['problem']}/{r['n']}: differs from the analytic Hessian "
                       f"by {r['err']:.1e}")
    for what, entry in result.get("fresh", {}).items():
        if "error" in entry:
            out.append(f"{what}: {entry['error']}")
    return out


def ratios(result):
    """{"problem/n/op/peer": numhess/peer} for every agreeing pair, and the fresh-process
    measurements numhess/jax."""
    out = {f"{row['problem']}/{row['n']}/{row['op']}/{p}": r["ratio"]
           for row in result["rows"] for p, r in row["peers"].items()
           if r["status"] == "ok" and r["ratio"] is not None}
    for r in result.get("sparse", []):
        out[f"sparse/{r['problem']}/{r['n']}/f"] = r["ratio"]
    for what, entry in result.get("fresh", {}).items():
        if isinstance(entry.get("numhess"), float) and isinstance(entry.get("jax"), float):
            out[f"fresh/{what}/{entry['problem']}/jax"] = entry["numhess"] / entry["jax"]
    return out


def regressions(result, baseline, margin):
    """(key, baseline ratio, ratio) for each ratio worse than its baseline by > margin."""
    base = baseline["ratios"]
    return [(k, base[k], r) for k, r in sorted(ratios(result).items())
            if k in base and r > base[k] * margin]


def write_baseline(path, result):
    meta = {k: result["meta"][k] for k in ("sizes", "versions", "machine", "date")}
    with open(path, "w") as fh:
        json.dump({"meta": meta, "ratios": ratios(result)}, fh, indent=1, sort_keys=True)
        fh.write("\n")
