"""Specification of chunked long-form's seam merge (``serving.longform.chunked``), on hand-built word lists.

Two consecutive windows overlap in ``[overlap_start, overlap_end]``. ``_seam`` says how many words the earlier
window keeps (a prefix) and from which word the later one is kept: every word heard by both windows is taken once,
the switch happens at the matched word pair nearest the overlap's middle (runs of agreeing words preferred), and
without a match the middle of the overlap is the cut. ``_disagree`` detects a seam where the later window did not
hear the earlier one's words (a repair is then decoded). No model: words, drafts and windows are built by hand.
"""

from __future__ import annotations

import itertools
import random

import pytest

from serving.constants import SAMPLE_RATE, WINDOW_SAMPLES
from serving.engine.decoded import DecodedWindow
from serving.longform.chunked import (
    AGREEING_RUN,
    DISAGREEMENT_MIN_WORDS,
    MATCH_AGREEMENT_SECONDS,
    _best_match,
    _disagree,
    _kept_segments,
    _Placed,
    _seam,
    window_starts,
)
from serving.longform.drafts import Draft
from serving.results import Word

OVERLAP = (25.0, 30.0)  # a window [0, 30) followed by one from 25 s: the cut without a match is 27.5 s


def placed(*words: tuple[str, float, float], draft: int = 0) -> list[_Placed]:
    """Words (text, start, end) of one window, all in one draft."""
    return [_Placed(Word(text, start, end, 0.9), draft, i) for i, (text, start, end) in enumerate(words)]


def merged(earlier: list[_Placed], later: list[_Placed], overlap=OVERLAP) -> list[tuple[str, float]]:
    """The words of the two windows after the seam: (text, start), earlier window's first."""
    keep_earlier, first_later = _seam(earlier, later, *overlap)
    return [(p.word.word, p.word.start) for p in earlier[:keep_earlier] + later[first_later:]]


def every_second(first: int, last: int, shift: float = 0.0, duration: float = 0.6) -> list[tuple[str, float, float]]:
    """Word ' w{k}' spoken at [k, k + duration) (plus ``shift``), for k in [first, last]."""
    return [(f" w{k}", k + shift, k + shift + duration) for k in range(first, last + 1)]


# ---- window_starts -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "seconds, overlap, expected_seconds",
    [
        (0.5, 5.0, [0]),
        (30.0, 5.0, [0]),  # exactly one window: no second one
        (30.0 + 1 / SAMPLE_RATE, 5.0, [0, 25]),  # one sample more: a second window, 25 s on
        (55.0, 5.0, [0, 25]),  # the second window reaches the end exactly
        (60.0, 5.0, [0, 25, 50]),
        (60.0, 10.0, [0, 20, 40]),
        (90.0, 0.0, [0, 30, 60]),
    ],
)
def test_window_starts_step_by_the_window_less_the_overlap_until_a_window_reaches_the_end(
    seconds, overlap, expected_seconds
):
    samples = round(seconds * SAMPLE_RATE)
    starts = window_starts(samples, overlap)
    assert starts == [s * SAMPLE_RATE for s in expected_seconds]
    assert starts[-1] + WINDOW_SAMPLES >= samples  # the last window covers the end
    assert all(later - earlier <= WINDOW_SAMPLES for earlier, later in itertools.pairwise(starts))  # no gap


# ---- _seam: words heard by both windows -------------------------------------------------------------------------


def test_words_heard_by_both_windows_are_taken_once_cut_at_the_matched_word_nearest_the_middle():
    earlier = placed(*every_second(0, 29))  # w29 ends at 29.6, inside the window
    later = placed(*every_second(25, 50))
    keep_earlier, first_later = _seam(earlier, later, *OVERLAP)
    # Middles of w25..w29 are 25.3 .. 29.3; w27 (27.3) is the nearest to 27.5: kept from the earlier window.
    assert (keep_earlier, first_later) == (28, 3)
    assert [w for w, _ in merged(earlier, later)] == [f" w{k}" for k in range(51)]


def test_the_matched_word_is_taken_from_the_earlier_window_and_the_rest_from_the_later_one():
    earlier = placed(*every_second(20, 29, shift=0.1))
    later = placed(*every_second(25, 35, shift=-0.1))  # the later window times the same words 0.2 s earlier
    words = merged(earlier, later)
    assert [w for w, _ in words] == [f" w{k}" for k in range(20, 36)]
    assert dict(words)[" w27"] == pytest.approx(27.1)  # earlier window's timing up to the cut
    assert dict(words)[" w28"] == pytest.approx(27.9)  # later window's from the next word on


