"""Two callables timed in turns in one process (a baseline and ours), so that a machine's drift reaches both alike."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_ms_in_turns(baseline: Callable[[], object], ours: Callable[[], object], repeats: int,
                       warmups: int = 1) -> tuple[float, float]:
    """The median milliseconds of each over ``repeats`` runs, run alternately after ``warmups`` runs of each."""
    times: tuple[list[float], list[float]] = ([], [])
    for run in range(warmups + repeats):
        for kept, call in zip(times, (baseline, ours)):
            started = time.perf_counter()
            call()
            if run >= warmups:
                kept.append((time.perf_counter() - started) * 1000)
    return statistics.median(times[0]), statistics.median(times[1])
