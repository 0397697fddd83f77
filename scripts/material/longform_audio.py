"""A long English file with a known transcript, for seams, timestamps and long-form decoding (issue 3).

``build_long_audio(min_seconds)`` joins the sentence clips of ``tests/data/longform/`` (made by
``python -m scripts.make_speech --longform``), in the order of their references file, until the audio lasts at least
``min_seconds``. Each clip's leading and trailing silence is trimmed (10 ms frames quieter than ``TRIM_DB``) and the
clips are joined with no pause at all, so sentences run across the 30 s window edges: every edge is a
:class:`Seam` that records the sentence spoken across it. ``with_silence`` pads any waveform with digital silence.

Run-time dependencies are numpy and PyAV (to decode the Opus clips); the result is deterministic and cached per
process (its array is read-only).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from scripts.material.audio_files import read_audio
from scripts.material.data import LONGFORM_DIR
from scripts.material.data import LONGFORM_REFERENCES_FILE as REFERENCES
from serving.constants import SAMPLE_RATE, WINDOW_SECONDS

TRIM_DB = -55.0  # dBFS: a 10 ms frame with less energy than this at a clip's start or end is silence
TRIM_FRAME_SAMPLES = SAMPLE_RATE // 100  # 10 ms
# A seam closer than this to a sentence's start or end cuts no word: it counts as falling between sentences.
JUNCTION_SECONDS = 0.25


@dataclass(frozen=True)
class Sentence:
    text: str  # the reference, as spoken
    voice: str  # engine:voice
    start: float  # seconds into the long file
    end: float


@dataclass(frozen=True)
class Seam:
    seconds: float  # a 30 s window edge: 30, 60, ...
    sentence: int  # index into LongAudio.sentences of the sentence spoken across the edge
    inside: bool  # the edge is more than JUNCTION_SECONDS from that sentence's start and end


@dataclass(frozen=True, eq=False)
class LongAudio:
    waveform: np.ndarray  # float32, mono, SAMPLE_RATE, read-only
    sentences: tuple[Sentence, ...]
    seams: tuple[Seam, ...]

    @property
    def text(self) -> str:
        """The reference transcript: the sentences joined by spaces."""
        return " ".join(sentence.text for sentence in self.sentences)

    @property
    def seconds(self) -> float:
        return self.waveform.size / SAMPLE_RATE


@dataclass(frozen=True, eq=False)
class _Clip:
    text: str
    voice: str
    waveform: np.ndarray  # trimmed


def build_long_audio(min_seconds: float = 300.0) -> LongAudio:
    """The first sentences of the corpus, trimmed and joined without pauses, lasting at least ``min_seconds``."""
    if min_seconds <= 0:
        raise ValueError(f"min_seconds must be positive, not {min_seconds}")
    return _build(float(min_seconds))


def with_silence(waveform: np.ndarray, lead_seconds: float, trail_seconds: float) -> np.ndarray:
    """``waveform`` (float32 at SAMPLE_RATE) with this much digital silence before and after it."""
    if lead_seconds < 0 or trail_seconds < 0:
        raise ValueError(f"silence must not be negative: lead {lead_seconds}, trail {trail_seconds}")
    lead, trail = round(lead_seconds * SAMPLE_RATE), round(trail_seconds * SAMPLE_RATE)
    return np.pad(np.asarray(waveform, dtype=np.float32), (lead, trail))


def trim_silence(waveform: np.ndarray) -> np.ndarray:
    """``waveform`` from its first to its last 10 ms frame louder than TRIM_DB (empty when none is)."""
    frames = waveform[: waveform.size // TRIM_FRAME_SAMPLES * TRIM_FRAME_SAMPLES].reshape(-1, TRIM_FRAME_SAMPLES)
    energy_db = 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-20)
    loud = np.flatnonzero(energy_db > TRIM_DB)
    if loud.size == 0:
        return waveform[:0]
    return waveform[loud[0] * TRIM_FRAME_SAMPLES : (loud[-1] + 1) * TRIM_FRAME_SAMPLES]


@lru_cache(maxsize=4)
def _build(min_seconds: float) -> LongAudio:
    clips = _take(min_seconds)
    sentences, start = [], 0
    for clip in clips:
        end = start + clip.waveform.size
        sentences.append(Sentence(clip.text, clip.voice, start / SAMPLE_RATE, end / SAMPLE_RATE))
        start = end
    waveform = np.concatenate([clip.waveform for clip in clips])
    waveform.flags.writeable = False
    return LongAudio(waveform, tuple(sentences), _seams(sentences, waveform.size / SAMPLE_RATE))


def _take(min_seconds: float) -> list[_Clip]:
    """The corpus clips in order, decoded one by one, until they last ``min_seconds``."""
    clips, total = [], 0
    for name in _references():
        clips.append(_clip(name))
        total += clips[-1].waveform.size
        if total >= min_seconds * SAMPLE_RATE:
            return clips
    raise ValueError(
        f"the corpus in {LONGFORM_DIR} lasts {total / SAMPLE_RATE:.1f} s trimmed, less than {min_seconds:g} s; "
        "add sentences to scripts/material/longform_corpus.py"
    )


def _seams(sentences: list[Sentence], seconds: float) -> tuple[Seam, ...]:
    seams, edge = [], float(WINDOW_SECONDS)
    while edge < seconds:
        index = next(i for i, sentence in enumerate(sentences) if sentence.start <= edge < sentence.end)
        sentence = sentences[index]
        inside = sentence.start + JUNCTION_SECONDS < edge < sentence.end - JUNCTION_SECONDS
        seams.append(Seam(edge, index, inside))
        edge += WINDOW_SECONDS
    return tuple(seams)


@lru_cache(maxsize=1)
def _references() -> dict[str, dict]:
    return json.loads(REFERENCES.read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def _clip(name: str) -> _Clip:
    entry = _references()[name]
    return _Clip(entry["text"], entry["voice"], trim_silence(read_audio(LONGFORM_DIR / name)))
