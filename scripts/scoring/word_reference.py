"""Reference word timestamps from faster-whisper on the same whisper-base weights, and how to compare ours with them.

``faster_whisper_words(audio)`` transcribes a 16 kHz float32 array with word timestamps (greedy, no VAD, no
conditioning on the previous window, temperature 0: the settings of ``scripts.scoring.reference.faster_whisper_transcribe``);
results are cached on disk beside the converted model (keyed by the audio, the model and faster-whisper's version: the
reference is computed by faster-whisper, once per machine, never written by hand) and per process. ``match_words(ours, theirs)`` pairs the words that agree, in order;
``timing_difference(pairs)`` summarises how far apart their start and end times are.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from scripts.scoring.reference import faster_whisper_model
from scripts.scoring.reference_cache import cached

_NOT_WORD = re.compile(r"[^\w']+")  # punctuation and spaces around a word; apostrophes stay ("don't")


@dataclass(frozen=True)
class Word:
    word: str  # as the model wrote it (faster-whisper: with its leading space and punctuation)
    start: float  # seconds from the start of the audio
    end: float
    probability: float


@dataclass(frozen=True)
class TimingDifference:
    """Absolute start/end differences in seconds over matched pairs."""

    pairs: int
    mean_start: float
    max_start: float
    mean_end: float
    max_end: float


def faster_whisper_words(audio: np.ndarray) -> list[Word]:
    """faster-whisper's words for ``audio`` (float32, mono, 16 kHz), language detected from the first 30 s."""
    return list(_words(np.ascontiguousarray(audio, dtype=np.float32).tobytes()))


def word_key(text: str) -> str:
    """A word as compared by match_words: lower case, without punctuation or surrounding spaces."""
    return _NOT_WORD.sub("", text.lower())


def match_words(ours: Sequence[Word], theirs: Sequence[Word]) -> list[tuple[Word, Word]]:
    """Pairs (ours, theirs) of words with the same word_key, in order: the matching blocks of a difflib alignment.

    Words whose key is empty (punctuation alone) take no part.
    """
    ours = [w for w in ours if word_key(w.word)]
    theirs = [w for w in theirs if word_key(w.word)]
    matcher = difflib.SequenceMatcher(
        None, [word_key(w.word) for w in ours], [word_key(w.word) for w in theirs], autojunk=False
    )
    return [(ours[a + k], theirs[b + k]) for a, b, size in matcher.get_matching_blocks() for k in range(size)]


def timing_difference(pairs: Sequence[tuple[Word, Word]]) -> TimingDifference:
    if not pairs:
        raise ValueError("no matched words to compare")
    starts = np.array([abs(a.start - b.start) for a, b in pairs])
    ends = np.array([abs(a.end - b.end) for a, b in pairs])
    return TimingDifference(
        len(pairs), float(starts.mean()), float(starts.max()), float(ends.mean()), float(ends.max())
    )


@lru_cache(maxsize=64)
def _words(samples: bytes) -> tuple[Word, ...]:
    stored = cached("reference-words", samples, lambda: [word.__dict__ for word in _transcribe_words(samples)])
    return tuple(Word(**word) for word in stored)


def _transcribe_words(samples: bytes) -> tuple[Word, ...]:
    segments, _ = faster_whisper_model().transcribe(
        np.frombuffer(samples, dtype=np.float32),
        beam_size=1,
        temperature=0.0,
        word_timestamps=True,
        vad_filter=False,
        condition_on_previous_text=False,
    )
    return tuple(
        Word(word.word, word.start, word.end, word.probability) for segment in segments for word in segment.words or ()
    )
