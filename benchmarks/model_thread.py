"""What decoding compressed audio costs the model's thread, and whether PyAV releases the GIL while it decodes.

Three measurements, each against a decoder busy decoding one 30 s window after another:

* **counter**: a pure-Python counting thread's rate while another thread decodes, as a share of its rate alone (1.0:
  the decode never held the GIL the counter wanted; 0.5 on two cores: it held it half the time).
* **threads vs processes**: the wall time of N windows decoded by W threads, and by a pool of W processes
  (:class:`~serving.audio.pool.AudioDecoder`); threads that held the GIL would not run in parallel.
* **model thread**: a stand-in for the scheduler's model thread (:class:`ModelThread`), which holds the GIL for a
  little Python work and then waits without it (as for an accelerator's kernels) over and over. The kernel's
  per-thread accounting (``schedstat``) splits its wall time into running, waiting for a busy core, and blocked;
  the time blocked beyond its own sleeps (measured alone) is time it waited for the GIL. Summed over the decoding
  and divided by the windows decoded, it is the host time a window's decoding takes from the model's thread. It
  does not count time lost to busy cores (other processes, the pool's workers): that depends on the host's cores,
  not on where the decode runs. Measured with one decoder at a time (one thread beside it: today's path,
  ``asyncio.to_thread`` or DJL's request thread; or a pool of one process).
"""

from __future__ import annotations

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

MEASURE_S = 2.0  # each measurement runs at least this long


@dataclass(frozen=True)
class Profile:
    """The model thread's stand-in: Python steps with the GIL held, then a wait without it, over and over. The
    default is the CPU model's thread (torch's operators release the GIL: little Python between long waits); a GPU's
    (kernels launched from Python, short waits) holds it far more often."""

    name: str = "CPU-like"
    hold_iterations: int = 2_000  # ~0.1 ms on this machine
    wait_s: float = 0.001


GPU_LIKE = Profile("GPU-like", hold_iterations=10_000, wait_s=0.0005)  # ~0.5 ms of Python per 0.5 ms wait


@dataclass(frozen=True)
class Schedule:
    """A thread's times from ``/proc/self/task/<tid>/schedstat``: on a CPU, and runnable but waiting for one (the
    cores were busy). What is left of its wall time it spent blocked: sleeping, or waiting for the GIL."""

    wall_s: float
    running_s: float
    queued_s: float

    @classmethod
    def now(cls, tid: int) -> Schedule:
        with open(f"/proc/self/task/{tid}/schedstat") as stats:
            running_ns, queued_ns, _ = (int(field) for field in stats.read().split())
        return cls(time.perf_counter(), running_ns / 1e9, queued_ns / 1e9)

    def __sub__(self, other: Schedule) -> Schedule:
        return Schedule(self.wall_s - other.wall_s, self.running_s - other.running_s, self.queued_s - other.queued_s)

    @property
    def blocked_s(self) -> float:
        return self.wall_s - self.running_s - self.queued_s


@dataclass(frozen=True)
class ThreadLoss:
    iterations: int
    windows: int
    lost_ms: float  # the model thread's time blocked beyond its sleeps (the GIL), in total

    @property
    def per_window_ms(self) -> float:
        return self.lost_ms / max(1, self.windows)


class ModelThread:
    """Holds the GIL for :data:`HOLD_ITERATIONS` Python steps, waits :data:`WAIT_S` without it, again and again;
    its :class:`Schedule` over the run tells the time it was blocked (asleep, or waiting for the GIL) apart from the
    time it ran or waited for a busy core."""

    def __init__(self, profile: Profile | None = None) -> None:
        self.profile = profile or Profile()
        self.iterations = 0
        self.schedule: Schedule | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="model-stand-in", daemon=True)

    def __enter__(self) -> ModelThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def blocked_per_iteration_s(self) -> float:
        return self.schedule.blocked_s / max(1, self.iterations)

    def _run(self) -> None:
        tid = threading.get_native_id()
        started = Schedule.now(tid)
        while not self._stop.is_set():
            for _ in range(self.profile.hold_iterations):
                pass
            time.sleep(self.profile.wait_s)
            self.iterations += 1
        self.schedule = Schedule.now(tid) - started


def alone_blocked_s(profile: Profile | None = None) -> float:
    """The model thread's time blocked per iteration with nothing else running in this process: its sleep and the
    timer's slack."""
    with ModelThread(profile) as model:
        time.sleep(MEASURE_S / 2)
    return model.blocked_per_iteration_s()


def model_thread_loss(decode: Callable[[], object], baseline_s: float, seconds: float = MEASURE_S,
                      profile: Profile | None = None) -> ThreadLoss:
    """Decode window after window with ``decode`` (from this thread: it blocks on a thread or a pool) for ``seconds``
    while the model thread runs; its time blocked beyond ``baseline_s`` per iteration (its sleep): the GIL's."""
    windows = 0
    with ModelThread(profile) as model:
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            decode()
            windows += 1
    lost = max(0.0, model.schedule.blocked_s - baseline_s * model.iterations)
    return ThreadLoss(model.iterations, windows, lost * 1000)


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