def test_the_cut_follows_the_middle_of_the_overlap():
    earlier = placed(*every_second(0, 29))
    later = placed(*every_second(20, 40))
    # Overlap [20, 30): middle 25; w24 (middle 24.3) and w25 (25.3) are 0.7 and 0.3 away: w25 is the cut.
    assert _seam(earlier, later, 20.0, 30.0) == (26, 6)
    assert [w for w, _ in merged(earlier, later, (20.0, 30.0))] == [f" w{k}" for k in range(41)]


def test_matching_ignores_case_and_punctuation():
    # " Then" (middle 27.4) and " then," (27.55) lie on both sides of the middle cut: unmatched, both would be kept.
    earlier = placed((" So", 24.0, 24.5), (" Hello,", 25.0, 25.5), (" world.", 26.0, 26.5), (" Then", 27.0, 27.8))
    later = placed((" hello", 25.1, 25.5), (" World", 26.0, 26.5), (" then,", 27.2, 27.9), (" more", 28.5, 29.0))
    assert _best_match(earlier[1:], later, 27.5) == (2, 2)
    assert [w for w, _ in merged(earlier, later)] == [" So", " Hello,", " world.", " Then", " more"]


def test_punctuation_alone_is_never_the_matched_word():
    # " -" normalises to "" in both windows and sits right at the cut; it must not be chosen as the matched pair.
    earlier = placed((" a", 25.5, 26.0), (" b", 26.2, 26.6), (" -", 27.4, 27.6), (" c", 28.6, 29.0))
    later = placed((" a", 25.5, 26.0), (" b", 26.2, 26.6), (" -", 27.4, 27.6), (" c", 28.6, 29.0))
    pair = _best_match(earlier, later, 27.5)
    assert pair is not None and later[pair[1]].word.word != " -"
    assert [w for w, _ in merged(earlier, later)] == [" a", " b", " -", " c"]


def test_a_run_of_agreeing_words_is_preferred_to_a_lone_match_nearer_the_cut():
    # difflib matches (" alpha", " beta") as a block of two, and " x" alone; " x" is at the cut, beta 1.5 s away.
    earlier = placed((" alpha", 25.5, 25.9), (" beta", 25.8, 26.2), (" gamma", 26.6, 27.0), (" x", 27.3, 27.7),
                     (" delta", 28.0, 28.4))
    later = placed((" alpha", 25.5, 25.9), (" beta", 25.8, 26.2), (" zeta", 26.6, 27.0), (" x", 27.3, 27.7),
                   (" eta", 28.0, 28.4))
    assert _best_match(earlier, later, 27.5) == (1, 1)  # beta, not x
    assert _seam(earlier, later, *OVERLAP) == (2, 2)


def test_a_lone_match_is_used_when_no_run_agrees():
    earlier = placed((" one", 25.5, 25.9), (" x", 27.3, 27.7), (" two", 28.0, 28.4))
    later = placed((" three", 25.5, 25.9), (" x", 27.3, 27.7), (" four", 28.0, 28.4))
    assert _best_match(earlier, later, 27.5) == (1, 1)
    assert [w for w, _ in merged(earlier, later)] == [" one", " x", " four"]


def test_the_same_text_timed_too_far_apart_is_not_a_match():
    shift = MATCH_AGREEMENT_SECONDS + 0.1
    earlier = placed((" same", 26.0, 26.4), (" words", 27.0, 27.4))
    later = placed((" same", 26.0 + shift, 26.4 + shift), (" words", 27.0 + shift, 27.4 + shift))
    assert _best_match(earlier, later, 27.5) is None
    near = placed((" same", 26.0 + 1.4, 26.4 + 1.4), (" words", 27.0 + 1.4, 27.4 + 1.4))
    assert _best_match(earlier, near, 27.5) is not None  # 1.4 s apart still agrees


def test_a_repeated_word_is_matched_to_its_own_occurrence_in_time():
    # " the" occurs twice; the later window's first " the" is timed like the earlier window's second one.
    earlier = placed((" the", 25.2, 25.4), (" cat", 25.6, 26.0), (" the", 27.3, 27.5), (" dog", 28.0, 28.4))
    later = placed((" the", 27.3, 27.5), (" dog", 28.0, 28.4), (" ran", 29.0, 29.5))
    assert [w for w, _ in merged(earlier, later)] == [" the", " cat", " the", " dog", " ran"]


# ---- _seam: no match, empty sides --------------------------------------------------------------------------------


def test_without_a_match_the_middle_of_the_overlap_is_the_cut():
    earlier = placed((" a", 20.0, 20.5), (" b", 26.0, 26.5), (" c", 27.0, 27.9), (" d", 28.0, 28.5))
    later = placed((" x", 25.5, 26.0), (" y", 27.0, 27.9), (" z", 28.0, 28.5), (" after", 31.0, 31.5))
    # Middles: c 27.45 < 27.5 is kept from the earlier window; y (27.45) is dropped from the later, z (28.25) kept.
    assert _seam(earlier, later, *OVERLAP) == (3, 2)
    assert [w for w, _ in merged(earlier, later)] == [" a", " b", " c", " z", " after"]


