"""Warm per-call timing and numerical agreement, in this process."""
import gc
import statistics
import time

import numpy as np

RTOL = 1e-6          # max-norm relative disagreement that counts as a wrong answer
SLOW_CALL = 2.0      # a warm call this long is measured once: repeating it costs minutes
MAX_FIRST = 120.0    # a first call this long is the only one


def _once(call):
    t = time.perf_counter()
    out = call()
    return time.perf_counter() - t, out


def per_call(call, budget):
    """Median seconds per warm call, repeated for about `budget` seconds.

    The first call (tracing, compiling) is timed apart and left out. Fast calls run in
    batches of >= 1 ms so timer resolution and loop overhead vanish; slow ones run a few
    times, or once. Returns (median, first, number of samples, result of the first call);
    0 samples means the first call over MAX_FIRST is all there is.
    """
    first, out = _once(call)
    if first > MAX_FIRST:
        return first, first, 0, out
    t, _ = _once(call)
    if t > SLOW_CALL:
        return t, first, 1, out
    number = max(1, int(1e-3 / max(t, 1e-9)))
    samples = []
    enabled = gc.isenabled()
    gc.disable()        # as timeit: a collection landing in one sample is noise, not cost
    try:
        start = time.perf_counter()
        while len(samples) < 5 or (time.perf_counter() - start < budget and len(samples) < 2000):
            t0 = time.perf_counter()
            for _ in range(number):
                call()
            samples.append((time.perf_counter() - t0) / number)
            if samples[-1] * 5 > budget and len(samples) >= 3:
                break   # slow call: three samples are what the budget affords
    finally:
        if enabled:
            gc.enable()
    return statistics.median(samples), first, len(samples), out


def disagreement(ref, val):
    """Max-norm relative difference of val from ref (inf on a shape mismatch or non-finite)."""
    ref, val = np.asarray(ref, dtype=float), np.asarray(val, dtype=float)
    if val.size != ref.size:
        return float("inf")
    val = val.reshape(ref.shape)
    if not np.all(np.isfinite(val)):
        return float("inf")
    return float(np.max(np.abs(val - ref), initial=0.0) / max(np.max(np.abs(ref), initial=0.0),
                                                                 1e-300))
