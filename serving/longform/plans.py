"""What a request's plan exchanges with the scheduler: windows to decode, and their outcomes.

A plan (:mod:`serving.longform.sequential`, :mod:`serving.longform.chunked`, :class:`SilentPlan`) holds one request's
audio and state. The scheduler asks it for its pending windows, has the runner decode them in batches with other
requests' windows, and hands it each window's outcome; only the scheduler's thread changes a plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from serving.constants import HOP_LENGTH, SAMPLE_RATE
from serving.engine.decoded import DecodedWindow, WordTiming
from serving.engine.token_text import TokenText
from serving.engine.vocabulary import Vocabulary
from serving.identity import RequestId
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
    beam_size: int = 1  # beams at temperature 0 (1: greedy); sampling above, as openai/whisper falls back
    patience: float = 1.0
    length_penalty: float | None = None  # None: rank beams by log-probability over length
    best_of: int = 1  # samples per window at temperatures above 0, the likeliest kept
    language_candidates: tuple[str, ...] = ()  # detection chooses among these; (): among all the model's


@dataclass(frozen=True)
class PlanContext:
    vocabulary: Vocabulary
    text: TokenText
    thresholds: Thresholds
    chunk_overlap_seconds: float


@dataclass(frozen=True)
class WindowTask:
    """One window of one request to decode: where its audio is, how it is prompted, what the plan needs back."""

    request: RequestId
    options: RequestOptions  # the request's choices (task, temperature, ...); the fields below are this window's
    key: int  # the window's id within its plan
    start: int  # first sample
    length: int  # samples of audio in the window (the rest is silence padding)
    prompt: tuple[int, ...]
    timestamps: bool
    words: bool  # word timings are needed (for the response or for merging)
    first: bool  # the request's first window: its language is detected here (when the request names none)
    speech_until: float | None = None  # seconds into the window its text must reach (timestamp mode), where known
    # The window's earlier decodings when it is back for the next temperature of the fallback (the runner's business:
    # plans never see a window until its outcome is final).
    attempts: tuple[DecodedWindow, ...] = field(default=(), compare=False, repr=False)

    @property
    def offset(self) -> float:
        return self.start / SAMPLE_RATE

    @property
    def frames(self) -> int:
        return -(-self.length // HOP_LENGTH)


@dataclass(frozen=True)
class WindowOutcome:
    """What decoding one window gave: its tokens and scores, its words' timings, the language it was decoded in."""

    decoded: DecodedWindow
    timings: tuple[WordTiming, ...] = ()  # times from the window's start
    language: str | None = None  # detected on this window, or the one it was decoded in
    language_probability: float | None = None  # the detected language's probability; None: not detected here


class Samples(Protocol):
    """Audio as a plan indexes it: a 1-D float32 array, or the speech regions of one read through it
    (:class:`serving.longform.vad.JoinedAudio`, no copy)."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    def __getitem__(self, key: slice) -> np.ndarray: ...


class Plan(Protocol):
    language: str | None
    language_probability: float | None  # of the detected language; None when the request named its language
    options: RequestOptions
    waveform: Samples  # the audio the plan's windows index: the request's speech regions, joined

    @property
    def done(self) -> bool:
        """Every window is decoded and no further window will come."""

    def pending(self) -> list[WindowTask]: ...

    def accept(self, task: WindowTask, outcome: WindowOutcome) -> None:
        """Take one window's outcome (the plan's language is the first outcome's when the request named none)."""

    def segments(self) -> list[Segment]: ...

    def final_segments(self) -> list[Segment]:
        """The first segments that no window still to be decoded can change (streaming hands them out early):
        always a prefix of :meth:`segments`, all of them once the plan is done."""


class SilentPlan:
    """A request without speech: no window to decode, no segment."""

    done = True

    def __init__(self, options: RequestOptions) -> None:
        self.options = options
        self.language = options.language
        self.language_probability = None
        self.waveform = np.zeros(0, dtype=np.float32)

    def pending(self) -> list[WindowTask]:
        return []

    def accept(self, task: WindowTask, outcome: WindowOutcome) -> None:
        raise AssertionError("a silent plan has no windows")

    def segments(self) -> list[Segment]:
        return []

    def final_segments(self) -> list[Segment]:
        return []


def adopt_language(plan: Plan, outcome: WindowOutcome) -> None:
    """A plan whose request named no language takes the first outcome's, with its probability."""
    if plan.language is None:
        plan.language, plan.language_probability = outcome.language, outcome.language_probability
