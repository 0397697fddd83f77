"""Specification of ``serving.longform.words``: openai/whisper's word heuristics over DTW timings.

The reference below restates, on plain dicts, the part of openai/whisper's ``whisper/timing.py`` (release 20250625)
that runs after ``find_alignment``: ``merge_punctuations`` and the rest of ``add_word_timestamps`` (median word
duration capped at 0.7 s, long words at sentence ends clipped, each segment given its words by token count, the first
words after a pause shortened, the segment's own timestamps preferred to a too-long first or last word). Our code
rounds a heuristically moved time to 10 ms where openai keeps the exact value: times are compared to 11 ms.
"""

from __future__ import annotations

import copy
import random

import numpy as np
import pytest

from serving.engine.decoded import DecodedWindow, WordTiming
from serving.longform.drafts import Draft
from serving.longform.words import (
    APPEND_PUNCTUATION,
    LONGEST_MEDIAN_WORD,
    PREPEND_PUNCTUATION,
    SENTENCE_END,
    attach_words,
    clip_sentence_ends,
    median_word_seconds,
    merge_punctuation,
)

DECODED = DecodedWindow(tokens=(), sum_logprob=-1.0, no_speech_prob=0.1, temperature=0.0, ended=True)
TIME = 0.011  # seconds: openai's unrounded heuristic times against our 10 ms rounding


def reference_merge(alignment: list[dict]) -> None:
    """openai's merge_punctuations: opening punctuation (after a space) joins the next kept word, walking backwards;
    closing punctuation joins the previous kept word unless that ends with a space, walking forwards."""
    following = len(alignment) - 1
    for i in range(len(alignment) - 2, -1, -1):
        before, after = alignment[i], alignment[following]
        if before["word"].startswith(" ") and before["word"].strip() in PREPEND_PUNCTUATION:
            after["word"], after["tokens"] = before["word"] + after["word"], before["tokens"] + after["tokens"]
            before["word"], before["tokens"] = "", []
        else:
            following = i
    kept = 0
    for j in range(1, len(alignment)):
        before, after = alignment[kept], alignment[j]
        if not before["word"].endswith(" ") and after["word"] in APPEND_PUNCTUATION:
            before["word"], before["tokens"] = before["word"] + after["word"], before["tokens"] + after["tokens"]
            after["word"], after["tokens"] = "", []
        else:
            kept = j


def reference_attach(segments: list[dict], alignment: list[dict], offset: float, last_speech: float) -> float:
    """openai's add_word_timestamps after the alignment. ``segments``: dicts with absolute start/end and the number
    of text tokens; each gets ``words``. Returns the last speech timestamp."""
    durations = [t["end"] - t["start"] for t in alignment if t["end"] - t["start"] != 0]
    median = min(0.7, float(np.median(durations))) if durations else 0.0
    longest = median * 2
    if durations:
        for i in range(1, len(alignment)):
            if alignment[i]["end"] - alignment[i]["start"] > longest:
                if alignment[i]["word"] in SENTENCE_END:
                    alignment[i]["end"] = alignment[i]["start"] + longest
                elif alignment[i - 1]["word"] in SENTENCE_END:
                    alignment[i]["start"] = alignment[i]["end"] - longest
    reference_merge(alignment)
    index = 0
    for segment in segments:
        saved, words = 0, []
        while index < len(alignment) and saved < segment["tokens"]:
            timing = alignment[index]
            if timing["word"]:
                words.append({"word": timing["word"], "start": round(offset + timing["start"], 2),
                              "end": round(offset + timing["end"], 2)})
            saved += len(timing["tokens"])
            index += 1
        if words:
            first = words[0]
            after_pause = first["end"] - last_speech > median * 4
            too_long = first["end"] - first["start"] > longest or (
                len(words) > 1 and words[1]["end"] - first["start"] > longest * 2)
            if after_pause and too_long:
                if len(words) > 1 and words[1]["end"] - words[1]["start"] > longest:
                    boundary = max(words[1]["end"] / 2, words[1]["end"] - longest)
                    first["end"] = words[1]["start"] = boundary
                first["start"] = max(0, first["end"] - longest)
            if segment["start"] < first["end"] and segment["start"] - 0.5 > first["start"]:
                first["start"] = max(0, min(first["end"] - median, segment["start"]))
            else:
                segment["start"] = first["start"]
            if segment["end"] > words[-1]["start"] and segment["end"] + 0.5 < words[-1]["end"]:
                words[-1]["end"] = max(words[-1]["start"] + median, segment["end"])
            else:
                segment["end"] = words[-1]["end"]
            last_speech = segment["end"]
        segment["words"] = words
    return last_speech


