"""The service's isolation rules, with a stand-in transcriber (no model): a failure costs only its own request."""

import json

import numpy as np
import torch

from serving.api.requests import RawRequest
from serving.endpoint.service import TranscriptionService
from serving.results import Segment, Transcription
from serving.settings import load_settings
from tests.test_audio import wav_bytes


class ExplodingTranscriber:
    """Fails any batch holding a 2-second clip (a stand-in for a bug triggered by one request)."""

    def __init__(self, error: Exception) -> None:
        self.error = error
        self.calls: list[int] = []

    def transcribe(self, jobs):
        self.calls.append(len(jobs))
        if any(job.waveform.size == 32_000 for job in jobs):
            raise self.error
        return [_transcription(f"{job.waveform.size} samples", job.waveform.size / 16_000) for job in jobs]


def _transcription(text: str, duration: float) -> Transcription:
    segment = Segment(0.0, duration, " " + text, (), -0.1, 0.0, 1.0, 0.0)
    return Transcription("en", duration, (segment,))


def service_with(transcriber) -> TranscriptionService:
    return TranscriptionService(load_settings({}, {}), transcriber)


def audio(seconds: int) -> RawRequest:
    return RawRequest({"Content-Type": "audio/wav"}, wav_bytes(np.zeros(seconds * 16_000)))


def test_a_bug_in_the_model_fails_only_the_request_that_caused_it():
    transcriber = ExplodingTranscriber(RuntimeError("index out of range"))
    responses = service_with(transcriber).handle([audio(1), audio(2), audio(3)])
    assert [r.status for r in responses] == [200, 500, 200]
    assert json.loads(responses[0].body)["text"] == "16000 samples"
    assert json.loads(responses[2].body)["text"] == "48000 samples"
    assert transcriber.calls == [3, 1, 1, 1]  # the batch, then each request alone


def test_out_of_memory_is_507_for_the_request_that_needs_it():
    transcriber = ExplodingTranscriber(torch.OutOfMemoryError("CUDA out of memory"))
    responses = service_with(transcriber).handle([audio(2), audio(1)])
    assert [r.status for r in responses] == [507, 200]


def test_bad_requests_never_reach_the_model():
    transcriber = ExplodingTranscriber(RuntimeError("unused"))
    responses = service_with(transcriber).handle([RawRequest({"Content-Type": "audio/wav"}, b"junk" * 30), audio(1)])
    assert [r.status for r in responses] == [415, 200]
    assert transcriber.calls == [1]


def test_sync_mode_refuses_to_stream_naming_the_problem():
    transcriber = ExplodingTranscriber(RuntimeError("unused"))
    (response,) = service_with(transcriber).handle([RawRequest({"Content-Type": "audio/wav", "stream": "true"},
                                                               wav_bytes(np.zeros(16_000)))])
    assert response.status == 400
    assert "option.async_mode=true" in json.loads(response.body)["error"]["message"]
    assert transcriber.calls == []
