"""What a transcription comes back as, typed: one result type per kind of response format.

* ``json``, ``verbose_json`` and ``text`` -> :class:`Transcript`: ``text`` always; ``language`` and ``duration``
  from ``json`` and ``verbose_json``; ``task``, ``segments`` and ``words`` from ``verbose_json`` (words only when
  asked for with ``timestamp_granularities=("word",)``). ``text`` leaves language and duration as None. The
  language is as the endpoint wrote it: a code (``"en"``) in ``json``, OpenAI's English name (``"english"``) in
  ``verbose_json``.
* ``srt`` and ``vtt`` -> :class:`Subtitles`: the subtitle file as ``text`` (and its format).

Every result keeps the response body as it came, in ``raw`` (the bytes a file of that format holds), so nothing
the endpoint sent is lost; ``save(path)`` writes it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whisper_lmi.errors import WhisperLmiError
from whisper_lmi.sagemaker.params import JSON_FORMATS, SUBTITLE_FORMATS


@dataclass(frozen=True)
class Word:
    word: str
    start: float
    end: float
    probability: float | None = None


@dataclass(frozen=True)
class Segment:
    id: int
    start: float
    end: float
    text: str
    tokens: tuple[int, ...] = ()
    temperature: float | None = None
    avg_logprob: float | None = None
    compression_ratio: float | None = None
    no_speech_prob: float | None = None


@dataclass(frozen=True)
class Transcript:
    text: str
    language: str | None = None
    duration: float | None = None
    task: str | None = None
    segments: tuple[Segment, ...] = ()
    words: tuple[Word, ...] = ()
    response_format: str = "json"
    raw: bytes = field(default=b"", repr=False, compare=False)

    def save(self, path: Path | str) -> Path:
        Path(path).write_bytes(self.raw)
        return Path(path)


@dataclass(frozen=True)
class Subtitles:
    format: str  # srt or vtt
    text: str  # the subtitle file
    raw: bytes = field(default=b"", repr=False, compare=False)

    def save(self, path: Path | str) -> Path:
        Path(path).write_bytes(self.raw)
        return Path(path)


Result = Transcript | Subtitles


def parse_result(data: bytes, response_format: str) -> Result:
    """The response body of a request made with ``response_format`` -> its typed result."""
    if response_format in SUBTITLE_FORMATS:
        return Subtitles(response_format, _utf8(data), raw=data)
    if response_format not in JSON_FORMATS:
        return Transcript(_utf8(data), response_format=response_format, raw=data)
    try:
        document = json.loads(data)
    except ValueError:
        raise WhisperLmiError(f"the endpoint's answer is not JSON: {_excerpt(data)}") from None
    if not isinstance(document, dict) or "text" not in document:
        raise WhisperLmiError(f"the endpoint's answer is not a transcription: {_excerpt(data)}")
    return transcript_from_document(document, response_format, data)


def transcript_from_document(document: dict[str, Any], response_format: str, raw: bytes) -> Transcript:
    return Transcript(
        text=str(document["text"]),
        language=document.get("language"),
        duration=document.get("duration"),
        task=document.get("task"),
        segments=tuple(_segment(item) for item in document.get("segments") or ()),
        words=tuple(_word(item) for item in document.get("words") or ()),
        response_format=response_format,
        raw=raw,
    )


def _segment(item: dict[str, Any]) -> Segment:
    return Segment(
        id=int(item.get("id", 0)), start=float(item["start"]), end=float(item["end"]), text=str(item["text"]),
        tokens=tuple(item.get("tokens") or ()), temperature=item.get("temperature"),
        avg_logprob=item.get("avg_logprob"), compression_ratio=item.get("compression_ratio"),
        no_speech_prob=item.get("no_speech_prob"),
    )


def _word(item: dict[str, Any]) -> Word:
    return Word(str(item["word"]), float(item["start"]), float(item["end"]), item.get("probability"))


def _utf8(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _excerpt(data: bytes, limit: int = 200) -> str:
    text = " ".join(_utf8(data[:limit]).split())
    return text + ("..." if len(data) > limit else "") if text else "(empty)"
