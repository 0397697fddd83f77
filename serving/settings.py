"""Serving options: one typed, validated model built from the first (empty) DJL Input's properties.

DJL strips the ``option.`` prefix from serving.properties before the handler sees them. Outside the container the
same options may come from ``OPTION_<NAME>`` environment variables, as in LMI; serving.properties wins.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from serving.constants import DEFAULT_BEST_OF, MAX_BEAM_SIZE, MAX_BEST_OF
from serving.errors import BadParameter, ConfigurationError
from serving.languages import language_list

logger = logging.getLogger(__name__)

DEFAULT_MODEL_ID = "openai/whisper-large-v3-turbo"
MIB = 1024 * 1024
MAX_DECODE_WORKERS = 256
# Time budgets. SageMaker real-time inference gives an invocation 60 s; a request still running then is lost to the
# client (SageMaker answers it with an error of its own) while it keeps the model busy. The default budget ends it
# first, leaving time to send the answer. Asynchronous inference allows up to 3600 s per invocation
# (InvocationTimeoutSeconds): the most a budget may be.
REALTIME_INVOCATION_LIMIT_S = 60.0
ANSWER_MARGIN_S = 5.0
ASYNC_INFERENCE_LIMIT_S = 3600.0
DEFAULT_REQUEST_TIMEOUT_S = REALTIME_INVOCATION_LIMIT_S - ANSWER_MARGIN_S
DEFAULT_DRAIN_TIMEOUT_S = 25.0  # on SIGTERM: finish what is in flight for this long, then answer the rest with 503
MAX_DRAIN_TIMEOUT_S = 600.0
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")  # an S3 bucket name (s3_allowed_buckets, audio_url)

# Keys DJL, LMI or SageMaker put on the first Input that are not ours: accepted and ignored.
FOREIGN_KEYS = frozenset(
    {
        "engine", "entryPoint", "entrypoint", "rolling_batch", "async_mode", "batch_size", "max_batch_delay",
        "batchifier", "model_dir", "device_id", "model_loading_timeout", "predict_timeout", "job_queue_size",
        "max_idle_time", "minWorkers", "maxWorkers", "parallel_loading", "trust_remote_code", "revision",
        "task", "mpi_mode", "load_on_devices", "required_memory_mb", "reserved_memory_mb", "translator",
        "model_name", "handler", "cluster_size", "pipeline_parallel_degree", "max_rolling_batch_size",
        "max_dynamic_batch_size", "gpu.minWorkers", "gpu.maxWorkers", "cpu.minWorkers", "cpu.maxWorkers", "enable_streaming",
    }
)


class Settings(BaseModel):
    """Every option of ours, with its default. Values arrive as strings and are coerced and checked here."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    model_id: str = Field(DEFAULT_MODEL_ID, min_length=1)
    dtype: Literal["auto", "fp16", "bf16", "fp32"] = "auto"
    tensor_parallel_degree: int | Literal["max"] = 1
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] = "sdpa"
    max_batch_windows: int = Field(16, ge=1, le=1024)
    # Async mode: how long the oldest waiting window may wait for others before a batch under max_batch_windows
    # is launched anyway.
    max_batch_wait_ms: float = Field(10.0, ge=0, le=10_000)
    # "steps": windows join the decoder's running batch between decoding steps and leave when they end; "batches":
    # a batch of windows runs to its longest window's end before the next starts (serving/batching/scheduler.py).
    scheduling: Literal["steps", "batches"] = "steps"
    max_audio_bytes: int = Field(64 * MIB, ge=1)
    max_audio_seconds: float = Field(3600.0, gt=0, le=24 * 3600)
    max_new_tokens: int = Field(440, ge=1, le=448)
    # Compressed audio is decoded by this many worker processes (serving/audio/pool.py), off the model's thread;
    # "auto": the CPU cores the server may use; 0: in the request's own thread, as plain WAV always is.
    decode_workers: int | Literal["auto"] = "auto"
    # Admission (serving/endpoint/admission.py): the decoded audio held across the requests in flight, in seconds
    # (16 kHz float32: 64 KB a second, 230 MB an hour; at least max_audio_seconds, so that any request fits alone);
    # beyond it a request waits (async mode) at most admission_wait_seconds, then gets a 503 with Retry-After.
    max_audio_seconds_in_flight: float = Field(4 * 3600.0, gt=0, le=1000 * 3600)
    admission_wait_seconds: float = Field(10.0, ge=0, le=3600)
    admission_retry_after_seconds: int = Field(10, ge=1, le=3600)
    beam_size: int = Field(1, ge=1, le=MAX_BEAM_SIZE)  # for requests that name none (1: greedy)
    # Which end-of-text candidates finish a beam hypothesis: CTranslate2's (faster-whisper's tokens exactly; 2.97 %
    # WER against openai's 3.14 % and greedy's 3.84 % on the 92 long-form sentence clips, beam 5) or openai/whisper's
    beam_rule: Literal["openai", "ctranslate2"] = "ctranslate2"
    best_of: int = Field(DEFAULT_BEST_OF, ge=1, le=MAX_BEST_OF)  # samples per window above temperature 0, for requests naming none
    cuda_graphs: bool = True
    torch_compile: bool = False
    long_form: Literal["chunked", "sequential"] = "chunked"
    # The log-mel of a window shorter than 30 s: "features" zeroes the frames past the audio (faster-whisper,
    # openai's transcribe()), "audio" keeps the log-mel of the zero padding (transformers); docs/accuracy.md.
    log_mel_padding: Literal["audio", "features"] = "features"
    # Short audio in json and text: decoded with timestamp tokens like the timed formats (true: one transcript
    # whatever the format, as faster-whisper and openai/whisper decode by default) or as plain text (false).
    timestamps_in_every_format: bool = True
    chunk_overlap_seconds: float = Field(6.0, ge=1.0, le=14.0)
    # Chunked windows: "speech" ends each at a pause the VAD found and overlaps the next (by chunk_overlap_seconds)
    # only where speech runs across its edge; "fixed" overlaps every window with the next (docs/longform.md).
    chunk_windows: Literal["speech", "fixed"] = "speech"
    compression_ratio_threshold: float = Field(2.4, gt=1.0)
    logprob_threshold: float = Field(-1.0, le=0.0)
    no_speech_threshold: float = Field(0.6, ge=0.0, le=1.0)
    # Language detection chooses among these (comma-separated codes or names) unless a request names its own;
    # empty: every language of the model. A language the model lacks fails loading.
    language_candidates: tuple[str, ...] = ()
    vad: Literal["silero", "off"] = "silero"
    vad_model: str | None = None  # path of silero_vad_v6.onnx; default: serving/longform/assets/, else faster-whisper's copy
    # audio_url input: S3 buckets the endpoint's role may read for clients (none: S3 input off), https on/off,
    # and the time one fetch may take.
    s3_allowed_buckets: tuple[str, ...] = ()
    https_input: bool = False
    fetch_timeout_seconds: float = Field(30.0, gt=0, le=600)
    # The most one request may take from its arrival at the scheduler (after parsing and decoding) to its answer;
    # over it, its work stops and it gets a 504 naming this option. Raise it (up to 3600) behind SageMaker
    # asynchronous inference.
    request_timeout_seconds: float = Field(DEFAULT_REQUEST_TIMEOUT_S, gt=0, le=ASYNC_INFERENCE_LIMIT_S)
    # On shutdown (SIGTERM): how long requests in flight may still finish; then they get a 503.
    drain_timeout_seconds: float = Field(DEFAULT_DRAIN_TIMEOUT_S, ge=0, le=MAX_DRAIN_TIMEOUT_S)

    @model_validator(mode="after")
    def _admission_fits_a_request(self) -> Settings:
        if self.max_audio_seconds_in_flight < self.max_audio_seconds:
            raise ValueError(
                f"max_audio_seconds_in_flight ({self.max_audio_seconds_in_flight:g}) must be at least "
                f"max_audio_seconds ({self.max_audio_seconds:g}): a request of the longest audio must fit alone"
            )
        return self

    @field_validator("decode_workers", mode="before")
    @classmethod
    def _workers(cls, value: object) -> object:
        workers = _word_or_int(value, "auto")
        if workers == "auto":
            return workers
        if not 0 <= workers <= MAX_DECODE_WORKERS:
            raise ValueError(f"must be 'auto' or a number of processes from 0 to {MAX_DECODE_WORKERS}")
        return workers

    @field_validator("tensor_parallel_degree", mode="before")
    @classmethod
    def _degree(cls, value: object) -> object:
        degree = _word_or_int(value, "max")
        if degree == "max":
            return degree
        if degree < 1:
            raise ValueError("must be a positive integer or 'max'")
        return degree

    @model_validator(mode="after")
    def _beams_fit_a_batch(self) -> Settings:
        if self.beam_size > self.max_batch_windows:
            raise ValueError(f"beam_size={self.beam_size} exceeds max_batch_windows={self.max_batch_windows} (a "
                             "window's beams are rows of one decoder batch)")
        return self

    @field_validator("language_candidates", mode="before")
    @classmethod
    def _languages(cls, value: object) -> object:
        try:
            return language_list(value)
        except BadParameter as exc:
            raise ValueError(str(exc)) from None

    @field_validator("s3_allowed_buckets", mode="before")
    @classmethod
    def _buckets(cls, value: object) -> object:
        """A comma-separated list of bucket names (``a,b``); names only, no ``s3://`` or prefixes."""
        if not isinstance(value, str):
            return value
        names = tuple(name.strip() for name in value.split(",") if name.strip())
        wrong = [name for name in names if not BUCKET_NAME.fullmatch(name)]
        if wrong:
            raise ValueError(f"not S3 bucket names: {', '.join(wrong)} (write bucket names, comma-separated)")
        return names


