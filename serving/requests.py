"""Stage 0: a raw request (properties + body) -> the audio bytes and validated parameters.

Accepted bodies:
  * raw audio (``Content-Type: audio/*``, ``application/octet-stream`` or none), parameters from request
    properties (SageMaker ``X-Amzn-SageMaker-Custom-Attributes: language=de; task=translate`` arrive that way);
  * JSON ``{"audio": "<base64>", <parameters>}``;
  * JSON in the Hugging Face style ``{"inputs": "<base64>", "parameters": {...}}``.
Parameters in a JSON body take precedence over those from properties.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from serving.errors import BadParameter, UnsupportedMediaType
from serving.params import PARAMETER_NAMES, TranscriptionParams, parse_params

AUDIO_MEDIA_PREFIXES = ("audio/",)
AUDIO_MEDIA_TYPES = frozenset({"application/octet-stream", "video/webm", "video/mp4", "video/ogg"})
JSON_MEDIA_TYPES = frozenset({"application/json"})


@dataclass(frozen=True)
class RawRequest:
    """What the server received, independent of DJL: properties (headers etc.), body and its content type."""

    properties: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.properties.items():
            if key.lower() == wanted:
                return value
        return None

    @property
    def media_type(self) -> str:
        content_type = self.header("Content-Type") or ""
        return content_type.split(";", 1)[0].strip().lower()


@dataclass(frozen=True)
class ParsedRequest:
    audio: bytes
    params: TranscriptionParams


def parse_request(raw: RawRequest) -> ParsedRequest:
    media_type = raw.media_type
    from_properties = _params_from_properties(raw)
    if media_type in JSON_MEDIA_TYPES:
        audio, from_body = _parse_json(raw.body)
        return ParsedRequest(audio, parse_params({**from_properties, **from_body}))
    if not media_type or media_type in AUDIO_MEDIA_TYPES or media_type.startswith(AUDIO_MEDIA_PREFIXES):
        return ParsedRequest(raw.body, parse_params(from_properties))
    raise UnsupportedMediaType(
        f"Content-Type {media_type!r} is not supported; send audio/* or application/octet-stream with the audio "
        "as the body, or application/json with base64 audio"
    )


def _params_from_properties(raw: RawRequest) -> dict[str, str]:
    found = {}
    for name in PARAMETER_NAMES:
        value = raw.header(name)
        if value is not None:
            found[name] = value
    return found


def _parse_json(body: bytes) -> tuple[bytes, dict[str, Any]]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise BadParameter("the body is not valid JSON") from None
    if not isinstance(document, dict):
        raise BadParameter("the JSON body must be an object with an 'audio' (or 'inputs') field")
    if "inputs" in document:
        return _hf_style(document)
    document = dict(document)
    if "audio" not in document:
        raise BadParameter("the JSON body has no 'audio' field (base64-encoded audio file)")
    return _base64("audio", document.pop("audio")), document


def _hf_style(document: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    extra = sorted(set(document) - {"inputs", "parameters"})
    if extra:
        raise BadParameter(f"unknown field(s) {extra} beside 'inputs' (accepted: inputs, parameters)")
    parameters = document.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise BadParameter("'parameters' must be a JSON object")
    return _base64("inputs", document["inputs"]), parameters


def _base64(field: str, value: Any) -> bytes:
    if not isinstance(value, str):
        raise BadParameter(f"'{field}' must be a base64-encoded string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadParameter(f"'{field}' is not valid base64") from None
