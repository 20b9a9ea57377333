"""The timer benchmarks share: the median of repeated calls."""

from __future__ import annotations

import statistics
import time


def median_time(fn, repeats):
    """Median wall-clock seconds of fn() over `repeats` calls."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)
