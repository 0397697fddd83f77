"""The transcription service without DJL: raw requests in, one response per request out, in both DJL modes.

Each request is parsed, fetched (when it names an ``audio_url``), admitted (its audio seconds reserved within
``option.max_audio_seconds_in_flight``: :mod:`serving.endpoint.admission`) and decoded on its own (compressed audio by
the pool of worker processes, :mod:`serving.audio.pool`, so that decoding never holds the GIL the model's thread
needs), so a bad one becomes its own error response and never reaches the model; the good ones go to the one
:class:`~serving.batching.scheduler.Scheduler`, which batches their windows with every other request's in flight and
answers each on its own. Sync mode (:meth:`TranscriptionService.handle`) submits a DJL dynamic batch together and
waits; async mode (:mod:`serving.endpoint.async_service`) awaits each request. Every request ends with one log line
(:mod:`serving.endpoint.request_log`) holding its stage timings.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from serving.api.formats import render, render_error
from serving.api.params import TranscriptionParams
from serving.api.requests import RawRequest, parse_request
from serving.audio.decode import AudioLimits, duration_seconds
from serving.audio.pool import AudioDecoder, DecoderOptions, pool_size
from serving.audio.probe import expected_seconds
from serving.batching.runner import Runner, RunnerOptions
from serving.batching.scheduler import Scheduler, SchedulerOptions
from serving.batching.sessions import Job, PlannerOptions
from serving.endpoint.admission import AdmissionOptions, AudioBudget, Reservation
from serving.endpoint.heap import trim_heap
from serving.endpoint.request_log import RequestRecord, log_request
from serving.engine.decoding import EngineOptions
from serving.engine.loading import load_model
from serving.engine.placement import resolve_placement
from serving.errors import BadParameter, ConfigurationError, ErrorResponse, Overloaded, ShuttingDown, error_response
from serving.fetch.sources import AudioSources
from serving.identity import RequestId
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
# After a request of at least this much audio is answered, freed heap memory is handed back to the OS: its decoding
# left many chunk-sized blocks in the allocator's arenas (measured in benchmarks/hour_memory.py).
TRIM_AFTER_SECONDS = 600.0


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes
    error: ErrorResponse | None = None  # what went wrong, for a status >= 300

    @property
    def headers(self) -> dict[str, str]:
        """HTTP headers besides Content-Type (``Retry-After`` on a 503 overloaded)."""
        return self.error.headers() if self.error is not None else {}


@dataclass(frozen=True)
class Arrival:
    """A request parsed and its audio bytes in hand, not decoded yet: the seconds it will hold once decoded
    (:func:`~serving.audio.probe.expected_seconds`) are what admission reserves."""

    params: TranscriptionParams
    audio: bytes
    seconds: float


@dataclass
class Exchange:
    """One request on its way through the service: its identity and stage timings, its room in the audio budget once
    admitted, its job once its audio is decoded, its response once it is answered. Sync and async mode share these
    steps; :meth:`finish` ends every request."""

    request: RequestId
    timer: StageTimer
    job: Job | None = None
    response: Response | None = None
    reservation: Reservation | None = None
    audio_seconds: float | None = None  # None until decoded
    result: Transcription | None = None

    def finish(self) -> None:
        """The request's log line; its audio and its room in the budget are let go (and, after a long request, the
        freed heap is handed back to the OS). Safe to call more than once."""
        if self.response is not None:
            language = self.result.language if self.result is not None else None
            probability = self.result.language_probability if self.result is not None else None
            log_request(RequestRecord(self.request, self.response.status, self.audio_seconds,
                                      dict(self.timer.milliseconds), language, probability))
        self.release()

    def release(self) -> None:
        """Let go of the audio and the room it held (also where the request was dropped without an answer)."""
        self.job = None
        if self.reservation is not None:
            reservation, self.reservation = self.reservation, None
            reservation.release()
            if reservation.seconds >= TRIM_AFTER_SECONDS:
                trim_heap()


class TranscriptionService:
    def __init__(self, settings: Settings, scheduler: Scheduler, sources: AudioSources | None = None,
                 decoder: AudioDecoder | None = None) -> None:
        """``decoder``: where audio is decoded; by default in each request's own thread (:meth:`start` gives the
        service its pool of ``option.decode_workers`` processes)."""
        self.settings = settings
        self.scheduler = scheduler
        self.limits = audio_limits(settings)
        self.sources = sources or AudioSources.from_settings(settings)
        self.budget = AudioBudget(admission_options(settings))
        self.decoder = decoder or AudioDecoder(DecoderOptions(self.limits, workers=0))

    @classmethod
    def start(cls, properties: Mapping[str, str], async_mode: bool) -> TranscriptionService:
        """Validate the options, load the model where the worker's ``device_id`` says, start the scheduler."""
        settings = load_settings(properties)
        sources = AudioSources.from_settings(settings)
        decoder = AudioDecoder(DecoderOptions(audio_limits(settings), pool_size(settings.decode_workers)))
        scheduler = start_scheduler(settings, properties.get("device_id"), properties.get("model_dir"), async_mode,
                                    budgets=True)
        return cls(settings, scheduler, sources, decoder)

    def close(self) -> None:
        """Take no new request; those in flight may finish within ``option.drain_timeout_seconds``, then get a 503;
        the decoding workers stop."""
        self.scheduler.close(self.settings.drain_timeout_seconds)
        self.decoder.close()

    def cancel(self, request_id: str) -> int:
        """Stop the work of the requests in flight with this id (their client has gone); how many were stopped."""
        return self.scheduler.cancel(request_id)

    def handle(self, requests: Sequence[RawRequest]) -> list[Response]:
        """Sync mode: a DJL batch. Each request is prepared on its own (one after the other: a request's reservation
        is corrected to its decoded length before the next is admitted), the good ones are submitted together and
        awaited, each is rendered in its own format, and each ends with its log line, in the batch's order."""
        exchanges = [self.prepare(raw, streaming=False) for raw in requests]
        ready = [exchange for exchange in exchanges if exchange.response is None]
        try:
            futures = self.scheduler.submit_all([e.job for e in ready], [e.timer for e in ready])
        except ShuttingDown as exc:  # each request gets the 503
            futures = [_failed(exc) for _ in ready]
        for exchange, future in zip(ready, futures):
            try:
                result = future.result()
            except Exception as exc:  # noqa: BLE001 - the request's own failure, mapped at the one boundary
                self.fail(exchange, exc)
            else:
                self.answer(exchange, result)
        for exchange in exchanges:
            exchange.finish()
        return [exchange.response for exchange in exchanges]

    # ---- the steps of one request -----------------------------------------------------------------------------

    def prepare(self, raw: RawRequest, streaming: bool) -> Exchange:
        """Sync mode: parse, fetch, admit and decode one request; a failure becomes its own error response.
        ``streaming``: whether this mode can answer ``stream=true`` (async mode only)."""
        exchange, arrival = self.admit(raw, streaming)
        if arrival is not None:
            self.decode(exchange, arrival)
        return exchange

    def admit(self, raw: RawRequest, streaming: bool) -> tuple[Exchange, Arrival | None]:
        """Sync mode: parse, fetch and admit one request (at once or a 503: nothing frees while a DJL batch waits);
        None (and the exchange's error response) where it fails."""
        exchange, arrival = self.receive(raw, streaming)
        if arrival is None:
            return exchange, None
        try:
            exchange.reservation = self.budget.try_reserve(arrival.seconds)
        except Overloaded as exc:
            self.fail(exchange, exc)
            return exchange, None
        return exchange, arrival

    def receive(self, raw: RawRequest, streaming: bool) -> tuple[Exchange, Arrival | None]:
        """Parse and fetch one request, and estimate its audio's seconds; None (and the exchange's error response)
        where it fails."""
        exchange = Exchange(_request_id(raw), StageTimer())
        try:
            return exchange, self._arrival(raw, exchange.timer, streaming)
        except Exception as exc:  # noqa: BLE001 - mapped to a status at the one boundary
            self.fail(exchange, exc)
            return exchange, None

    def decode(self, exchange: Exchange, arrival: Arrival) -> None:
        """Decode an admitted request's audio into its job (its reservation corrected to the decoded length); a
        failure becomes its own error response."""
        try:
            with exchange.timer("decode"):
                waveform = self.decoder.decode(arrival.audio)
        except Exception as exc:  # noqa: BLE001 - mapped to a status at the one boundary
            self.fail(exchange, exc)
            return
        exchange.audio_seconds = duration_seconds(waveform)
        if exchange.reservation is not None:
            exchange.reservation.resize(exchange.audio_seconds)
        exchange.job = Job(exchange.request, waveform, arrival.params)

    def answer(self, exchange: Exchange, result: Transcription) -> Response:
        """Render the transcription in the request's own format."""
        exchange.result = result
        with exchange.timer("render"):
            rendered = render(result, exchange.job.params)
        exchange.response = Response(200, rendered.content_type, rendered.body)
        return exchange.response

    @staticmethod
    def fail(exchange: Exchange, exc: BaseException) -> Response:
        exchange.response = _error(exc, exchange.request)
        return exchange.response

    def _arrival(self, raw: RawRequest, timer: StageTimer, streaming: bool) -> Arrival:
        with timer("parse"):
            parsed = parse_request(raw)
            if parsed.params.stream and not streaming:
                raise BadParameter(STREAM_NEEDS_ASYNC)
        if not isinstance(parsed.audio, bytes):
            with timer("fetch"):
                audio = self.sources.audio_bytes(parsed.audio)
        else:
            audio = parsed.audio
        return Arrival(parsed.params, audio, expected_seconds(audio, self.limits.max_seconds))


