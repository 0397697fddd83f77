"""The request body, in one of the three shapes the endpoint reads (``serving.api.requests``):

* ``raw``: the audio file as the body, the parameters as SageMaker custom attributes (ASCII, 1024 characters);
* ``form``: ``multipart/form-data``, the audio in field ``file``, each parameter a field (OpenAI's shape);
* ``json``: ``{"audio": "<base64>", <parameters>}``, any text (a prompt in any script, of any length the endpoint
  takes); the body is a third larger than the audio.

``auto`` (the default) sends ``raw`` when the parameters fit in custom attributes, ``json`` otherwise.
"""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from typing import Literal

from whisper_lmi.errors import WhisperLmiError
from whisper_lmi.sagemaker.constants import MULTIPART_FIELD
from whisper_lmi.sagemaker.params import TranscriptionParams

BodyMode = Literal["auto", "raw", "form", "json"]
BODY_MODES = ("auto", "raw", "form", "json")
JSON_AUDIO_FIELD = "audio"
JSON_CONTENT_TYPE = "application/json"


@dataclass(frozen=True)
class RequestBody:
    body: bytes
    content_type: str
    custom_attributes: str | None = None
    mode: str = "raw"


def choose_mode(params: TranscriptionParams, mode: str = "auto") -> str:
    """``auto`` -> ``raw`` when the parameters fit in custom attributes, else ``json``."""
    if mode not in BODY_MODES:
        raise WhisperLmiError(f"body must be one of {', '.join(BODY_MODES)} (got {mode!r})")
    if mode == "auto":
        return "raw" if params.attributes_problem() is None else "json"
    return mode


def request_body(audio: bytes, name: str, content_type: str, params: TranscriptionParams, mode: str) -> RequestBody:
    """``audio`` and ``params`` in the body shape ``mode`` (``raw``, ``form`` or ``json``; see :func:`choose_mode`)."""
    if mode == "raw":
        return RequestBody(audio, content_type, params.custom_attributes(), mode)
    if mode == "form":
        body, form_type = multipart_body(name, audio, content_type, params.text_values())
        return RequestBody(body, form_type, None, mode)
    if mode == "json":
        document = {JSON_AUDIO_FIELD: base64.b64encode(audio).decode("ascii"), **params.values()}
        return RequestBody(json.dumps(document, ensure_ascii=False).encode("utf-8"), JSON_CONTENT_TYPE, None, mode)
    raise WhisperLmiError(f"body must be raw, form or json here (got {mode!r})")


def multipart_body(filename: str, data: bytes, content_type: str, fields: dict[str, str] | None = None,
                   boundary: str | None = None) -> tuple[bytes, str]:
    """A multipart/form-data body: each field, then the audio as field ``file``; returns (body, content type)."""
    boundary = boundary or uuid.uuid4().hex
    parts = [
        (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").encode()
        for name, value in (fields or {}).items()
    ]
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{MULTIPART_FIELD}"; filename="{_quoted(filename)}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    return b"".join(parts) + head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _quoted(filename: str) -> str:
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return name.replace('"', "%22").replace("\r", "").replace("\n", "")
