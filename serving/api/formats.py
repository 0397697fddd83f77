"""A transcription -> the response body in the format the client asked for, with its content type.

Every JSON body is strict JSON (RFC 8259): a number that is not finite (NaN or infinity: an ``avg_logprob`` of a
window that decoded nothing, a ``no_speech_prob`` of degenerate audio) is written as ``null``, never as the
``NaN``/``Infinity`` that Python's json writes and strict parsers refuse (:func:`json_bytes`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from transformers.models.whisper.tokenization_whisper import LANGUAGES

from serving.api.params import TranscriptionParams
from serving.results import Segment, Transcription, Word

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
SRT = "application/x-subrip; charset=utf-8"
VTT = "text/vtt; charset=utf-8"


@dataclass(frozen=True)
class Rendered:
    content_type: str
    body: bytes


def render(transcription: Transcription, params: TranscriptionParams) -> Rendered:
    match params.response_format:
        case "json":
            document = {
                "text": transcription.text,
                "language": transcription.language,
                "duration": round(transcription.duration, 3),
            }
            return Rendered(JSON, json_bytes(document))
        case "text":
            return Rendered(TEXT, transcription.text.encode("utf-8"))
        case "verbose_json":
            return Rendered(JSON, json_bytes(_verbose(transcription, params)))
        case "srt":
            return Rendered(SRT, _cues(transcription.segments, ",", header="", numbered=True).encode("utf-8"))
        case "vtt":
            return Rendered(VTT, _cues(transcription.segments, ".", header="WEBVTT\n\n", numbered=False).encode("utf-8"))
    raise AssertionError(f"unhandled response format {params.response_format!r}")  # params validation makes this a bug


def render_error(body: dict) -> Rendered:
    return Rendered(JSON, json_bytes(body))


def _verbose(transcription: Transcription, params: TranscriptionParams) -> dict:
    """OpenAI's verbose_json: task, language (English name), duration, text, segments and/or words; and, as
    faster-whisper reports it, ``language_probability`` (null when the request named the language)."""
    document: dict = {
        "task": transcription.task,
        "language": LANGUAGES.get(transcription.language, transcription.language),
        "language_probability": _probability(transcription.language_probability),
        "duration": round(transcription.duration, 3),
        "text": transcription.text,
    }
    if params.segments_wanted:
        document["segments"] = [_segment(i, s) for i, s in enumerate(transcription.segments)]
    if params.words:
        document["words"] = [_word(w) for w in transcription.words]
    return document


def _probability(value: float | None) -> float | None:
    """The detected language's probability, rounded; null when the request named its language."""
    return None if value is None else round(value, 6)


def _segment(index: int, segment: Segment) -> dict:
    return {
        "id": index,
        "start": segment.start,
        "end": segment.end,
        "text": segment.text,
        "tokens": list(segment.tokens),
        "temperature": segment.temperature,
        "avg_logprob": round(segment.avg_logprob, 6),
        "compression_ratio": round(segment.compression_ratio, 6),
        "no_speech_prob": round(segment.no_speech_prob, 6),
    }


def _word(word: Word) -> dict:
    return {"word": word.word.strip(), "start": word.start, "end": word.end, "probability": word.probability}


def _cues(segments: tuple[Segment, ...], decimal: str, header: str, numbered: bool) -> str:
    blocks = []
    for number, segment in enumerate((s for s in segments if s.text.strip()), start=1):
        timing = f"{_clock(segment.start, decimal)} --> {_clock(segment.end, decimal)}"
        lines = ([str(number)] if numbered else []) + [timing, segment.text.strip()]
        blocks.append("\n".join(lines) + "\n")
    return header + "\n".join(blocks)


def _clock(seconds: float, decimal: str) -> str:
    milliseconds = round(seconds * 1000)
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    whole, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{whole:02d}{decimal}{millis:03d}"


def json_bytes(document: dict) -> bytes:
    """Strict JSON in UTF-8: every float that is not finite becomes null."""
    return json.dumps(_finite(document), ensure_ascii=False, allow_nan=False).encode("utf-8")


def _finite(value):
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value