def start_scheduler(settings: Settings, device_id: str | None, model_dir: str | None = None,
                    async_mode: bool = False, budgets: bool = False) -> Scheduler:
    """Load the model where ``device_id`` says ("-1": the CPU) and start a scheduler on it (the service's, and the
    tools' and benchmarks' way to transcribe waveforms: ``start_scheduler(...).transcribe_all(jobs)``). ``budgets``:
    each request gets ``option.request_timeout_seconds`` (the service's; tools wait as long as transcription takes)."""
    placement = resolve_placement(settings, device_id)
    runner = Runner(load_model(settings, model_dir, placement), runner_options(settings))
    return Scheduler(runner, scheduler_options(settings, async_mode, budgets))


def audio_limits(settings: Settings) -> AudioLimits:
    return AudioLimits(settings.max_audio_bytes, settings.max_audio_seconds)


def runner_options(settings: Settings) -> RunnerOptions:
    engine = EngineOptions(
        capacity=settings.max_batch_windows,
        max_new_tokens=settings.max_new_tokens,
        cuda_graphs=settings.cuda_graphs,
        torch_compile=settings.torch_compile,
        compression_ratio=settings.compression_ratio_threshold,
        beam_rule=settings.beam_rule,
    )
    thresholds = Thresholds(
        settings.compression_ratio_threshold, settings.logprob_threshold, settings.no_speech_threshold
    )
    planner = PlannerOptions(settings.long_form, vad_model(settings), beam_size=settings.beam_size,
                             best_of=settings.best_of, max_beam_size=settings.max_batch_windows,
                             language_candidates=settings.language_candidates,
                             timestamps_in_every_format=settings.timestamps_in_every_format,
                             chunk_windows=settings.chunk_windows)
    return RunnerOptions(engine, thresholds, settings.chunk_overlap_seconds, planner, settings.log_mel_padding)


