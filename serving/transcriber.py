"""The orchestrator: many requests' waveforms -> one transcript each, all windows batched on the model together.

Windows of every request are ordered by decode options and window index, so each request's first window (where its
language is detected) is encoded no later than the rest of it, and cut into GPU batches of ``max_batch_windows``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from serving.audio import duration_seconds
from serving.decoding import DecodeOptions, EngineOptions, WhisperDecoder
from serving.features import LogMel
from serving.loading import LoadedModel, input_device
from serving.params import TranscriptionParams
from serving.timing import StageTimer
from serving.windows import split_windows

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    waveform: np.ndarray
    params: TranscriptionParams


@dataclass(frozen=True)
class Transcription:
    text: str
    language: str
    duration: float


@dataclass(frozen=True)
class _Window:
    job: int
    index: int
    options: DecodeOptions


class Transcriber:
    def __init__(self, loaded: LoadedModel, options: EngineOptions) -> None:
        self.decoder = WhisperDecoder(loaded, options)
        self.log_mel = LogMel(loaded.processor.feature_extractor.mel_filters, input_device(loaded.model))
        self.max_batch_windows = options.capacity

    def transcribe(self, jobs: Sequence[Job]) -> list[Transcription]:
        started = time.perf_counter()
        timer = StageTimer()
        # 1. Cut every request's audio into 30 s windows.
        audio = [split_windows(job.waveform) for job in jobs]
        languages: list[str | None] = [job.params.language for job in jobs]
        texts: list[list[str]] = [[""] * len(windows) for windows in audio]
        # 2. Order all windows so that equal decode options sit together and first windows come first.
        order = sorted(_windows(jobs, audio), key=lambda w: (_sort_key(w.options), w.index, w.job))
        # 3. Features, encoder, language detection and generation, one GPU batch at a time.
        for start in range(0, len(order), self.max_batch_windows):
            batch = order[start : start + self.max_batch_windows]
            self._run_batch(batch, audio, languages, texts, timer)
        results = [
            Transcription(_join(parts), language or "", duration_seconds(job.waveform))
            for job, parts, language in zip(jobs, texts, languages)
        ]
        _log_timing(results, len(order), time.perf_counter() - started, timer)
        return results

    def _run_batch(self, batch, audio, languages, texts, timer: StageTimer) -> None:
        with timer("log-mel"):
            features = self.log_mel(np.stack([audio[w.job][w.index] for w in batch]))
        with timer("encode"):
            states = self.decoder.encode(features)
        with timer("detect"):
            self._detect(batch, states, languages)
        with timer("generate"):
            decoded = self.decoder.decode(states, [languages[w.job] for w in batch], [w.options for w in batch])
        for window, result in zip(batch, decoded):
            texts[window.job][window.index] = self.decoder.text(result.tokens)

    def _detect(self, batch, states: torch.Tensor, languages: list[str | None]) -> None:
        rows = [i for i, w in enumerate(batch) if w.index == 0 and languages[w.job] is None]
        if rows:
            for i, code in zip(rows, self.decoder.detect_languages(states[rows])):
                languages[batch[i].job] = code


def _windows(jobs: Sequence[Job], audio: Sequence[np.ndarray]) -> list[_Window]:
    return [
        _Window(j, i, DecodeOptions(job.params.task, job.params.prompt, job.params.temperature))
        for j, (job, windows) in enumerate(zip(jobs, audio))
        for i in range(len(windows))
    ]


def _sort_key(options: DecodeOptions) -> tuple:
    return (options.task, options.prompt or "", options.temperature)


def _join(parts: list[str]) -> str:
    return " ".join(part for part in parts if part)


def _log_timing(results: list[Transcription], windows: int, seconds: float, timer: StageTimer) -> None:
    audio_seconds = sum(r.duration for r in results)
    logger.info(
        "transcribed %d request(s), %d window(s), %.1f s of audio in %.2f s (RTFx %.1f): %s",
        len(results), windows, audio_seconds, seconds, audio_seconds / max(seconds, 1e-9), timer,
    )
