"""The fixed, deterministic benchmark workload: the bundled speech clips, long clips packed from them, scenarios.

Short clips are the bundled speech clips (English, German, French, Spanish; not the codec copies of one sentence).
Long clips are English clips laid end to end with a short gap until ~90 s and ~5 min; a clip that would cross a 30 s
window edge starts at that edge instead, so that every system (ours and faster-whisper cut fixed 30 s windows, the
baseline overlapping chunks) is scored on decoding rather than on words split at a window edge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import cycle, islice

import numpy as np

from scripts.material.clips import REFERENCES, clip_bytes, clips, english_speech_clips
from serving.audio.decode import AudioLimits, decode_audio, duration_seconds
from serving.constants import SAMPLE_RATE, WINDOW_SAMPLES, WINDOW_SECONDS

GAP_SECONDS = 0.3  # silence between two packed clips
CLIP_LIMITS = AudioLimits(max_bytes=1 << 30, max_seconds=24 * 3600)  # set-up decoding of our own files


@dataclass(frozen=True, eq=False)
class Request:
    """One request: 16 kHz mono float32 audio and what it says."""

    name: str
    audio: np.ndarray
    reference: str
    language: str

    @property
    def seconds(self) -> float:
        return duration_seconds(self.audio)


@dataclass(frozen=True, eq=False)
class Scenario:
    """Requests sent one after the other (each waits for the previous answer) or all at once (a burst)."""

    name: str
    requests: tuple[Request, ...]
    concurrent: bool

    @property
    def audio_seconds(self) -> float:
        return sum(request.seconds for request in self.requests)


@dataclass(frozen=True)
class WorkloadShape:
    """How many requests of each kind; the default is sized for a full run on 2 CPU cores in a few minutes."""

    short_single: int  # short clips, one after the other
    short_burst: int  # short clips, all at once
    long_seconds: tuple[int, ...]  # long clips, one after the other
    long_burst: bool  # the same long clips again, all at once


DEFAULT_SHAPE = WorkloadShape(short_single=6, short_burst=16, long_seconds=(90, 300), long_burst=False)
QUICK_SHAPE = WorkloadShape(short_single=2, short_burst=4, long_seconds=(60,), long_burst=False)


def speech_clip_names() -> list[str]:
    """The bundled clips with distinct sentences, every language (sorted, so the order is fixed)."""
    return [name for name in clips() if not name.startswith("codec_")]


@lru_cache(maxsize=None)
def clip_request(name: str) -> Request:
    info = REFERENCES[name]
    return Request(name, decode_audio(clip_bytes(name), CLIP_LIMITS), info["text"], info["language"])


def packed_request(seconds: float, names: Sequence[str] | None = None) -> Request:
    """English clips end to end (cycled) in exactly ``seconds`` of audio, none crossing a 30 s window edge."""
    total = round(seconds * SAMPLE_RATE)
    gap = round(GAP_SECONDS * SAMPLE_RATE)
    audio = np.zeros(total, dtype=np.float32)
    placed: list[Request] = []
    cursor = 0
    for clip in (clip_request(name) for name in cycle(names or english_speech_clips())):
        start = _fitting_start(cursor, clip.audio.size)
        if start + clip.audio.size > total:
            break
        audio[start : start + clip.audio.size] = clip.audio
        placed.append(clip)
        cursor = start + clip.audio.size + gap
    if not placed:
        raise ValueError(f"{seconds} s is too short for any clip")
    reference = " ".join(clip.reference for clip in placed)
    return Request(f"packed_{seconds:g}s", audio, reference, "en")


def _fitting_start(cursor: int, length: int) -> int:
    """``cursor``, or the next window edge when the clip would cross one (a clip longer than a window never fits)."""
    if length > WINDOW_SAMPLES:
        raise ValueError("a clip longer than one window cannot be packed")
    edge = (cursor // WINDOW_SAMPLES + 1) * WINDOW_SAMPLES
    return cursor if cursor + length <= edge else edge


def window_request() -> Request:
    """One full 30 s window of speech (the GPU mode's clip)."""
    return packed_request(WINDOW_SECONDS)


def scenarios(shape: WorkloadShape = DEFAULT_SHAPE) -> list[Scenario]:
    names = speech_clip_names()
    short_single = [clip_request(n) for n in _spread(names, shape.short_single)]
    short_burst = [clip_request(n) for n in islice(cycle(names), shape.short_burst)]
    long = [packed_request(seconds) for seconds in shape.long_seconds]
    found = [
        Scenario(f"short x{len(short_single)}, one by one", tuple(short_single), concurrent=False),
        Scenario(f"short x{len(short_burst)}, at once", tuple(short_burst), concurrent=True),
        Scenario(f"long {_seconds_list(long)}, one by one", tuple(long), concurrent=False),
    ]
    if shape.long_burst:
        found.append(Scenario(f"long {_seconds_list(long)}, at once", tuple(long), concurrent=True))
    return [scenario for scenario in found if scenario.requests]


def _spread(names: Sequence[str], count: int) -> list[str]:
    """``count`` names evenly spaced over the sorted list, so every language is represented."""
    if count >= len(names):
        return list(islice(cycle(names), count))
    return [names[round(i * (len(names) - 1) / max(1, count - 1))] for i in range(count)]


def repeated(request: Request, count: int, concurrent: bool, name: str) -> Scenario:
    return Scenario(name, (request,) * count, concurrent)


def _seconds_list(requests: Sequence[Request]) -> str:
    return " + ".join(f"{request.seconds:.0f} s" for request in requests)
