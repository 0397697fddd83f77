"""What decoding compressed audio costs the model's thread, and whether PyAV releases the GIL while it decodes.

Three measurements, each against a decoder busy decoding one 30 s window after another:

* **counter**: a pure-Python counting thread's rate while another thread decodes, as a share of its rate alone (1.0:
  the decode never held the GIL the counter wanted; 0.5 on two cores: it held it half the time).
* **threads vs processes**: the wall time of N windows decoded by W threads, and by a pool of W processes
  (:class:`~serving.audio.pool.AudioDecoder`); threads that held the GIL would not run in parallel.
* **model thread**: a stand-in for the scheduler's model thread (:class:`ModelThread`), which holds the GIL for a
  little Python work and then waits without it (as for an accelerator's kernels) over and over. The time each of
  its iterations takes beyond its median alone, summed over the decoding and divided by the windows decoded, is the
  host time a window's decoding takes from the model's thread. Measured with one decoder at a time (one thread
  beside it: today's path, ``asyncio.to_thread`` or DJL's request thread; or a pool of one process), so that on two
  cores the model's thread keeps a core of its own and what it loses is the GIL's doing, not a busy core's.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from scripts.material.audio_files import encode_audio
from serving.audio.decode import AudioLimits, decode_audio
from serving.audio.pool import AudioDecoder, DecoderOptions
from serving.constants import SAMPLE_RATE

HOLD_ITERATIONS = 2_000  # the model thread's Python work per iteration (~0.1 ms on this machine)
WAIT_S = 0.001  # ... and its wait without the GIL
MEASURE_S = 2.0  # each measurement runs at least this long


@dataclass(frozen=True)
class ThreadLoss:
    iterations: int
    windows: int
    lost_ms: float  # the model thread's iterations' time beyond their median alone, in total

    @property
    def per_window_ms(self) -> float:
        return self.lost_ms / max(1, self.windows)


class ModelThread:
    """Holds the GIL for :data:`HOLD_ITERATIONS` Python steps, waits :data:`WAIT_S` without it, again and again;
    records each iteration's duration."""

    def __init__(self) -> None:
        self.durations: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="model-stand-in", daemon=True)

    def __enter__(self) -> ModelThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            for _ in range(HOLD_ITERATIONS):
                pass
            time.sleep(WAIT_S)
            self.durations.append(time.perf_counter() - started)


def alone_iteration_s() -> float:
    """The model thread's median iteration with nothing else running in this process."""
    with ModelThread() as model:
        time.sleep(MEASURE_S / 2)
    return statistics.median(model.durations)


def model_thread_loss(decode: Callable[[], object], baseline_s: float, seconds: float = MEASURE_S) -> ThreadLoss:
    """Decode window after window with ``decode`` (from this thread: it blocks on a thread or a pool) for ``seconds``
    while the model thread runs; its time lost beyond ``baseline_s`` per iteration."""
    windows = 0
    with ModelThread() as model:
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            decode()
            windows += 1
    lost = sum(max(0.0, d - baseline_s) for d in model.durations)
    return ThreadLoss(len(model.durations), windows, lost * 1000)


def in_a_thread(data: bytes, limits: AudioLimits) -> Callable[[], object]:
    """Today's path: the decode runs in another thread of the serving process."""
    executor = ThreadPoolExecutor(1)
    return lambda: executor.submit(decode_audio, data, limits).result()


def counter_share(decode: Callable[[], object], seconds: float = MEASURE_S) -> float:
    """A counting thread's rate while ``decode`` runs window after window in this thread, over its rate alone."""
    alone = _count_rate(lambda: time.sleep(seconds / 2))
    end = time.perf_counter() + seconds

    def busy() -> None:
        while time.perf_counter() < end:
            decode()

    return _count_rate(busy) / alone


def _count_rate(work: Callable[[], None]) -> float:
    stop, counted = threading.Event(), []

    def count() -> None:
        n = 0
        while not stop.is_set():
            n += 1
        counted.append(n)

    counter = threading.Thread(target=count)
    started = time.perf_counter()
    counter.start()
    work()
    stop.set()
    counter.join()
    return counted[0] / (time.perf_counter() - started)


@dataclass(frozen=True)
class Parallelism:
    threads_s: float  # N windows by W threads
    processes_s: float  # ... by a pool of W processes

    @property
    def speedup(self) -> float:
        return self.threads_s / self.processes_s


def threads_vs_processes(data: bytes, limits: AudioLimits, windows: int, workers: int) -> Parallelism:
    with ThreadPoolExecutor(workers) as threads:
        threads_s = _timed(lambda: list(threads.map(lambda _: decode_audio(data, limits), range(windows))))
    pool = warmed_pool(limits, workers)
    try:
        with ThreadPoolExecutor(workers) as callers:
            processes_s = _timed(lambda: list(callers.map(lambda _: pool.decode(data), range(windows))))
    finally:
        pool.close()
    return Parallelism(threads_s, processes_s)


def warmed_pool(limits: AudioLimits, workers: int) -> AudioDecoder:
    """A pool whose workers have started and decoded once (the service starts its pool with the model)."""
    pool = AudioDecoder(DecoderOptions(limits, workers))
    tiny = encode_audio(np.zeros(SAMPLE_RATE // 10, np.float32), "flac")
    with ThreadPoolExecutor(workers) as callers:
        list(callers.map(lambda _: pool.decode(tiny), range(workers * 2)))
    return pool


def _timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started
