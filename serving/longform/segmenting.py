"""A window's timestamped tokens -> segments, and how far the window's content was consumed (openai/whisper).

Whisper marks each segment with a start and an end timestamp token. A window whose last segment is closed by a
single timestamp was consumed entirely; otherwise the text after the last complete segment is dropped and the next
window starts at that segment's end, so a sentence cut by the window edge is decoded again whole.
"""

from __future__ import annotations

from dataclasses import dataclass

from serving.constants import ENCODER_STRIDE, SECONDS_PER_TIMESTAMP


@dataclass(frozen=True)
class TimedTokens:
    start: float  # seconds from the window's start
    end: float
    tokens: tuple[int, ...]  # including the timestamp tokens


@dataclass(frozen=True)
class WindowSegments:
    segments: tuple[TimedTokens, ...]
    consumed_frames: int | None  # None: the whole window (its content length) was consumed


def split_segments(
    tokens: tuple[int, ...], timestamp_begin: int, content_seconds: float, keep_tail: bool = False
) -> WindowSegments:
    """``keep_tail``: also return the text after the last complete segment, as a segment that ends with the window's
    content (chunked long-form keeps every word and trims at the seams instead)."""
    is_time = [token >= timestamp_begin for token in tokens]
    boundaries = [i + 1 for i in range(len(tokens) - 1) if is_time[i] and is_time[i + 1]]
    single_ending = single_timestamp_ending(tokens, timestamp_begin)
    if not boundaries:
        return WindowSegments((_unpaired(tokens, is_time, timestamp_begin, content_seconds),), None)
    if single_ending:
        boundaries.append(len(tokens))
    segments, previous = [], 0
    for boundary in boundaries:
        piece = tokens[previous:boundary]
        segments.append(TimedTokens(_seconds(piece[0], timestamp_begin), _seconds(piece[-1], timestamp_begin), piece))
        previous = boundary
    if single_ending:
        return WindowSegments(tuple(segments), None)
    tail = tokens[previous:]
    if keep_tail and any(not timed for timed in is_time[previous:]):
        start = _seconds(tail[0], timestamp_begin) if tail[0] >= timestamp_begin else segments[-1].end
        segments.append(TimedTokens(start, content_seconds, tail))
    last_timestamp = tokens[previous - 1] - timestamp_begin
    return WindowSegments(tuple(segments), last_timestamp * ENCODER_STRIDE)


def single_timestamp_ending(tokens: tuple[int, ...], timestamp_begin: int) -> bool:
    """The window ends with one timestamp after text: Whisper saw its speech end, the window is consumed whole."""
    return len(tokens) >= 2 and tokens[-2] < timestamp_begin <= tokens[-1]


def _unpaired(tokens, is_time, timestamp_begin: int, content_seconds: float) -> TimedTokens:
    """No closed segment: the whole window is one segment, ending at its last timestamp if there is one."""
    times = [token for token, timed in zip(tokens, is_time) if timed]
    end = content_seconds
    if times and times[-1] != timestamp_begin:
        end = _seconds(times[-1], timestamp_begin)
    return TimedTokens(0.0, end, tuple(tokens))


def _seconds(token: int, timestamp_begin: int) -> float:
    return (token - timestamp_begin) * SECONDS_PER_TIMESTAMP
