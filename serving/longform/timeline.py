"""The last step of every plan: segments and words made monotonic and non-overlapping and kept inside the audio
(every time finite: a NaN from degenerate audio is taken as the earliest time it may have, infinities are clamped).
Each time depends only on the ones before it, so the timeline of a prefix is a prefix of the timeline (streaming's
final segments never change)."""

from __future__ import annotations

from dataclasses import replace

from serving.results import Segment


def clamp_timeline(segments: list[Segment], duration: float) -> list[Segment]:
    """Monotonic, non-overlapping and inside the audio: each segment starts no earlier than the one before it ends,
    and so does each word; nothing ends after ``duration``."""
    result, segment_floor, word_floor = [], 0.0, 0.0
    for segment in segments:
        words = []
        for word in segment.words:
            start = _clamped(word.start, word_floor, duration)
            end = _clamped(word.end, start, duration)
            words.append(replace(word, start=round(start, 3), end=round(end, 3)))
            word_floor = end
        start = _clamped(segment.start, segment_floor, duration)
        end = _clamped(segment.end, start, duration)
        segment_floor = end
        result.append(Segment(start=round(start, 3), end=round(end, 3), text=segment.text, tokens=segment.tokens,
                              avg_logprob=segment.avg_logprob, no_speech_prob=segment.no_speech_prob,
                              compression_ratio=segment.compression_ratio, temperature=segment.temperature,
                              words=tuple(words)))
    return result


def _clamped(value: float, low: float, high: float) -> float:
    """``min(max(value, low), high)``, with NaN taken as ``low`` (``max`` would keep it)."""
    return min(value, high) if value >= low else min(low, high)
