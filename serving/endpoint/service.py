"""The transcription service without DJL: a batch of raw requests in, one response per request out.

Each request is parsed, fetched (when it names an ``audio_url``) and decoded on its own, so a bad one becomes its
own error response; the good ones are transcribed together. If the model fails on a batch, each request is retried
alone so that one request cannot take the others down with it. Every request ends with one log line
(:mod:`serving.endpoint.request_log`).
"""

from __future__ import annotations

import importlib.util
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from serving.api.formats import render, render_error
from serving.api.requests import RawRequest, parse_request
from serving.audio.decode import AudioLimits, decode_audio, duration_seconds
from serving.batching.runner import Job, Transcriber, TranscriberOptions
from serving.endpoint.request_log import RequestRecord, log_request, safe_request_id
from serving.engine.decoding import EngineOptions
from serving.engine.loading import load_model
from serving.engine.placement import resolve_placement
from serving.errors import BadParameter, ConfigurationError, ErrorResponse, error_response
from serving.fetch.sources import AudioSources
from serving.longform.quality import Thresholds
from serving.longform.vad import find_model
from serving.results import Transcription
from serving.settings import Settings, load_settings
from serving.timing import StageTimer

logger = logging.getLogger(__name__)

# DJL sets requestId from x-request-id (on SageMaker, X-Amzn-SageMaker-Inference-Id) or a fresh UUID.
REQUEST_ID_HEADERS = ("requestId", "X-Amzn-SageMaker-Inference-Id", "X-Request-Id")
STREAM_NEEDS_ASYNC = (
    "parameter 'stream'=True needs the server's async mode (option.async_mode=true): in sync mode DJL answers a "
    "dynamic batch all at once and cannot stream; send stream=false or use an endpoint in async mode"
)


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes
    error: ErrorResponse | None = None  # what went wrong, for a status >= 300


@dataclass
class Exchange:
    """One request on its way through the service: its id and stage timings, its job once its audio is decoded,
    its response once it is answered. Sync and async mode share these steps."""

    request_id: str
    timer: StageTimer
    job: Job | None = None
    response: Response | None = None

    def log(self) -> None:
        audio_seconds = duration_seconds(self.job.waveform) if self.job is not None else None
        log_request(RequestRecord(self.request_id, self.response.status, audio_seconds, dict(self.timer.milliseconds)))


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
        """Sync mode: a DJL batch. Each request is prepared on its own, the good ones are transcribed together, each
        is rendered in its own format, and each ends with its log line, in the batch's order."""
        exchanges = [self.prepare(raw, streaming=False) for raw in requests]
        self._transcribe({i: exchange for i, exchange in enumerate(exchanges) if exchange.response is None})
        for exchange in exchanges:
            exchange.log()
        return [exchange.response for exchange in exchanges]

    # ---- the steps of one request -----------------------------------------------------------------------------

    def prepare(self, raw: RawRequest, streaming: bool) -> Exchange:
        """Parse, fetch and decode one request; a failure becomes its own error response. ``streaming``: whether
        this mode can answer ``stream=true`` (async mode only)."""
        exchange = Exchange(_request_id(raw), StageTimer())
        try:
            exchange.job = self._job(raw, exchange.timer, streaming)
        except Exception as exc:  # noqa: BLE001 - mapped to a status at the one boundary
            self.fail(exchange, exc)
        return exchange

    def answer(self, exchange: Exchange, result: Transcription) -> Response:
        """Render the transcription in the request's own format."""
        with exchange.timer("render"):
            rendered = render(result, exchange.job.params)
        exchange.response = Response(200, rendered.content_type, rendered.body)
        return exchange.response

    @staticmethod
    def fail(exchange: Exchange, exc: BaseException) -> Response:
        exchange.response = _error(exc, exchange.request_id)
        return exchange.response

    def _job(self, raw: RawRequest, timer: StageTimer, streaming: bool) -> Job:
        with timer("parse"):
            parsed = parse_request(raw)
            if parsed.params.stream and not streaming:
                raise BadParameter(STREAM_NEEDS_ASYNC)
        if not isinstance(parsed.audio, bytes):
            with timer("fetch"):
                audio = self.sources.audio_bytes(parsed.audio)
        else:
            audio = parsed.audio
        with timer("decode"):
            waveform = decode_audio(audio, self.limits)
        return Job(waveform, parsed.params)

    def _transcribe(self, exchanges: dict[int, Exchange]) -> None:
        if not exchanges:
            return
        jobs = {i: exchange.job for i, exchange in exchanges.items()}
        timers = {i: exchange.timer for i, exchange in exchanges.items()}
        started = time.perf_counter()
        try:
            results = self.transcriber.transcribe(list(jobs.values()))
        except Exception as exc:  # noqa: BLE001 - isolate: retry each request alone
            _share_time(time.perf_counter() - started, jobs, timers)
            if len(exchanges) == 1:
                (exchange,) = exchanges.values()
                self.fail(exchange, exc)
                return
            logger.warning("batch of %d failed (%s); retrying each request alone", len(exchanges), exc)
            for i, exchange in exchanges.items():
                self._transcribe({i: exchange})
            return
        _share_time(time.perf_counter() - started, jobs, timers)
        for exchange, result in zip(exchanges.values(), results):
            self.answer(exchange, result)


def _share_time(seconds: float, jobs: Mapping[int, Job], timers: Mapping[int, StageTimer] | Sequence[StageTimer]) -> None:
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


def _error(exc: BaseException, request_id: str) -> Response:
    error = error_response(exc, request_id)
    rendered = render_error(error.body())
    return Response(error.status, rendered.content_type, rendered.body, error)
