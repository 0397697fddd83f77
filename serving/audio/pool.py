"""Decoding off the model's path: a pool of worker processes that turn audio bytes into 16 kHz waveforms.

PyAV decodes with the GIL held for much of its work (each frame crosses into Python: ``_Runs.add`` and PyAV's own
frame objects), so a decode in a thread of the serving process takes the GIL from the model's thread for tens of
milliseconds per 30 s window (measured in ``benchmarks/host_cost.py``: threads vs processes). The pool decodes
compressed audio in processes instead; the serving process only hands over the bytes and receives the waveform (one
pickled array), and the thread that asks waits without the GIL. Plain WAV stays in the calling thread (see
:class:`AudioDecoder`).

``workers`` processes (``option.decode_workers``: ``auto`` is the CPU cores this process may use; 0 decodes in the
calling thread, as before the pool). Workers start with the pool (``spawn``: nothing of the serving process, its
threads or its accelerator, is inherited) and each is warmed by one import. A decode that kills its worker (a crash
inside FFmpeg on a hostile file) breaks the pool: it is replaced and the decode tried once more on the new one; a
second crash is that audio's fault (422). Errors raised by a decode (:class:`~serving.errors.RequestError` and its
statuses) cross the process boundary unchanged.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

import numpy as np

from serving.audio.decode import AudioLimits, decode_audio
from serving.audio.wav import parse_wav
from serving.errors import UndecodableAudio

logger = logging.getLogger(__name__)

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
                return executor.submit(decode_audio, data, self.options.limits).result()
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


def _warm() -> None:
    """Run in each worker once: the decoding modules are imported by the task's unpickling already; this only makes
    every worker start now."""