def test_a_later_window_without_words_in_the_overlap_keeps_all_of_the_earlier_one():
    earlier = placed(*every_second(20, 29))
    later = placed((" late", 30.5, 31.0), (" words", 31.5, 32.0))
    assert _seam(earlier, later, *OVERLAP) == (len(earlier), 0)
    assert _seam(earlier, [], *OVERLAP) == (len(earlier), 0)


def test_an_earlier_window_without_words_in_the_overlap_keeps_all_of_the_later_one():
    earlier = placed((" early", 10.0, 10.5), (" end", 24.0, 25.0))  # ends exactly at the overlap start
    later = placed(*every_second(25, 35))
    assert _seam(earlier, later, *OVERLAP) == (2, 0)
    assert _seam([], later, *OVERLAP) == (0, 0)
    assert _seam([], [], *OVERLAP) == (0, 0)


def test_words_of_the_later_window_after_the_overlap_are_kept_even_without_a_match():
    earlier = placed((" a", 26.0, 26.5))
    later = placed((" b", 28.0, 28.5), (" c", 30.0, 30.5))  # c starts at the overlap end: outside the overlap
    assert [w for w, _ in merged(earlier, later)] == [" a", " b", " c"]


@pytest.mark.parametrize("seed", range(40))
def test_random_speech_heard_by_both_windows_comes_out_exactly_once(seed):
    """Distinct words at random times; each window hears the words inside it, timed with up to 0.4 s of error."""
    rng = random.Random(seed)
    words, t = [], rng.uniform(0.0, 1.0)
    while t < 58.0:
        duration = rng.uniform(0.15, 0.9)
        words.append((f" word{len(words)}", t, t + duration))
        t += duration + rng.choice([0.0, rng.uniform(0.0, 0.4), rng.uniform(0.0, 1.5)])
    overlap = (rng.choice([24.0, 25.0, 27.0]), 30.0)

    def heard(lo: float, hi: float) -> list[_Placed]:
        inside = [(w, s + rng.uniform(-0.4, 0.4), e + rng.uniform(-0.4, 0.4)) for w, s, e in words if s >= lo and e <= hi]
        return placed(*[(w, round(s, 2), round(max(s, e), 2)) for w, s, e in inside])

    earlier, later = heard(0.0, overlap[1]), heard(overlap[0], 60.0)
    expected = [w for w, s, e in words if e <= overlap[1] or s >= overlap[0]]
    assert [w for w, _ in merged(earlier, later, overlap)] == expected


# ---- _disagree --------------------------------------------------------------------------------------------------


def test_windows_that_heard_the_same_words_agree():
    earlier = placed(*every_second(20, 29))
    later = placed(*every_second(25, 40, shift=0.3))
    assert not _disagree(earlier, later, *OVERLAP)


def test_a_later_window_that_heard_nothing_of_the_earlier_ones_overlap_words_disagrees():
    earlier = placed(*every_second(20, 29))
    assert _disagree(earlier, placed((" after", 31.0, 31.5)), *OVERLAP)
    assert _disagree(earlier, [], *OVERLAP)


def test_a_later_window_that_heard_other_words_disagrees():
    earlier = placed(*every_second(20, 29))
    later = placed(*[(f" other{k}", k, k + 0.6) for k in range(25, 35)])
    assert _disagree(earlier, later, *OVERLAP)


def test_one_matched_word_is_not_agreement_but_a_run_of_two_is():
    assert AGREEING_RUN == 2
    earlier = placed((" a", 25.0, 25.5), (" b", 26.0, 26.5), (" c", 27.0, 27.5), (" d", 28.0, 28.5))
    one = placed((" x", 25.0, 25.5), (" b", 26.0, 26.5), (" y", 27.0, 27.5), (" z", 28.0, 28.5))
    two = placed((" x", 25.0, 25.5), (" b", 26.0, 26.5), (" c", 27.0, 27.5), (" z", 28.0, 28.5))
    assert _disagree(earlier, one, *OVERLAP)
    assert not _disagree(earlier, two, *OVERLAP)


def test_a_run_of_the_same_words_timed_too_far_apart_is_not_agreement():
    earlier = placed((" a", 25.0, 25.5), (" b", 26.0, 26.5), (" c", 27.0, 27.5))
    shift = MATCH_AGREEMENT_SECONDS + 0.2
    later = placed(*[(w.word.word, w.word.start + shift, w.word.end + shift) for w in earlier])
    assert _disagree(earlier, later, *OVERLAP)


