"""A raw request (properties + body) -> the audio bytes and validated parameters.

Accepted bodies:
  * an OpenAI-style form (``multipart/form-data``): the audio in field ``file``, parameters in the other fields
    (``model`` is accepted and ignored: the endpoint serves one model);
  * raw audio (``Content-Type: audio/*``, ``application/octet-stream`` or none), parameters from request
    properties (SageMaker ``X-Amzn-SageMaker-Custom-Attributes: language=de; task=translate`` arrive that way);
  * JSON ``{"audio": "<base64>", <parameters>}``, or ``{"audio_url": "s3://bucket/key" | "https://...", ...}``
    (fetched by :mod:`serving.fetch.sources` before decoding, where the endpoint allows it);
  * JSON in the Hugging Face style ``{"inputs": "<base64>", "parameters": {...}}``.
Base64 audio may be wrapped in lines (MIME, or what the ``base64`` tool prints: whitespace is dropped, and logged),
or be a ``data:<media type>;base64,...`` URI (what a browser's FileReader gives): its media type is checked as a
raw body's Content-Type is (audio/*, application/octet-stream, video/webm...; another is a 415). Anything else that
is not base64 is a 400.
Query parameters (``?language=de``), which DJL delivers as content entries beside the body, count as parameters
too. Precedence, lowest first: properties, query, body. ``Accept: text/event-stream`` (alone) asks for ``stream=true``
unless a ``stream`` header or custom attribute says otherwise.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from serving.api.params import PARAMETER_NAMES, TranscriptionParams, parse_params
from serving.errors import BadParameter, UnsupportedMediaType
from serving.fetch.audio_url import AudioLocation, parse_audio_url

AUDIO_MEDIA_PREFIXES = ("audio/",)
AUDIO_MEDIA_TYPES = frozenset({"application/octet-stream", "video/webm", "video/mp4", "video/ogg"})
JSON_MEDIA_TYPES = frozenset({"application/json"})
FORM_MEDIA_TYPES = frozenset({"multipart/form-data", "application/x-www-form-urlencoded"})
FORM_AUDIO_FIELD = "file"
FORM_IGNORED_FIELDS = frozenset({"model"})
JSON_AUDIO_FIELD = "audio"
JSON_URL_FIELD = "audio_url"
EVENT_STREAM_MEDIA_TYPE = "text/event-stream"
STREAM_PARAMETER = "stream"
# Far above any valid value (a prompt may have 2000 characters) and name: longer ones are refused without being
# echoed back, so a 1 MB header cannot become a 1 MB error body or log line.
MAX_PARAMETER_CHARS = 8192
MAX_PARAMETER_NAME_CHARS = 64
DATA_URI_SCHEME = "data:"
DATA_URI_BASE64 = "base64"
MAX_DATA_URI_HEADER_CHARS = 256  # 'data:audio/webm;codecs=opus;base64,' and the like, with room to spare
BASE64_WHITESPACE = re.compile(r"[ \t\r\n\f\v]+")  # MIME line breaks (RFC 2045), the base64 tool's, indentation

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RawRequest:
    """What the server received, independent of DJL: properties (headers etc.), the body, and the other content
    entries DJL delivers by name (form fields, query parameters)."""

    properties: Mapping[str, str]
    body: bytes
    fields: Mapping[str, bytes] = field(default_factory=dict)

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
    audio: bytes | AudioLocation  # the audio file's bytes, or where to fetch them
    params: TranscriptionParams


def parse_request(raw: RawRequest) -> ParsedRequest:
    media_type = raw.media_type
    from_properties = _params_from_properties(raw)
    if media_type in FORM_MEDIA_TYPES:
        audio, from_form = _parse_form(raw.fields)
        return ParsedRequest(audio, _params({**from_properties, **from_form}))
    from_query = _text_fields(raw.fields)
    if media_type in JSON_MEDIA_TYPES:
        audio, from_body = _parse_json(raw.body)
        return ParsedRequest(audio, _params({**from_properties, **from_query, **from_body}))
    if _is_audio_media_type(media_type):
        return ParsedRequest(raw.body, _params({**from_properties, **from_query}))
    raise UnsupportedMediaType(
        f"Content-Type {media_type!r} is not supported; send audio/* or application/octet-stream with the audio "
        "as the body, multipart/form-data with the audio in field 'file', or application/json with base64 audio"
    )


def _is_audio_media_type(media_type: str) -> bool:
    """A media type (lower case, no parameters) that may carry audio; none at all lets the decoder find out."""
    return not media_type or media_type in AUDIO_MEDIA_TYPES or media_type.startswith(AUDIO_MEDIA_PREFIXES)


def _params(values: Mapping[str, Any]) -> TranscriptionParams:
    for name, value in values.items():
        if len(name) > MAX_PARAMETER_NAME_CHARS:
            raise BadParameter(f"unknown parameter {name[:MAX_PARAMETER_NAME_CHARS]!r}... ({len(name)} characters)")
        if isinstance(value, str) and len(value) > MAX_PARAMETER_CHARS:
            raise BadParameter(f"parameter {name!r} is {len(value)} characters long; the limit is {MAX_PARAMETER_CHARS}")
    return parse_params(values)


def _parse_form(fields: Mapping[str, bytes]) -> tuple[bytes, dict[str, str]]:
    if FORM_AUDIO_FIELD not in fields:
        raise BadParameter(
            f"the form has no {FORM_AUDIO_FIELD!r} field with the audio ({_summary(fields)}); to send raw audio "
            "as the body, set Content-Type: audio/* (curl --data-binary defaults to a form)"
        )
    values = {k: v for k, v in fields.items() if k != FORM_AUDIO_FIELD and k not in FORM_IGNORED_FIELDS}
    return fields[FORM_AUDIO_FIELD], _text_fields(values)


def _summary(fields: Mapping[str, bytes], shown: int = 3, width: int = 24) -> str:
    """A bounded description of the field names: a binary body parsed as a form has many odd ones."""
    names = [repr(name[:width]) for name in list(fields)[:shown]]
    more = f" and {len(fields) - shown} more" if len(fields) > shown else ""
    return f"{len(fields)} field(s): {', '.join(names)}{more}" if fields else "no fields"


def _text_fields(fields: Mapping[str, bytes]) -> dict[str, str]:
    """Form fields or query parameters as text; each name is validated as a parameter later."""
    try:
        return {name.removesuffix("[]"): value.decode("utf-8") for name, value in fields.items()}
    except UnicodeDecodeError:
        raise BadParameter("a form field or query parameter is not UTF-8 text") from None


def _params_from_properties(raw: RawRequest) -> dict[str, str]:
    found = {}
    for name in PARAMETER_NAMES:
        value = raw.header(name)
        if value is not None:
            found[name] = value
    if STREAM_PARAMETER not in found and _accepted_media_types(raw) == [EVENT_STREAM_MEDIA_TYPE]:
        found[STREAM_PARAMETER] = "true"  # e.g. InvokeEndpointWithResponseStream(Accept="text/event-stream")
    return found


def _accepted_media_types(raw: RawRequest) -> list[str]:
    accept = raw.header("Accept") or ""
    return [part.split(";", 1)[0].strip().lower() for part in accept.split(",") if part.strip()]


def _parse_json(body: bytes) -> tuple[bytes | AudioLocation, dict[str, Any]]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise BadParameter("the body is not valid JSON") from None
    if not isinstance(document, dict):
        raise BadParameter("the JSON body must be an object with an 'audio' (or 'inputs') field")
    if "inputs" in document:
        return _hf_style(document)
    document = dict(document)
    if JSON_AUDIO_FIELD in document and JSON_URL_FIELD in document:
        raise BadParameter(f"send either {JSON_AUDIO_FIELD!r} or {JSON_URL_FIELD!r}, not both")
    if JSON_URL_FIELD in document:
        return _audio_url(document.pop(JSON_URL_FIELD)), document
    if JSON_AUDIO_FIELD not in document:
        raise BadParameter(
            f"the JSON body has no {JSON_AUDIO_FIELD!r} field (base64-encoded audio file) or {JSON_URL_FIELD!r} "
            "(s3:// or https:// URL)"
        )
    return _base64(JSON_AUDIO_FIELD, document.pop(JSON_AUDIO_FIELD)), document


def _audio_url(value: Any) -> AudioLocation:
    if not isinstance(value, str):
        raise BadParameter(f"{JSON_URL_FIELD!r} must be a string (s3://bucket/key or https://...)")
    return parse_audio_url(value)


def _hf_style(document: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
    extra = sorted(set(document) - {"inputs", "parameters"})
    if extra:
        raise BadParameter(f"unknown field(s) {extra} beside 'inputs' (accepted: inputs, parameters)")
    parameters = document.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise BadParameter("'parameters' must be a JSON object")
    return _base64("inputs", document["inputs"]), parameters


def _base64(field: str, value: Any) -> bytes:
    """Base64 text, or a ``data:`` URI holding it; whitespace and line breaks in it are dropped (and logged)."""
    if not isinstance(value, str):
        raise BadParameter(f"'{field}' must be a base64-encoded string")
    if value[: len(DATA_URI_SCHEME)].lower() == DATA_URI_SCHEME:
        value = _data_uri_payload(field, value)
    compact = BASE64_WHITESPACE.sub("", value)
    if len(compact) != len(value):
        logger.info("'%s': base64 with %d whitespace character(s) or line break(s) accepted", field,
                    len(value) - len(compact))
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise BadParameter(f"'{field}' is not valid base64") from None


def _data_uri_payload(field: str, uri: str) -> str:
    """``data:[<media type>][;<parameter>...];base64,<data>`` -> the data, where the media type may carry audio."""
    comma = uri.find(",", 0, MAX_DATA_URI_HEADER_CHARS)
    if comma < 0:
        raise BadParameter(f"'{field}' is a data: URI without a ',' in its first {MAX_DATA_URI_HEADER_CHARS} "
                           "characters (data:audio/wav;base64,<base64>)")
    media_type, *parameters = uri[len(DATA_URI_SCHEME) : comma].split(";")
    if not parameters or parameters[-1].strip().lower() != DATA_URI_BASE64:
        raise BadParameter(f"'{field}' is a data: URI that is not base64; send data:<media type>;base64,<base64>")
    media_type = media_type.strip().lower()
    if not _is_audio_media_type(media_type):
        raise UnsupportedMediaType(
            f"'{field}' is a data: URI of media type {media_type[:64]!r}; send audio (audio/*, "
            "application/octet-stream, video/webm, video/mp4 or video/ogg)"
        )
    return uri[comma + 1 :]
