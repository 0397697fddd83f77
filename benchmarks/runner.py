"""Run one system over the scenarios: load, warm up once, then per scenario wall time, latencies, memory, WER.

Latency is from a request's arrival to its answer. One by one, each request arrives when the previous one is
answered. In a burst every request arrives at once: a batching system answers all of them at the end of its one
call, a serial one answers them in turn (queueing included), a threaded one as each thread finishes.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from benchmarks.memory import peak_memory
from benchmarks.systems import Dispatch, Runtime, Unavailable
from benchmarks.workload import Request, Scenario

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Measurement:
    system: str
    scenario: str
    requests: int
    audio_seconds: float
    wall_seconds: float
    latencies: tuple[float, ...]
    peak_mib: float
    wer: float | None  # None where the weights are random
    concurrent: bool  # the requests arrived at once

    @property
    def rtfx(self) -> float:
        """Real-time factor: audio seconds per processing second."""
        return self.audio_seconds / self.wall_seconds

    @property
    def p50(self) -> float:
        return float(np.percentile(self.latencies, 50))

    @property
    def p99(self) -> float:
        return float(np.percentile(self.latencies, 99))


@dataclass(frozen=True)
class SystemRun:
    name: str
    setup: str  # how it was configured, for the report
    load_seconds: float
    measurements: tuple[Measurement, ...] = ()
    not_run: str = ""  # the reason, when it could not run
    load_average: float = 0.0  # the machine's 1-minute load average when the system started (others' work)


def run_system(
    name: str,
    factory: Callable[[], object],
    scenarios: Sequence[Scenario],
    runtime: Runtime,
    warmup: Request,
    score: bool,
    setup: str = "",
) -> SystemRun:
    """Load with ``factory``, warm up once on ``warmup``, measure every scenario, close."""
    load_average = os.getloadavg()[0]
    started = time.perf_counter()
    try:
        system = factory()
    except Unavailable as exc:
        logger.warning("%s not run: %s", name, exc)
        return SystemRun(name, setup, 0.0, not_run=str(exc), load_average=load_average)
    load_seconds = time.perf_counter() - started
    try:
        system.transcribe([warmup.audio])
        runtime.synchronize()
        measurements = tuple(measure(system, scenario, runtime, score) for scenario in scenarios)
    finally:
        system.close()
    return SystemRun(name, setup, load_seconds, measurements, load_average=load_average)


def measure(system, scenario: Scenario, runtime: Runtime, score: bool) -> Measurement:
    logger.info("%s: %s (%.0f s of audio)", system.name, scenario.name, scenario.audio_seconds)
    with peak_memory(runtime.is_gpu) as peak:
        started = time.perf_counter()
        if scenario.concurrent:
            texts, latencies = burst(system, scenario.requests, runtime)
        else:
            texts, latencies = one_by_one(system, scenario.requests, runtime)
        wall = time.perf_counter() - started
    wer = _wer(scenario, texts) if score else None
    result = Measurement(
        system.name, scenario.name, len(texts), scenario.audio_seconds, wall, tuple(latencies), peak.mib, wer,
        scenario.concurrent,
    )
    logger.info("%s: %s: RTFx %.1f, p50 %.2f s", system.name, scenario.name, result.rtfx, result.p50)
    return result


def measure_median(system, scenario: Scenario, runtime: Runtime, repeats: int) -> Measurement:
    """One untimed run of ``scenario`` (this batch shape's warm-up), then ``repeats`` timed: the median by wall time."""
    measure(system, scenario, runtime, score=False)
    runs = [measure(system, scenario, runtime, score=False) for _ in range(repeats)]
    runs.sort(key=lambda m: m.wall_seconds)
    return runs[len(runs) // 2]


def _wer(scenario: Scenario, texts: Sequence[str]) -> float:
    from benchmarks.scoring import scenario_wer  # jiwer: needed only where the weights are real

    return scenario_wer(scenario.requests, texts)


def one_by_one(system, requests: Sequence[Request], runtime: Runtime) -> tuple[list[str], list[float]]:
    texts, latencies = [], []
    for request in requests:
        started = time.perf_counter()
        texts.extend(system.transcribe([request.audio]))
        runtime.synchronize()
        latencies.append(time.perf_counter() - started)
    return texts, latencies


def burst(system, requests: Sequence[Request], runtime: Runtime) -> tuple[list[str], list[float]]:
    audio = [request.audio for request in requests]
    started = time.perf_counter()
    if system.dispatch is Dispatch.BATCH:
        texts = system.transcribe(audio)
        runtime.synchronize()
        return texts, [time.perf_counter() - started] * len(texts)
    if system.dispatch is Dispatch.SERIAL:
        answers = [_timed(system, clip, runtime) for clip in audio]
    else:
        with ThreadPoolExecutor(max_workers=system.workers) as pool:
            answers = list(pool.map(lambda clip: _timed(system, clip, runtime), audio))
    return [text for text, _ in answers], [finished - started for _, finished in answers]


def _timed(system, audio: np.ndarray, runtime: Runtime) -> tuple[str, float]:
    (text,) = system.transcribe([audio])
    runtime.synchronize()
    return text, time.perf_counter()
