"""The transcription service without DJL: a batch of raw requests in, one response per request out.

Each request is parsed and decoded on its own, so a bad one becomes its own error response; the good ones are
transcribed together. If the model fails on a batch, each request is retried alone so that one request cannot
take the others down with it.
"""

from __future__ import annotations

import importlib.util
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from serving.audio import AudioLimits, decode_audio, duration_seconds
from serving.decoding import EngineOptions
from serving.errors import ConfigurationError, error_response
from serving.formats import Rendered, render, render_error
from serving.loading import load_model
from serving.placement import resolve_placement
from serving.requests import RawRequest, parse_request
from serving.settings import Settings, load_settings
from serving.quality import Thresholds
from serving.transcriber import Job, Transcriber, TranscriberOptions
from serving.vad import find_model

logger = logging.getLogger(__name__)

# DJL sets requestId from x-request-id (on SageMaker, X-Amzn-SageMaker-Inference-Id) or a fresh UUID.
REQUEST_ID_HEADERS = ("requestId", "X-Amzn-SageMaker-Inference-Id", "X-Request-Id")


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes


class TranscriptionService:
    def __init__(self, settings: Settings, transcriber: Transcriber) -> None:
        self.settings = settings
        self.transcriber = transcriber
        self.limits = AudioLimits(settings.max_audio_bytes, settings.max_audio_seconds)

    @classmethod
    def start(cls, properties: Mapping[str, str]) -> "TranscriptionService":
        """Validate the options, then load the model where the worker's ``device_id`` says."""
        settings = load_settings(properties)
        options = transcriber_options(settings)
        placement = resolve_placement(settings, properties.get("device_id"))
        loaded = load_model(settings, properties.get("model_dir"), placement)
        return cls(settings, Transcriber(loaded, options))

    def handle(self, requests: Sequence[RawRequest]) -> list[Response]:
        ids = [_request_id(raw) for raw in requests]
        responses: list[Response | None] = [None] * len(requests)
        # 1. Parse and decode each request on its own; a failure answers that request only.
        jobs: dict[int, Job] = {}
        for i, raw in enumerate(requests):
            try:
                jobs[i] = self._prepare(raw, ids[i])
            except Exception as exc:  # noqa: BLE001 - mapped to a status at the one boundary
                responses[i] = _error(exc, ids[i])
        # 2. Transcribe the good ones together, 3. render each in its own format.
        for i, outcome in self._transcribe(jobs, ids).items():
            responses[i] = outcome
        return [response for response in responses if response is not None]

    def _prepare(self, raw: RawRequest, request_id: str) -> Job:
        started = time.perf_counter()
        parsed = parse_request(raw)
        waveform = decode_audio(parsed.audio, self.limits)
        logger.info(
            "request %s: %d bytes decoded to %.2f s of audio in %.1f ms",
            request_id, len(parsed.audio), duration_seconds(waveform), (time.perf_counter() - started) * 1000,
        )
        return Job(waveform, parsed.params)

    def _transcribe(self, jobs: dict[int, Job], ids: list[str]) -> dict[int, Response]:
        if not jobs:
            return {}
        try:
            results = self.transcriber.transcribe(list(jobs.values()))
        except Exception as exc:  # noqa: BLE001 - isolate: retry each request alone
            if len(jobs) == 1:
                (i,) = jobs
                return {i: _error(exc, ids[i])}
            logger.warning("batch of %d failed (%s); retrying each request alone", len(jobs), exc)
            return {i: self._transcribe({i: job}, ids)[i] for i, job in jobs.items()}
        return {i: _ok(render(result, job.params)) for (i, job), result in zip(jobs.items(), results)}


def transcriber_options(settings: Settings) -> TranscriberOptions:
    engine = EngineOptions(
        capacity=settings.max_batch_windows,
        max_new_tokens=settings.max_new_tokens,
        cuda_graphs=settings.cuda_graphs,
        torch_compile=settings.torch_compile,
    )
    thresholds = Thresholds(
        settings.compression_ratio_threshold, settings.logprob_threshold, settings.no_speech_threshold
    )
    return TranscriberOptions(
        engine, thresholds, settings.long_form, settings.chunk_overlap_seconds, vad_model(settings)
    )


def vad_model(settings: Settings) -> Path | None:
    """The Silero model file when VAD is on; a missing model or onnxruntime fails loading with the fix."""
    if settings.vad == "off":
        return None
    path = find_model(settings.vad_model)
    if path is None:
        raise ConfigurationError(
            "option.vad=silero needs silero_vad_v6.onnx: set option.vad_model to its path, package it with "
            "'whisper-lmi package' (serving/assets/), or set option.vad=off"
        )
    if importlib.util.find_spec("onnxruntime") is None:
        raise ConfigurationError("option.vad=silero needs the onnxruntime package (requirements.txt) or option.vad=off")
    return path


def _request_id(raw: RawRequest) -> str:
    for header in REQUEST_ID_HEADERS:
        value = raw.header(header)
        if value:
            return value
    return uuid.uuid4().hex[:12]


def _ok(rendered: Rendered) -> Response:
    return Response(200, rendered.content_type, rendered.body)


def _error(exc: BaseException, request_id: str) -> Response:
    error = error_response(exc, request_id)
    rendered = render_error(error.body())
    return Response(error.status, rendered.content_type, rendered.body)