def options_from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """``OPTION_MAX_BATCH_WINDOWS=8`` -> ``{"max_batch_windows": "8"}``."""
    prefix = "OPTION_"
    return {key[len(prefix):].lower(): value for key, value in environ.items() if key.startswith(prefix)}


def load_settings(properties: Mapping[str, str], environ: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from the first Input's properties over ``OPTION_*`` variables; bad values name the key."""
    merged = {**options_from_environment(os.environ if environ is None else environ), **properties}
    _warn_unknown(merged)
    try:
        return Settings(**{key: value for key, value in merged.items() if key in Settings.model_fields})
    except ValidationError as exc:
        raise ConfigurationError(_describe(exc)) from None


def _warn_unknown(options: Mapping[str, str]) -> None:
    unknown = sorted(set(options) - set(Settings.model_fields) - FOREIGN_KEYS)
    if unknown:
        logger.warning("ignoring options that whisper-lmi does not know: %s", ", ".join(unknown))


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"] if isinstance(part, str))
        if not key:  # a rule across options (a model validator): its message names them
            problems.append(error["msg"].removeprefix("Value error, "))
            continue
        accepted = "" if "Input should be" in error["msg"] else _accepted_values(key)
        problems.append(f"option.{key}={error.get('input')!r}: {error['msg']}{accepted}")
    return "invalid serving option(s): " + "; ".join(problems)


def _accepted_values(key: str) -> str:
    field = Settings.model_fields.get(key)
    if field is None:
        return ""
    annotation = str(field.annotation).replace("typing.", "")
    return f" (accepted: {annotation})"


def _word_or_int(value: object, word: str) -> str | int:
    """``word`` (any case, spaces around), else the value as an integer (a non-number raises ValueError, reported
    with the option's key)."""
    if isinstance(value, str) and value.strip().lower() == word:
        return word
    return int(value)