def timing(word: str, start: float, end: float, tokens: int = 1, probability: float = 0.5, first: int = 0):
    return WordTiming(word, tuple(range(first, first + tokens)), start, end, probability)


def timings_of(*words: tuple[str, float, float]) -> list[WordTiming]:
    return [timing(w, s, e, first=10 * i) for i, (w, s, e) in enumerate(words)]


def draft(start: float, end: float, text_tokens: int) -> Draft:
    return Draft(start=start, end=end, tokens=(), text="", text_tokens=tuple(range(text_tokens)), decoded=DECODED)


def words_of(d: Draft) -> list[tuple[str, float, float]]:
    return [(w.word, w.start, w.end) for w in d.words]


# ---- merge_punctuation -------------------------------------------------------------------------------------------


def test_closing_punctuation_joins_the_previous_word_and_opening_punctuation_the_next():
    timings = [timing(" He", 0, 1, first=0), timing(" said", 1, 2, first=1), timing(" \"", 2, 2.1, first=2),
               timing("Hi", 2.1, 3, first=3), timing(",", 3, 3.1, first=4), timing("\"", 3.1, 3.2, first=5),
               timing(" (", 3.2, 3.3, first=6), timing("yes", 3.3, 4, first=7), timing(")", 4, 4.1, first=8),
               timing(".", 4.1, 4.2, first=9)]
    merge_punctuation(timings)
    assert [t.word for t in timings] == [" He", " said", "", " \"Hi,\"", "", "", "", " (yes).", "", ""]
    assert [t.tokens for t in timings if t.word] == [(0,), (1,), (2, 3, 4, 5), (6, 7, 8, 9)]
    assert [t.start for t in timings] == [0, 1, 2, 2.1, 3, 3.1, 3.2, 3.3, 4, 4.1]  # times are not touched


def test_punctuation_is_not_appended_to_a_word_ending_with_a_space_nor_prepended_without_one():
    timings = [timing(" a ", 0, 1), timing(".", 1, 2), timing("(", 2, 3), timing("b", 3, 4)]
    merge_punctuation(timings)
    # " a " ends with a space: the "." stays apart; "(" has no leading space: it is not an opening mark here.
    assert [t.word for t in timings] == [" a ", ".", "(", "b"]


def test_only_listed_marks_merge():
    timings = [timing(" a", 0, 1), timing(";", 1, 2), timing(" *", 2, 3), timing(" b", 3, 4)]
    merge_punctuation(timings)
    assert [t.word for t in timings] == [" a", ";", " *", " b"]


@pytest.mark.parametrize("seed", range(200))
def test_merge_punctuation_is_openais_merge_punctuations(seed):
    rng = random.Random(seed)
    pool = [" word", "word", " x", " \"", "\"", " (", ")", ".", ",", "?", " -", "-", " ¿", "、", "”", " “", "'", " '",
            " a ", "!", "。"]
    timings = [timing(rng.choice(pool), i, i + 1, tokens=rng.randint(1, 2), first=10 * i)
               for i in range(rng.randint(0, 12))]
    expected = [{"word": t.word, "tokens": list(t.tokens)} for t in timings]
    reference_merge(expected)
    merge_punctuation(timings)
    assert [(t.word, list(t.tokens)) for t in timings] == [(e["word"], e["tokens"]) for e in expected]


# ---- median_word_seconds, clip_sentence_ends ---------------------------------------------------------------------


def test_the_median_word_ignores_zero_length_words_and_is_capped():
    assert median_word_seconds(timings_of((" a", 0, 0.2), (" b", 1, 1.4), (" c", 2, 2.6), (" d", 3, 3))) == \
        pytest.approx(0.4)
    assert median_word_seconds(timings_of((" a", 0, 2), (" b", 2, 4))) == LONGEST_MEDIAN_WORD == 0.7
    assert median_word_seconds(timings_of((" a", 1, 1))) == 0.0
    assert median_word_seconds([]) == 0.0


def test_a_long_sentence_end_mark_is_cut_to_twice_the_median_word():
    timings = timings_of((" a", 0, 0.3), (".", 0.3, 3.0), (" b", 3.0, 3.3))
    clip_sentence_ends(timings, 0.6)
    assert [(t.start, t.end) for t in timings] == [(0, 0.3), (0.3, pytest.approx(0.9)), (3.0, 3.3)]


