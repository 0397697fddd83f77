"""The service boundary under test: the service as the handler builds it, with a stand-in for the model that checks
what reaches it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from serving.audio.pcm import MAX_PEAK
from serving.batching.scheduler import Scheduler, SchedulerOptions
from serving.constants import SAMPLE_RATE
from serving.endpoint.service import TranscriptionService
from serving.results import Transcription
from serving.settings import load_settings

SERVICE_OPTIONS = {"max_audio_seconds": "600"}


@dataclass(frozen=True)
class _CheckedSession:
    """A request the stand-in checked: no window to decode, a transcription of its duration."""

    duration: float
    done: bool = True

    def pending(self) -> list:
        return []

    def accept(self, task, outcome) -> None:
        raise AssertionError("a checked session has no windows")

    def result(self) -> Transcription:
        return Transcription("en", self.duration)

    def final_segments(self) -> list:
        return []


class WaveformCheckingRunner:
    """Stands in for the model at the service boundary (thousands of cases): every waveform that reaches it must be
    mono float32, finite and non-empty, else the request fails with a 500 and the property breaks."""

    capacity = 16

    def open(self, job) -> _CheckedSession:
        waveform = job.waveform
        if waveform.dtype != np.float32 or waveform.ndim != 1 or not waveform.size:
            raise AssertionError(f"bad waveform {waveform.dtype} {waveform.shape}")
        if not np.isfinite(waveform).all():
            raise AssertionError("non-finite samples reached the model")
        if np.abs(waveform).max() > MAX_PEAK:
            raise AssertionError("samples beyond full scale reached the model")
        return _CheckedSession(waveform.size / SAMPLE_RATE)

    def run(self, batch, sessions):
        raise AssertionError("a checked session has no windows")


def boundary_service(runner=None) -> TranscriptionService:
    """The service as the handler builds it (default sources: S3 and https input off), with a stand-in model."""
    settings = load_settings(SERVICE_OPTIONS, {})
    scheduler = Scheduler(runner or WaveformCheckingRunner(), SchedulerOptions(max_batch_wait_ms=0))
    return TranscriptionService(settings, scheduler)