def test_too_few_earlier_words_in_the_overlap_never_disagree():
    assert DISAGREEMENT_MIN_WORDS == 3
    two = placed((" early", 10.0, 11.0), (" a", 26.0, 26.5), (" b", 27.0, 27.5))
    three = placed((" early", 10.0, 11.0), (" a", 26.0, 26.5), (" b", 27.0, 27.5), (" c", 28.0, 28.5))
    assert not _disagree(two, [], *OVERLAP)
    assert _disagree(three, [], *OVERLAP)


def test_words_count_in_the_overlap_when_they_cross_its_edges():
    # a word straddling the overlap start counts for the earlier window; one straddling its end for the later one.
    earlier = placed((" a", 24.5, 25.2), (" b", 26.0, 26.5), (" c", 27.0, 27.5))
    assert _disagree(earlier, placed((" z", 29.8, 30.4)), *OVERLAP)
    assert _disagree(earlier, placed((" z", 24.0, 24.9)), *OVERLAP)  # z ends before the overlap: not heard there
    just_before = placed((" a", 24.0, 25.0), (" b", 26.0, 26.5), (" c", 27.0, 27.5))  # a ends at the start
    assert not _disagree(just_before, [], *OVERLAP)


# ---- _kept_segments ----------------------------------------------------------------------------------------------


DECODED = DecodedWindow(tokens=(1, 2, 3), sum_logprob=-1.2, no_speech_prob=0.05, temperature=0.2, ended=True)


def draft(start: float, end: float, words: list[tuple[str, float, float]], first_token: int) -> Draft:
    tokens = [(first_token + 10 * i, first_token + 10 * i + 1) for i in range(len(words))]  # two tokens per word
    flat = tuple(t for pair in tokens for t in pair)
    return Draft(start=start, end=end, tokens=(900, *flat, 901), text="".join(w for w, _, _ in words),
                 text_tokens=flat, decoded=DECODED, words=[Word(w, s, e, 0.9) for w, s, e in words],
                 word_tokens=tokens)


def placed_of(drafts: list[Draft]) -> list[_Placed]:
    return [_Placed(w, d, i) for d, dr in enumerate(drafts) for i, w in enumerate(dr.words)]


def test_whole_drafts_are_kept_as_they_are():
    drafts = [draft(0.0, 2.0, [(" a", 0.1, 0.5), (" b", 0.6, 1.9)], 100),
              draft(2.0, 4.0, [(" c", 2.1, 2.5), (" d", 2.6, 3.8)], 200)]
    segments = _kept_segments(drafts, placed_of(drafts), with_words=True)
    assert segments == [drafts[0].freeze(True), drafts[1].freeze(True)]
    assert segments[0].tokens == (900, 100, 101, 110, 111, 901)  # with the timestamp tokens
    assert [s.words for s in _kept_segments(drafts, placed_of(drafts), with_words=False)] == [(), ()]


def test_a_draft_cut_at_the_end_keeps_its_start_and_ends_with_its_last_kept_word():
    drafts = [draft(0.0, 4.0, [(" a", 0.1, 0.5), (" b", 0.6, 1.9), (" c", 2.1, 3.9)], 100)]
    (segment,) = _kept_segments(drafts, placed_of(drafts)[:2], with_words=True)
    assert (segment.start, segment.end, segment.text) == (0.0, 1.9, " a b")
    assert segment.tokens == (100, 101, 110, 111)  # the kept words' tokens only
    assert [w.word for w in segment.words] == [" a", " b"]
    assert (segment.avg_logprob, segment.no_speech_prob, segment.temperature) == (-0.3, 0.05, 0.2)


def test_a_draft_cut_at_the_start_starts_with_its_first_kept_word_and_keeps_its_end():
    drafts = [draft(0.0, 4.0, [(" a", 0.1, 0.5), (" b", 0.6, 1.9), (" c", 2.1, 3.9)], 100)]
    (segment,) = _kept_segments(drafts, placed_of(drafts)[1:], with_words=True)
    assert (segment.start, segment.end, segment.text) == (0.6, 4.0, " b c")
    assert segment.tokens == (110, 111, 120, 121)


def test_kept_words_spanning_drafts_give_one_segment_per_draft():
    drafts = [draft(0.0, 2.0, [(" a", 0.1, 0.5), (" b", 0.6, 1.9)], 100),
              draft(2.0, 4.0, [(" c", 2.1, 2.5), (" d", 2.6, 3.8)], 200),
              draft(4.0, 6.0, [(" e", 4.1, 4.5)], 300)]
    segments = _kept_segments(drafts, placed_of(drafts)[1:3], with_words=True)
    assert [(s.start, s.end, s.text) for s in segments] == [(0.6, 2.0, " b"), (2.0, 2.5, " c")]
    assert _kept_segments(drafts, [], with_words=True) == []
