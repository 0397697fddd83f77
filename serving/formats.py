"""Stage 5: a transcription -> the response body in the format the client asked for."""

from __future__ import annotations

import json
from dataclasses import dataclass

from serving.params import ResponseFormat
from serving.transcriber import Transcription

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class Rendered:
    content_type: str
    body: bytes


def render(transcription: Transcription, response_format: ResponseFormat) -> Rendered:
    match response_format:
        case "json":
            document = {
                "text": transcription.text,
                "language": transcription.language,
                "duration": round(transcription.duration, 3),
            }
            return Rendered(JSON, _json(document))
        case "text":
            return Rendered(TEXT, transcription.text.encode("utf-8"))
    raise AssertionError(f"unhandled response format {response_format!r}")  # params validation makes this a bug


def render_error(body: dict) -> Rendered:
    return Rendered(JSON, _json(body))


def _json(document: dict) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8")
