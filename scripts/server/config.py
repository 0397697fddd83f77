"""The server's options: where the model artifact is, which options its first Input carries, how to listen."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from scripts.djl.properties import SERVING_PROPERTIES, read_properties
from scripts.paths import PROJECT_ROOT

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DEFAULT_MODEL_NAME = "whisper"
PROPERTIES_FILE = "serving.properties"
# DJL's default request limit (SERVING_MAX_REQUEST_SIZE), answered with 413 by Netty.
DEFAULT_MAX_REQUEST_BYTES = 64 * 1024 * 1024
MAX_REQUEST_ENV = "SERVING_MAX_REQUEST_SIZE"
# The HTTP edge (scripts.server.edge, edge_protocol): a request's head must arrive whole within this many seconds
# of the connection (or its previous answer), its body within this many seconds of the head; else 408.
DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_BODY_TIMEOUT_S = 60.0  # SageMaker's own limit for a real-time invocation
DEFAULT_VARIANT = "AllTraffic"  # the production variant name SageMaker's SDK gives a single-variant endpoint


@dataclass(frozen=True)
class RuntimeOptions:
    """The SageMaker Runtime stand-in's options (``scripts.server.runtime_api``)."""

    endpoint_name: str | None = None  # the one endpoint name answered; None: any name
    async_output: str | None = None  # s3://bucket/prefix/ for InvokeEndpointAsync results (its S3OutputPath)
    async_failure: str | None = None  # s3://bucket/prefix/ for its failures (S3FailurePath); None: async_output
    variant: str = DEFAULT_VARIANT


@dataclass(frozen=True)
class ServerConfig:
    model_dir: Path
    properties: Mapping[str, str]  # serving.properties as written (option. kept), overrides applied
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    model_name: str = DEFAULT_MODEL_NAME
    device_id: str = "-1"
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    env: Mapping[str, str] = field(default_factory=dict)  # the OPTION_* variables DJL would read
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S


def build_config(
    model_dir: Path,
    model_id: str,
    overrides: Mapping[str, str] | None = None,
    **listen: object,
) -> ServerConfig:
    """serving.properties of ``model_dir`` with ``option.model_id`` and ``option.<key>`` overrides."""
    properties = read_properties(properties_file(model_dir))
    properties["option.model_id"] = model_id
    properties.update({_option_key(key): value for key, value in (overrides or {}).items()})
    max_request = int(os.environ.get(MAX_REQUEST_ENV, DEFAULT_MAX_REQUEST_BYTES))
    listen.setdefault("max_request_bytes", max_request)
    return ServerConfig(model_dir=model_dir, properties=properties, env=dict(os.environ), **listen)


def properties_file(model_dir: Path) -> Path:
    """``model_dir``'s serving.properties; this checkout keeps its own in ``whisper_lmi/artifact/template/`` (the file
    that ``whisper-lmi package`` ships), so the repository root reads that one."""
    own = model_dir / PROPERTIES_FILE
    if own.is_file() or model_dir.resolve() != PROJECT_ROOT:
        return own
    return SERVING_PROPERTIES


def parse_override(text: str) -> tuple[str, str]:
    """``key=value`` from the command line (``--option max_audio_bytes=1000``)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"expected key=value, got {text!r}")
    return key.strip(), value.strip()


def _option_key(key: str) -> str:
    """``batch_size``/``max_batch_delay``/``engine`` are top-level DJL keys; everything else is an option."""
    if key in ("batch_size", "max_batch_delay", "engine") or key.startswith("option."):
        return key
    return f"option.{key}"
