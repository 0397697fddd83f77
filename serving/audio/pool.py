"""Decoding off the model's path: a pool of worker processes that turn compressed audio into 16 kHz waveforms.

PyAV releases the GIL inside FFmpeg's decoding calls, but every frame crosses into Python (PyAV's frame objects, the
per-frame bookkeeping of :mod:`~serving.audio.av_decoding`), so a decode in a thread of the serving process made the
model's thread wait for the GIL: up to 13 ms (mp3), 31 ms (aac) and 106 ms (opus) per 30 s window, against at most
a few ms through this pool (``benchmarks/host_cost.py``, docs/benchmarks.md). The serving process only hands over
the bytes and receives the waveform: pickled, or from about 4 minutes of audio up mapped from shared memory, so that
an hour is not held twice while it arrives; the thread that asks waits without the GIL. Plain WAV stays in the
calling thread (see :class:`AudioDecoder`).

``workers`` processes (``option.decode_workers``: ``auto`` is the CPU cores this process may use; 0 decodes in the
calling thread, as before the pool). Workers start with the pool (``spawn``: nothing of the serving process, its
threads or its accelerator, is inherited). A decode that kills its worker (a crash inside FFmpeg on a hostile file)
breaks the pool: it is replaced and the decode tried once more on the new one; a second crash is that audio's fault
(422). Errors raised by a decode (:class:`~serving.errors.RequestError` and its statuses) cross the process boundary
unchanged.
"""

from __future__ import annotations

import logging
import mmap
import multiprocessing
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import resource_tracker, shared_memory

import numpy as np

from serving.audio.decode import AudioLimits, decode_audio
from serving.audio.wav import parse_wav
from serving.errors import UndecodableAudio

logger = logging.getLogger(__name__)

SHARED_MEMORY_DIR = "/dev/shm"
SHARED_MIN_BYTES = 16 * 1024 * 1024  # waveforms from about 4 min of audio up come back through shared memory
SHARED_ROOM_FACTOR = 2
FLOAT32_BYTES = 4
START_METHOD = "spawn"  # a fork would copy the serving process's threads' locks and the accelerator's state
CRASHED = "the audio decoder crashed on this audio (twice, in a fresh worker the second time)"


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity, e.g. a container's cpuset), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity on this platform
        return max(1, os.cpu_count() or 1)


def pool_size(workers: int | str) -> int:
    """``option.decode_workers``: ``"auto"`` -> :func:`usable_cores`; a number as given (0: no pool)."""
    return usable_cores() if workers == "auto" else int(workers)


@dataclass(frozen=True)
class DecoderOptions:
    limits: AudioLimits
    workers: int  # processes; 0: decode in the calling thread


class AudioDecoder:
    """Thread-safe: :meth:`decode` from any thread. Compressed audio is decoded in a worker process; a plain WAV
    (read with numpy, a few vectorised calls per 30 s, the GIL released in them) in the calling thread, where its
    bytes need not be copied to a worker and its waveform back; with no workers, everything in the calling thread."""

    def __init__(self, options: DecoderOptions) -> None:
        self.options = options
        self._lock = threading.Lock()
        self._executor = self._start() if options.workers > 0 else None

    @property
    def workers(self) -> int:
        return self.options.workers

    def decode(self, data: bytes) -> np.ndarray:
        """``data`` -> 16 kHz mono float32, as :func:`~serving.audio.decode.decode_audio` gives it (same errors)."""
        for _attempt in range(2):  # a crash may be another decode's: once more on a fresh pool
            with self._lock:
                executor = self._executor
            if executor is None or parse_wav(data) is not None:  # no pool (or closed), or a plain WAV
                return decode_audio(data, self.options.limits)
            try:
                return received(self._submit(executor, data).result())
            except BrokenProcessPool:
                self._replace(executor)
        raise UndecodableAudio(CRASHED)

    def pids(self) -> list[int]:
        """The worker processes' ids (none without a pool); a worker starts when the pool does."""
        with self._lock:
            executor = self._executor
        return [] if executor is None else list(getattr(executor, "_processes", None) or {})

    def close(self) -> None:
        """Stop the workers (a decode in progress finishes first)."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def _submit(self, executor: ProcessPoolExecutor, data: bytes) -> Future:
        try:
            return executor.submit(decode_in_worker, data, self.options.limits)
        except BrokenProcessPool:
            raise
        except RuntimeError:  # the pool was closed since (shutting down): a request already admitted is decoded here
            done: Future = Future()
            done.set_result(decode_audio(data, self.options.limits))
            return done

    def _start(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context(START_METHOD)
        executor = ProcessPoolExecutor(self.options.workers, mp_context=context)
        for _ in range(self.options.workers):  # start and warm every worker now, not on the first requests
            executor.submit(_warm)
        return executor

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """A worker died and ``broken`` failed its decodes: a new pool for what follows (once, however many
        decodes saw it break)."""
        with self._lock:
            if self._executor is not broken:
                return
            logger.warning("an audio decoding worker died: starting a new pool of %d", self.options.workers)
            self._executor = self._start()
        broken.shutdown(wait=False, cancel_futures=True)


@dataclass(frozen=True)
class SharedWaveform:
    """A worker's waveform left in shared memory (``/dev/shm/<name>``) for the serving process to map."""

    name: str
    samples: int


def decode_in_worker(data: bytes, limits: AudioLimits) -> np.ndarray | SharedWaveform:
    """In a worker: decode, and hand a long waveform over through shared memory rather than a pickle (which the
    serving process would hold twice while it unpickles: 450 MB at the peak for an hour instead of 230 MB). A short
    one, or one that does not fit in ``/dev/shm`` with room to spare, is pickled."""
    waveform = decode_audio(data, limits)
    if waveform.nbytes < SHARED_MIN_BYTES or not _room_in_shared_memory(waveform.nbytes):
        return waveform
    shared = shared_memory.SharedMemory(create=True, size=waveform.nbytes)
    try:
        resource_tracker.unregister(shared._name, "shared_memory")  # noqa: SLF001 - the serving process unlinks it
        np.ndarray(waveform.shape, np.float32, buffer=shared.buf)[:] = waveform
        return SharedWaveform(shared.name, waveform.shape[0])
    finally:
        shared.close()


def received(result: np.ndarray | SharedWaveform) -> np.ndarray:
    """In the serving process: the waveform a worker returned; one left in shared memory is mapped (not copied) and
    its name removed at once, so that its memory goes when the array does."""
    if isinstance(result, np.ndarray):
        return result
    path = os.path.join(SHARED_MEMORY_DIR, result.name)
    descriptor = os.open(path, os.O_RDWR)
    try:
        mapped = mmap.mmap(descriptor, result.samples * FLOAT32_BYTES)
    finally:
        os.close(descriptor)
        os.unlink(path)
    return np.frombuffer(mapped, np.float32, result.samples)


def _room_in_shared_memory(size: int) -> bool:
    """Whether ``/dev/shm`` exists and has twice ``size`` free (writing past its room would kill the worker)."""
    try:
        stats = os.statvfs(SHARED_MEMORY_DIR)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize >= SHARED_ROOM_FACTOR * size


def _warm() -> None:
    """Run in each worker once: the decoding modules are imported by the task's unpickling already; this only makes
    every worker start now."""
