"""What a request's plan exchanges with the transcriber: windows to decode, and their outcomes turned into segments.

A plan (:mod:`serving.sequential`, :mod:`serving.chunked`) holds one request's audio and state. Each round the
transcriber asks every plan for its pending windows, decodes all of them together in GPU batches (with temperature
fallback and word alignment), and hands each plan its outcomes. Shared here: the window and outcome types, and the
conversion of one decoded window into segments with words (openai/whisper's ``add_word_timestamps``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from serving.alignment import WordTiming, clip_sentence_ends, median_word_seconds, merge_punctuation
from serving.constants import HOP_LENGTH, SAMPLE_RATE, WINDOW_SAMPLES
from serving.quality import Thresholds, compression_ratio
from serving.results import Segment, Word
from serving.segmenting import split_segments
from serving.token_search import DecodedWindow
from serving.token_text import TokenText
from serving.vocabulary import Vocabulary

PAUSE_MEDIANS = 4  # a word this many median words after the last speech follows a pause (openai's heuristic)
SEGMENT_PREFERENCE_SECONDS = 0.5  # how much longer a first/last word may be before the segment's timestamp wins


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


@dataclass
class Draft:
    """A segment under construction (times in seconds from the start of the audio)."""

    start: float
    end: float
    tokens: tuple[int, ...]
    text: str
    text_tokens: tuple[int, ...]
    decoded: DecodedWindow
    words: list[Word] = field(default_factory=list)
    word_tokens: list[tuple[int, ...]] = field(default_factory=list)

    def freeze(self, with_words: bool) -> Segment:
        d = self.decoded
        return Segment(
            start=round(self.start, 3), end=round(self.end, 3), text=self.text, tokens=self.tokens,
            avg_logprob=d.avg_logprob, no_speech_prob=d.no_speech_prob,
            compression_ratio=compression_ratio(self.text), temperature=d.temperature,
            words=tuple(self.words) if with_words else (),
        )


def window_drafts(
    context: PlanContext, task: WindowTask, decoded: DecodedWindow, keep_tail: bool = False
) -> tuple[list[Draft], int | None]:
    """The window's segments (absolute times) and the mel frames consumed (None: all of them)."""
    content = task.length / SAMPLE_RATE
    if task.timestamps:
        parsed = split_segments(decoded.tokens, context.vocabulary.timestamp_begin, content, keep_tail)
        pieces, consumed = parsed.segments, parsed.consumed_frames
    else:
        pieces, consumed = None, None
    drafts = []
    for start, end, tokens in _pieces(pieces, decoded, content):
        text_tokens = tuple(t for t in tokens if t < context.vocabulary.eot)
        end = min(max(end, start), content)
        drafts.append(Draft(task.offset + min(start, content), task.offset + end, tokens,
                            context.text.decode(text_tokens), text_tokens, decoded))
    return drafts, consumed


def _pieces(pieces, decoded: DecodedWindow, content: float):
    if pieces is None:
        return [(0.0, content, decoded.tokens)]
    return [(piece.start, piece.end, piece.tokens) for piece in pieces]


def attach_words(drafts: list[Draft], timings: list[WordTiming], offset: float, last_speech: float) -> float:
    """Give each draft its words (openai's ``add_word_timestamps``); returns the new end of the last speech."""
    timings = [WordTiming(t.word, t.tokens, t.start, t.end, t.probability) for t in timings]
    median = median_word_seconds(timings)
    longest = median * 2
    clip_sentence_ends(timings, longest)
    merge_punctuation(timings)
    index = 0
    for draft in drafts:
        saved, words, tokens = 0, [], []
        while index < len(timings) and saved < len(draft.text_tokens):
            timing = timings[index]
            if timing.word:
                words.append(Word(timing.word, round(offset + timing.start, 2), round(offset + timing.end, 2),
                                  round(timing.probability, 4)))
                tokens.append(timing.tokens)
            saved += len(timing.tokens)
            index += 1
        if words:
            words = _pause_heuristics(words, last_speech, median, longest)
            words = _prefer_segment_edges(draft, words, median)
            last_speech = draft.end
        draft.words, draft.word_tokens = words, tokens
    return last_speech


def _pause_heuristics(words: list[Word], last_speech: float, median: float, longest: float) -> list[Word]:
    """After a pause, the first (and second) word may not be longer than twice the median word."""
    first = words[0]
    too_long = first.end - first.start > longest or (len(words) > 1 and words[1].end - first.start > longest * 2)
    if not (first.end - last_speech > median * PAUSE_MEDIANS and too_long):
        return words
    if len(words) > 1 and words[1].end - words[1].start > longest:
        boundary = max(words[1].end / 2, words[1].end - longest)
        words[1] = _timed(words[1], boundary, words[1].end)
        first = _timed(first, first.start, boundary)
    words[0] = _timed(first, max(0.0, first.end - longest), first.end)
    return words


def _prefer_segment_edges(draft: Draft, words: list[Word], median: float) -> list[Word]:
    first, last = words[0], words[-1]
    if draft.start < first.end and draft.start - SEGMENT_PREFERENCE_SECONDS > first.start:
        words[0] = _timed(first, max(0.0, min(first.end - median, draft.start)), first.end)
    else:
        draft.start = first.start
    last = words[-1]
    if draft.end > last.start and draft.end + SEGMENT_PREFERENCE_SECONDS < last.end:
        words[-1] = _timed(last, last.start, max(last.start + median, draft.end))
    else:
        draft.end = last.end
    return words


def _timed(word: Word, start: float, end: float) -> Word:
    return Word(word.word, round(start, 2), round(end, 2), word.probability)


def clamp_timeline(segments: list[Segment], duration: float) -> list[Segment]:
    """Monotonic and inside the audio: each segment and word starts no earlier than the one before ends (words) or
    starts (segments), and nothing ends after ``duration``."""
    result, segment_floor, word_floor = [], 0.0, 0.0
    for segment in segments:
        words = []
        for word in segment.words:
            start = min(max(word.start, word_floor), duration)
            end = min(max(word.end, start), duration)
            words.append(Word(word.word, round(start, 3), round(end, 3), word.probability))
            word_floor = end
        start = min(max(segment.start, segment_floor), duration)
        end = min(max(segment.end, start), duration)
        segment_floor = start
        result.append(Segment(start=round(start, 3), end=round(end, 3), text=segment.text, tokens=segment.tokens,
                              avg_logprob=segment.avg_logprob, no_speech_prob=segment.no_speech_prob,
                              compression_ratio=segment.compression_ratio, temperature=segment.temperature,
                              words=tuple(words)))
    return result
