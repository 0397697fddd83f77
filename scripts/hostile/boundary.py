"""The service boundary under test: the service as the handler builds it, with a stand-in for the model that checks
what reaches it."""

from __future__ import annotations

import numpy as np

from serving.constants import SAMPLE_RATE
from serving.endpoint.service import TranscriptionService
from serving.results import Transcription
from serving.settings import load_settings

SERVICE_OPTIONS = {"max_audio_seconds": "600"}


class WaveformCheckingTranscriber:
    """Stands in for the model at the service boundary (thousands of cases): every waveform that reaches it must be
    mono float32, finite and non-empty, else the request fails with a 500 and the property breaks."""

    def transcribe(self, jobs) -> list[Transcription]:
        for job in jobs:
            waveform = job.waveform
            if waveform.dtype != np.float32 or waveform.ndim != 1 or not waveform.size:
                raise AssertionError(f"bad waveform {waveform.dtype} {waveform.shape}")
            if not np.isfinite(waveform).all():
                raise AssertionError("non-finite samples reached the model")
        return [Transcription("en", job.waveform.size / SAMPLE_RATE) for job in jobs]


def boundary_service(transcriber=None) -> TranscriptionService:
    """The service as the handler builds it (default sources: S3 and https input off), with a stand-in model."""
    settings = load_settings(SERVICE_OPTIONS, {})
    return TranscriptionService(settings, transcriber or WaveformCheckingTranscriber())