def test_a_long_word_after_a_sentence_end_starts_at_most_twice_the_median_word_before_its_end():
    timings = timings_of((" a", 0, 0.3), ("?", 0.3, 0.4), (" b", 0.4, 3.0), (" c", 3.0, 5.0))
    clip_sentence_ends(timings, 0.6)
    assert [(t.start, t.end) for t in timings] == [(0, 0.3), (0.3, 0.4), (pytest.approx(2.4), 3.0), (3.0, 5.0)]


def test_the_first_word_and_words_within_the_limit_are_never_clipped():
    timings = timings_of((".", 0, 5.0), (" b", 5.0, 5.6))
    clip_sentence_ends(timings, 0.6)
    assert [(t.start, t.end) for t in timings] == [(0, 5.0), (5.0, 5.6)]
    nothing = timings_of((" a", 0, 0.3), (".", 0.3, 3.0))
    clip_sentence_ends(nothing, 0.0)  # no median word (no timings with a length): nothing to compare with
    assert nothing[1].end == 3.0


# ---- attach_words ------------------------------------------------------------------------------------------------


def test_words_are_given_to_drafts_by_token_count_with_the_offset_added_and_rounded():
    timings = [timing(" a", 0.1, 0.4, tokens=2, first=0), timing(" b", 0.4, 0.8, first=2),
               timing(" c", 1.0, 1.3, first=3), timing(" d", 1.3, 1.6666, first=4)]
    drafts = [draft(10.1, 10.8, 3), draft(11.0, 11.6666, 2)]
    last = attach_words(drafts, timings, offset=10.0, last_speech=10.0)
    assert words_of(drafts[0]) == [(" a", 10.1, 10.4), (" b", 10.4, 10.8)]
    assert words_of(drafts[1]) == [(" c", 11.0, 11.3), (" d", 11.3, 11.67)]
    assert drafts[0].word_tokens == [(0, 1), (2,)] and drafts[1].word_tokens == [(3,), (4,)]
    assert [w.probability for w in drafts[0].words] == [0.5, 0.5]
    assert (drafts[1].start, drafts[1].end) == (11.0, 11.67)  # the segment takes its words' times
    assert last == 11.67


def test_the_input_timings_are_not_changed():
    timings = timings_of((" a", 0, 0.3), (".", 0.3, 3.0), (" b", 3.0, 3.3))
    kept = copy.deepcopy(timings)
    attach_words([draft(0, 3.3, 3)], timings, 0.0, 0.0)
    assert timings == kept


def test_merged_punctuation_appears_once_in_the_draft_holding_its_word():
    timings = [timing(" Hi", 0.0, 0.3, first=0), timing(",", 0.3, 0.4, first=1), timing(" you", 0.5, 0.8, first=2)]
    drafts = [draft(0.0, 0.4, 2), draft(0.5, 0.8, 1)]
    attach_words(drafts, timings, 0.0, 0.0)
    assert [w.word for w in drafts[0].words] == [" Hi,"] and drafts[0].word_tokens == [(0, 1)]
    assert [w.word for w in drafts[1].words] == [" you"]


def test_the_first_word_after_a_pause_is_shortened_to_twice_the_median_word():
    # Median word 0.3 s; " long" ends 5 s after the last speech (more than 4 medians) and lasts 3 s.
    timings = timings_of((" long", 2.0, 5.0), (" b", 5.0, 5.3), (" c", 5.3, 5.6), (" d", 5.6, 5.9))
    drafts = [draft(2.0, 5.9, 4)]
    attach_words(drafts, timings, 0.0, last_speech=0.0)
    assert words_of(drafts[0])[0] == (" long", 4.4, 5.0)
    assert drafts[0].start == 4.4


def test_a_long_first_word_without_a_pause_before_it_is_kept():
    timings = timings_of((" long", 2.0, 5.0), (" b", 5.0, 5.3), (" c", 5.3, 5.6), (" d", 5.6, 5.9))
    drafts = [draft(2.0, 5.9, 4)]
    attach_words(drafts, timings, 0.0, last_speech=4.5)
    assert words_of(drafts[0])[0] == (" long", 2.0, 5.0)


def test_after_a_pause_a_long_second_word_is_split_with_the_first():
    timings = timings_of((" a", 2.0, 3.0), (" b", 3.0, 6.0), (" c", 6.0, 6.3), (" d", 6.3, 6.6), (" e", 6.6, 6.9))
    drafts = [draft(2.0, 6.9, 5)]
    attach_words(drafts, timings, 0.0, last_speech=0.0)
    # median 0.3, longest 0.6: boundary = max(6.0 / 2, 6.0 - 0.6) = 5.4; " a" ends there and starts 0.6 before.
    assert words_of(drafts[0])[:2] == [(" a", 4.8, 5.4), (" b", 5.4, 6.0)]


