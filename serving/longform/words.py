"""Words of a window placed in time: openai/whisper's heuristics over the DTW timings (``timing.py``:
``merge_punctuations``, the sentence-end and pause rules of ``add_word_timestamps``), and each draft segment given
its words. Torch-free: the timings come from :mod:`serving.engine.alignment`."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from serving.engine.decoded import WordTiming
from serving.results import Word

if TYPE_CHECKING:
    from serving.longform.plans import Draft

PREPEND_PUNCTUATION = "\"'“¿([{-"
APPEND_PUNCTUATION = "\"'.。,，!！?？:：”)]}、"
SENTENCE_END = ".。!！?？"
LONGEST_MEDIAN_WORD = 0.7  # seconds: a cap on the median word duration used by the heuristics
PAUSE_MEDIANS = 4  # a word this many median words after the last speech follows a pause (openai's heuristic)
SEGMENT_PREFERENCE_SECONDS = 0.5  # how much longer a first/last word may be before the segment's timestamp wins


def merge_punctuation(timings: list[WordTiming]) -> None:
    """Opening punctuation joins the following word, closing punctuation the preceding one (emptied in place)."""
    following = len(timings) - 1
    for i in range(len(timings) - 2, -1, -1):
        previous, target = timings[i], timings[following]
        if previous.word.startswith(" ") and previous.word.strip() in PREPEND_PUNCTUATION:
            target.word, target.tokens = previous.word + target.word, previous.tokens + target.tokens
            previous.word, previous.tokens = "", ()
        else:
            following = i
    preceding = 0
    for j in range(1, len(timings)):
        target, current = timings[preceding], timings[j]
        if not target.word.endswith(" ") and current.word in APPEND_PUNCTUATION:
            target.word, target.tokens = target.word + current.word, target.tokens + current.tokens
            current.word, current.tokens = "", ()
        else:
            preceding = j


def median_word_seconds(timings: list[WordTiming]) -> float:
    durations = [t.end - t.start for t in timings if t.end > t.start]
    return min(LONGEST_MEDIAN_WORD, float(np.median(durations))) if durations else 0.0


def clip_sentence_ends(timings: list[WordTiming], longest: float) -> None:
    """Words at sentence boundaries may not last more than ``longest`` (twice the median word)."""
    if longest <= 0:
        return
    for i in range(1, len(timings)):
        if timings[i].end - timings[i].start > longest:
            if timings[i].word in SENTENCE_END:
                timings[i].end = timings[i].start + longest
            elif timings[i - 1].word in SENTENCE_END:
                timings[i].start = timings[i].end - longest


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
                                  round(timing.probability, 4), tuple(timing.tokens)))
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
    return replace(word, start=round(start, 2), end=round(end, 2))
