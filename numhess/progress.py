"""A progress bar for long Hessians and Jacobians: shown on a terminal when the optional
tqdm (the best-kept progress-bar library) is installed, never when output is redirected."""
import os
import sys

MIN_WORK = 200_000_000    # active slots x directions: about a second of sweeps


def bar(total, what):
    """A tqdm bar over `total` chunks, or None (not a terminal, tqdm absent, or disabled
    with NUMHESS_PROGRESS=0)."""
    if os.environ.get("NUMHESS_PROGRESS", "1") == "0" or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=f"numhess {what}", unit="chunk", leave=False)


def in_steps(run, starts, workers, work, what):
    """run(starts) at once, or step by step with a bar when the work is long."""
    b = bar(starts.size, what) if work >= MIN_WORK and starts.size > workers else None
    if b is None:
        run(starts)
        return
    step = 2 * workers
    try:
        for i in range(0, starts.size, step):
            run(starts[i:i + step])
            b.update(min(step, starts.size - i))
    finally:
        b.close()