def test_a_segment_start_well_after_the_first_word_start_wins():
    timings = timings_of((" a", 1.0, 3.0), (" b", 3.0, 3.3), (" c", 3.3, 3.6))
    drafts = [draft(2.0, 3.6, 3)]
    attach_words(drafts, timings, 0.0, last_speech=2.9)  # no pause: only the segment-edge rule applies
    # The segment says 2.0, the word 1.0 (more than 0.5 s earlier): the word starts at min(3.0 - median, 2.0).
    assert words_of(drafts[0])[0] == (" a", 2.0, 3.0)
    assert drafts[0].start == 2.0
    close = [draft(1.4, 3.6, 3)]
    attach_words(close, timings, 0.0, last_speech=2.9)  # only 0.4 s apart: the word's start wins
    assert words_of(close[0])[0] == (" a", 1.0, 3.0) and close[0].start == 1.0


def test_a_segment_end_well_before_the_last_word_end_wins():
    timings = timings_of((" a", 1.0, 1.3), (" b", 1.3, 1.6), (" c", 1.6, 4.0))
    drafts = [draft(1.0, 2.5, 3)]
    attach_words(drafts, timings, 0.0, last_speech=1.0)
    assert words_of(drafts[0])[-1] == (" c", 1.6, 2.5)
    assert drafts[0].end == 2.5
    close = [draft(1.0, 3.6, 3)]
    attach_words(close, timings, 0.0, last_speech=1.0)
    assert words_of(close[0])[-1] == (" c", 1.6, 4.0) and close[0].end == 4.0


def test_a_draft_without_words_keeps_its_times_and_the_last_speech():
    drafts = [draft(0.0, 1.0, 1), draft(5.0, 6.0, 0)]
    last = attach_words(drafts, timings_of((" a", 0.2, 0.9)), 0.0, last_speech=0.0)
    assert (drafts[1].start, drafts[1].end, drafts[1].words, drafts[1].word_tokens) == (5.0, 6.0, [], [])
    assert last == 0.9


@pytest.mark.parametrize("seed", range(150))
def test_attach_words_is_openais_add_word_timestamps(seed):
    rng = random.Random(seed)
    pool = [" the", " cat", "sat", " on", " mat", ".", ",", "?", " (", ")", " \"", "\"", " -", "!"]
    timings, now = [], rng.uniform(0.0, 3.0)
    for i in range(rng.randint(1, 14)):
        length = rng.choice([0.0, rng.uniform(0.05, 0.5), rng.uniform(0.5, 4.0)])
        timings.append(timing(rng.choice(pool), round(now, 2), round(now + length, 2), tokens=rng.randint(1, 2),
                              probability=rng.random(), first=10 * i))
        now += length + rng.choice([0.0, rng.uniform(0.0, 3.0)])
    total = sum(len(t.tokens) for t in timings)
    cuts = sorted(rng.sample(range(1, total), min(rng.randint(0, 2), total - 1))) if total > 1 else []
    counts = [b - a for a, b in zip([0, *cuts], [*cuts, total])]
    offset = rng.choice([0.0, 30.0, 47.36])
    edges = sorted(round(rng.uniform(0, now), 2) for _ in range(2 * len(counts)))
    segments = [{"start": offset + edges[2 * k], "end": offset + edges[2 * k + 1], "tokens": n}
                for k, n in enumerate(counts)]
    last_speech = offset + rng.choice([0.0, timings[0].start, now])
    alignment = [{"word": t.word, "tokens": list(t.tokens), "start": t.start, "end": t.end} for t in timings]

    expected_last = reference_attach(segments, alignment, offset, last_speech)
    drafts = [draft(s["start"], s["end"], s["tokens"]) for s in segments]
    got_last = attach_words(drafts, timings, offset, last_speech)

    assert got_last == pytest.approx(expected_last, abs=TIME)
    for d, segment in zip(drafts, segments):
        assert (d.start, d.end) == (pytest.approx(segment["start"], abs=TIME), pytest.approx(segment["end"], abs=TIME))
        assert words_of(d) == [(w["word"], pytest.approx(w["start"], abs=TIME), pytest.approx(w["end"], abs=TIME))
                               for w in segment["words"]]
