"""The last step of every plan: segments and words made monotonic and non-overlapping and kept inside the audio
(every time finite: a NaN from degenerate audio is taken as the earliest time it may have, infinities are clamped)."""

from __future__ import annotations

from dataclasses import replace

from serving.results import Segment, Word


def clamp_timeline(segments: list[Segment], duration: float) -> list[Segment]:
    """Monotonic, non-overlapping and inside the audio: each word starts no earlier than the one before it ends; a
    segment starting before the previous one starts begins where that one ends; one starting inside the previous
    one meets it at a boundary between their words (the previous one's last word's end, at most the segment's first
    word's start); nothing ends after ``duration``."""
    result: list[Segment] = []
    word_floor = 0.0
    for segment in segments:
        words = []
        for word in segment.words:
            start = _clamped(word.start, word_floor, duration)
            end = _clamped(word.end, start, duration)
            words.append(Word(word.word, round(start, 3), round(end, 3), word.probability))
            word_floor = end
        start = _clamped(segment.start, 0.0, duration)
        if result:
            start = _joined(result, start, words)
        end = _clamped(segment.end, start, duration)
        result.append(Segment(start=round(start, 3), end=round(end, 3), text=segment.text, tokens=segment.tokens,
                              avg_logprob=segment.avg_logprob, no_speech_prob=segment.no_speech_prob,
                              compression_ratio=segment.compression_ratio, temperature=segment.temperature,
                              words=tuple(words)))
    return result


def _joined(result: list[Segment], start: float, words: list[Word]) -> float:
    """The start of a segment after ``result[-1]``, trimming ``result[-1]``'s end where they overlap."""
    previous = result[-1]
    if start < previous.start:
        return previous.end
    if start >= previous.end:
        return start
    boundary = max(start, previous.words[-1].end if previous.words else previous.start)
    if words:
        boundary = min(boundary, words[0].start)
    boundary = round(max(boundary, previous.start, start), 3)
    result[-1] = replace(previous, end=boundary)
    return boundary


def _clamped(value: float, low: float, high: float) -> float:
    """``min(max(value, low), high)``, with NaN taken as ``low`` (``max`` would keep it)."""
    return min(value, high) if value >= low else min(low, high)
