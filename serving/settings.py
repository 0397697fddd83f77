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

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from serving.errors import BadParameter, ConfigurationError
from serving.languages import language_list

logger = logging.getLogger(__name__)

DEFAULT_MODEL_ID = "openai/whisper-large-v3-turbo"
MIB = 1024 * 1024
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
    max_audio_bytes: int = Field(64 * MIB, ge=1)
    max_audio_seconds: float = Field(3600.0, gt=0, le=24 * 3600)
    max_new_tokens: int = Field(440, ge=1, le=448)
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

    @field_validator("tensor_parallel_degree", mode="before")
    @classmethod
    def _degree(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() == "max":
            return "max"
        degree = int(value)  # a non-number raises ValueError, reported with the key below
        if degree < 1:
            raise ValueError("must be a positive integer or 'max'")
        return degree

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
        accepted = "" if "Input should be" in error["msg"] else _accepted_values(key)
        problems.append(f"option.{key}={error.get('input')!r}: {error['msg']}{accepted}")
    return "invalid serving option(s): " + "; ".join(problems)


def _accepted_values(key: str) -> str:
    field = Settings.model_fields.get(key)
    if field is None:
        return ""
    annotation = str(field.annotation).replace("typing.", "")
    return f" (accepted: {annotation})"
