"""The transcription service without DJL: a batch of raw requests in, one response per request out.

Each request is parsed, fetched (when it names an ``audio_url``) and decoded on its own, so a bad one becomes its
own error response; the good ones are transcribed together. If the model fails on a batch, each request is retried
alone so that one request cannot take the others down with it. Every request ends with one log line
(:mod:`serving.request_log`).
"""

from __future__ import annotations

import importlib.util
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from serving.audio import AudioLimits, decode_audio, duration_seconds
from serving.decoding import EngineOptions
from serving.errors import ConfigurationError, error_response
from serving.formats import Rendered, render, render_error
from serving.loading import load_model
from serving.placement import resolve_placement
from serving.request_log import RequestRecord, log_request, safe_request_id
from serving.requests import RawRequest, parse_request
from serving.settings import Settings, load_settings
from serving.quality import Thresholds
from serving.sources import AudioSources
from serving.timing import StageTimer
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
    def __init__(self, settings: Settings, transcriber: Transcriber, sources: AudioSources | None = None) -> None:
        self.settings = settings
        self.transcriber = transcriber
        self.limits = AudioLimits(settings.max_audio_bytes, settings.max_audio_seconds)
        self.sources = sources or AudioSources.from_settings(settings)

    @classmethod
    def start(cls, properties: Mapping[str, str]) -> "TranscriptionService":
        """Validate the options, then load the model where the worker's ``device_id`` says."""
        settings = load_settings(properties)
        options = transcriber_options(settings)
        sources = AudioSources.from_settings(settings)
        placement = resolve_placement(settings, properties.get("device_id"))
        loaded = load_model(settings, properties.get("model_dir"), placement)
        return cls(settings, Transcriber(loaded, options), sources)

    def handle(self, requests: Sequence[RawRequest]) -> list[Response]:
        ids = [_request_id(raw) for raw in requests]
        timers = [StageTimer() for _ in requests]
        responses: list[Response | None] = [None] * len(requests)
        # 1. Parse, fetch and decode each request on its own; a failure answers that request only.
        jobs: dict[int, Job] = {}
        for i, raw in enumerate(requests):
            try:
                jobs[i] = self._prepare(raw, timers[i])
            except Exception as exc:  # noqa: BLE001 - mapped to a status at the one boundary
                responses[i] = _error(exc, ids[i])
        # 2. Transcribe the good ones together, 3. render each in its own format.
        for i, outcome in self._transcribe(jobs, ids, timers).items():
            responses[i] = outcome
        for i, response in enumerate(responses):
            if response is not None:
                audio_seconds = duration_seconds(jobs[i].waveform) if i in jobs else None
                log_request(RequestRecord(ids[i], response.status, audio_seconds, dict(timers[i].milliseconds)))
        return [response for response in responses if response is not None]

    def _prepare(self, raw: RawRequest, timer: StageTimer) -> Job:
        with timer("parse"):
            parsed = parse_request(raw)
        if not isinstance(parsed.audio, bytes):
            with timer("fetch"):
                audio = self.sources.audio_bytes(parsed.audio)
        else:
            audio = parsed.audio
        with timer("decode"):
            waveform = decode_audio(audio, self.limits)
        return Job(waveform, parsed.params)

    def _transcribe(self, jobs: dict[int, Job], ids: list[str], timers: list[StageTimer]) -> dict[int, Response]:
        if not jobs:
            return {}
        started = time.perf_counter()
        try:
            results = self.transcriber.transcribe(list(jobs.values()))
        except Exception as exc:  # noqa: BLE001 - isolate: retry each request alone
            _share_time(time.perf_counter() - started, jobs, timers)
            if len(jobs) == 1:
                (i,) = jobs
                return {i: _error(exc, ids[i])}
            logger.warning("batch of %d failed (%s); retrying each request alone", len(jobs), exc)
            return {i: self._transcribe({i: job}, ids, timers)[i] for i, job in jobs.items()}
        _share_time(time.perf_counter() - started, jobs, timers)
        outcomes = {}
        for (i, job), result in zip(jobs.items(), results):
            with timers[i]("render"):
                outcomes[i] = _ok(render(result, job.params))
        return outcomes


def _share_time(seconds: float, jobs: dict[int, Job], timers: list[StageTimer]) -> None:
    """Each request's share of a batch's model time, in proportion to its audio."""
    durations = {i: duration_seconds(job.waveform) for i, job in jobs.items()}
    total = sum(durations.values()) or 1.0
    for i, duration in durations.items():
        timers[i].add("transcribe", seconds * 1000 * duration / total)


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
            return safe_request_id(value)
    return safe_request_id(None)


def _ok(rendered: Rendered) -> Response:
    return Response(200, rendered.content_type, rendered.body)


def _error(exc: BaseException, request_id: str) -> Response:
    error = error_response(exc, request_id)
    rendered = render_error(error.body())
    return Response(error.status, rendered.content_type, rendered.body)
