"""Small timing helpers for the demo and `check`: medians within a time budget."""
import time

import numpy as np


def once(fn, *args):
    """(result, seconds) of one call."""
    t = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t


def median_time(fn, *args, budget=0.3, min_repeat=3, max_repeat=50):
    """Median seconds per call of a warm fn (one untimed call first), repeating until
    `budget` seconds are spent or max_repeat calls are made."""
    fn(*args)
    times, spent = [], 0.0
    while len(times) < min_repeat or (spent < budget and len(times) < max_repeat):
        _, t = once(fn, *args)
        times.append(t)
        spent += t
    return float(np.median(times))


def fmt(seconds):
    """1.23 s, 45.6 ms, 789 µs."""
    if seconds is None or not np.isfinite(seconds):
        return "—"
    if seconds >= 1.0:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"