def admission_options(settings: Settings) -> AdmissionOptions:
    return AdmissionOptions(settings.max_audio_seconds_in_flight, settings.admission_wait_seconds,
                            settings.admission_retry_after_seconds)


def scheduler_options(settings: Settings, async_mode: bool, budgets: bool = True) -> SchedulerOptions:
    """In sync mode no other request can arrive while DJL waits for a batch's answers: batches never wait."""
    return SchedulerOptions(max_batch_wait_ms=settings.max_batch_wait_ms if async_mode else 0.0,
                            request_timeout_s=settings.request_timeout_seconds if budgets else None,
                            step_level=settings.scheduling == "steps")


def vad_model(settings: Settings) -> Path | None:
    """The Silero model file when VAD is on; a missing model or onnxruntime fails loading with the fix."""
    if settings.vad == "off":
        return None
    path = find_model(settings.vad_model)
    if path is None:
        raise ConfigurationError(
            "option.vad=silero needs silero_vad_v6.onnx: set option.vad_model to its path, package it with "
            "'whisper-lmi package' (serving/longform/assets/), or set option.vad=off"
        )
    if importlib.util.find_spec("onnxruntime") is None:
        raise ConfigurationError("option.vad=silero needs the onnxruntime package (requirements.txt) or option.vad=off")
    return path


def _failed(exc: BaseException) -> Future:
    future: Future = Future()
    future.set_exception(exc)
    return future


def _request_id(raw: RawRequest) -> RequestId:
    for header in REQUEST_ID_HEADERS:
        value = raw.header(header)
        if value:
            return RequestId.new(value)
    return RequestId.new(None)


def _error(exc: BaseException, request: RequestId) -> Response:
    error = error_response(exc, str(request))
    rendered = render_error(error.body())
    return Response(error.status, rendered.content_type, rendered.body, error)
