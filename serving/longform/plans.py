"""What a request's plan exchanges with the transcriber: windows to decode, and their outcomes turned into segments.

A plan (:mod:`serving.longform.sequential`, :mod:`serving.longform.chunked`) holds one request's audio and state. Each round the
transcriber asks every plan for its pending windows, decodes all of them together in GPU batches (with temperature
fallback and word alignment), and hands each plan its outcomes. Shared here: the window and outcome types, and the
conversion of one decoded window into segments with words (openai/whisper's ``add_word_timestamps``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from serving.constants import HOP_LENGTH, SAMPLE_RATE, WINDOW_SAMPLES
from serving.engine.decoded import DecodedWindow, WordTiming
from serving.engine.token_text import TokenText
from serving.engine.vocabulary import Vocabulary
from serving.longform.quality import Thresholds
from serving.results import Segment


@dataclass(frozen=True)
class RequestOptions:
    """One request's decoding choices, derived from its parameters and the serving options."""

    language: str | None
    task: str
    prompt: tuple[int, ...]
    temperature: float
    timestamps: bool  # segment timestamps in the response
    words: bool  # word timestamps in the response
    long_form: str  # "chunked" | "sequential"
    condition_on_previous_text: bool = True


@dataclass(frozen=True)
class PlanContext:
    vocabulary: Vocabulary
    text: TokenText
    thresholds: Thresholds
    chunk_overlap_seconds: float


@dataclass(frozen=True)
class WindowTask:
    plan: int  # the request's index in the transcriber's batch
    key: int  # the window's id within its plan
    start: int  # first sample
    length: int  # samples of audio in the window (the rest is silence padding)
    prompt: tuple[int, ...]
    timestamps: bool
    words: bool  # word timings are needed (for the response or for merging)
    first: bool  # the request's first window: its language is detected here

    @property
    def offset(self) -> float:
        return self.start / SAMPLE_RATE

    @property
    def frames(self) -> int:
        return -(-self.length // HOP_LENGTH)


@dataclass(frozen=True)
class WindowOutcome:
    decoded: DecodedWindow
    timings: tuple[WordTiming, ...] = ()  # times from the window's start


class Plan(Protocol):
    language: str | None
    options: RequestOptions
    waveform: np.ndarray  # the audio the plan's windows index: the request's speech regions, joined

    @property
    def done(self) -> bool:
        """Every window is decoded and no further window will come."""

    def pending(self) -> list[WindowTask]: ...

    def accept(self, task: WindowTask, outcome: WindowOutcome) -> None: ...

    def segments(self) -> list[Segment]: ...

    def final_segments(self) -> list[Segment]:
        """The first segments that no window still to be decoded can change (streaming hands them out early):
        always a prefix of :meth:`segments`, all of them once the plan is done."""


def window_audio(waveform: np.ndarray, task: WindowTask) -> np.ndarray:
    """The task's samples, zero-padded to one window."""
    window = np.zeros(WINDOW_SAMPLES, dtype=np.float32)
    piece = waveform[task.start : task.start + task.length]
    window[: piece.shape[0]] = piece
    return window
