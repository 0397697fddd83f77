"""Specification of ``serving.longform.chunked.ChunkedPlan`` driven with hand-made outcomes: no model.

Windows start every (30 s - overlap) and are all handed out at once, each decoded with timestamps and word timings.
The plan's segments are the windows' words merged at each seam, each word once (the seam rule itself is specified on
word lists in tests/test_seam_merge.py); its final segments are a prefix of them that grows as windows arrive, in
any order. A seam where the later window heard none of the earlier window's words gets one repair window, from the
start of the earlier window's segment that crosses into the overlap, which replaces the later window; a last window
whose words stop well before the end of the audio gets one tail window; silent windows give no words.

The speech is a script of words ``" w{k}"`` spoken at [k, k + 0.6) s, in sentences of five words
(tests/handmade.py); each window hears the words inside it.
"""

from __future__ import annotations

import itertools
import random

import pytest

from serving.constants import SAMPLE_RATE, WINDOW_SAMPLES
from serving.longform.chunked import REPAIR_MARGIN_SECONDS, TAIL_GAP_SECONDS, ChunkedPlan
from serving.longform.plans import WindowTask
from tests.handmade import (
    audio,
    context,
    every_second,
    heard,
    options,
    outcome,
    request,
    segment_words,
    silent,
    ts,
    words,
)


def plan(seconds: float, overlap: float = 5.0, **changes) -> ChunkedPlan:
    changes = {"long_form": "chunked", "words": True, **changes}
    return ChunkedPlan(request(), audio(seconds), options(**changes), context(overlap))


def spans(segments) -> list[tuple[float, float, str]]:
    return [(s.start, s.end, s.text) for s in segments]


def every_word(first: int, last: int) -> list[str]:
    return [f" w{k}" for k in range(first, last + 1)]


def only(tasks: list[WindowTask]) -> WindowTask:
    (task,) = tasks
    return task


# ---- the windows -------------------------------------------------------------------------------------------------


def test_windows_start_every_window_less_the_overlap_and_are_all_handed_out_at_once():
    p = plan(60.0, overlap=5.0, prompt=(7, 8), timestamps=False, words=False)
    tasks = p.pending()
    assert [(t.key, t.start, t.length, t.first) for t in tasks] == [
        (0, 0, WINDOW_SAMPLES, True), (1, 25 * SAMPLE_RATE, WINDOW_SAMPLES, False),
        (2, 50 * SAMPLE_RATE, 10 * SAMPLE_RATE, False)]
    # every window is timed and aligned to words (the merge needs them), whatever the response wants
    assert all(t.timestamps and t.words and t.prompt == (7, 8) for t in tasks)
    assert all(t.request == p.request and t.options == p.options for t in tasks)
    assert p.pending() == [] and not p.done


def test_the_overlap_is_the_contexts():
    p = plan(60.0, overlap=10.0)
    assert [(t.start, t.length) for t in p.pending()] == [
        (0, WINDOW_SAMPLES), (20 * SAMPLE_RATE, WINDOW_SAMPLES), (40 * SAMPLE_RATE, 20 * SAMPLE_RATE)]


def test_the_plan_is_done_when_every_window_is_decoded():
    script = every_second(0, 57)
    p = plan(60.0)
    tasks = p.pending()
    for task in tasks:
        assert not p.done
        p.accept(task, heard(task, script))
    assert p.done and p.pending() == []


# ---- merging ---------------------------------------------------------------------------------------------------


def test_seams_take_each_word_once_switching_windows_mid_sentence():
    script = every_second(0, 57, sentence_starts=0)  # sentences [25..29] and [50..54] cross the seams' middles
    p = plan(60.0)
    tasks = p.pending()
    outcomes = [heard(tasks[0], script), heard(tasks[1], script, shift=0.1), heard(tasks[2], script, shift=-0.1)]
    for task, result in zip(tasks, outcomes):
        p.accept(task, result)
    segments = p.segments()
    assert segment_words(segments) == every_word(0, 57)
    assert spans(segments) == [
        (0.0, 4.6, words(0, 1, 2, 3, 4)), (5.0, 9.6, words(5, 6, 7, 8, 9)), (10.0, 14.6, words(10, 11, 12, 13, 14)),
        (15.0, 19.6, words(15, 16, 17, 18, 19)), (20.0, 24.6, words(20, 21, 22, 23, 24)),
        (25.0, 27.6, words(25, 26, 27)),  # window 0 up to the matched word nearest 27.5 s ...
        (28.1, 29.7, words(28, 29)),  # ... window 1 (timed 0.1 s later) from the next one
        (30.1, 34.7, words(30, 31, 32, 33, 34)), (35.1, 39.7, words(35, 36, 37, 38, 39)),
        (40.1, 44.7, words(40, 41, 42, 43, 44)), (45.1, 49.7, words(45, 46, 47, 48, 49)),
        (50.1, 52.7, words(50, 51, 52)), (52.9, 54.5, words(53, 54)), (54.9, 57.5, words(55, 56, 57)),
    ]
    # whole segments keep their timestamp tokens; a segment cut at a seam has its kept words' tokens only
    assert segments[0].tokens == (ts(0.0), 0, 1, 2, 3, 4, ts(4.6))
    assert (segments[5].tokens, segments[6].tokens) == ((25, 26, 27), (28, 29))


def test_the_segments_carry_words_only_when_the_request_wants_them():
    script = every_second(0, 57)
    p = plan(60.0, words=False)
    for task in p.pending():
        p.accept(task, heard(task, script))
    segments = p.segments()
    assert " ".join(s.text.strip() for s in segments) == " ".join(w.strip() for w in every_word(0, 57))
    assert all(s.words == () for s in segments)


def test_a_later_window_that_heard_the_overlap_words_agrees_and_needs_no_repair():
    script = every_second(0, 57)
    p = plan(60.0)
    tasks = p.pending()
    for task in tasks:
        p.accept(task, heard(task, script, shift=0.3 if task.key == 1 else 0.0))
    assert p.pending() == [] and p.tasks == tasks


# ---- final segments ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_final_segments_are_a_growing_prefix_of_the_segments_in_any_order(order):
    script = every_second(0, 57)
    p = plan(60.0)
    tasks = p.pending()
    finals = []
    for window in order:
        p.accept(tasks[window], heard(tasks[window], script))
        finals.append(p.final_segments())
    segments = p.segments()
    assert segment_words(segments) == every_word(0, 57)
    assert all(final == segments[: len(final)] for final in finals)
    assert [len(f) for f in finals] == sorted(len(f) for f in finals)
    decoded = [set(order[: i + 1]) for i in range(3)]
    for final, done in zip(finals, decoded):
        if 0 not in done or 1 not in done:
            assert final == []  # window 0 not decoded, or its seam with window 1 still open
        elif 2 not in done:
            assert segment_words(final) == every_word(0, 27)  # window 0's share: up to the cut at 27.5 s
        else:
            assert final == segments


def test_segments_do_not_depend_on_the_order_windows_arrive_in():
    script = every_second(0, 57, sentence_starts=0)
    results = set()
    for order in itertools.permutations(range(3)):
        p = plan(60.0)
        tasks = p.pending()
        for window in order:
            p.accept(tasks[window], heard(tasks[window], script, shift=0.1 * window))
        results.add(tuple(p.segments()))
    assert len(results) == 1


# ---- seam repair -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", [(0, 1, 2), (2, 1, 0), (1, 2, 0)])
def test_a_later_window_that_heard_none_of_the_overlap_words_is_replaced_by_one_repair_window(order):
    """Window 1 skipped to the sentence at 33 s: it heard none of window 0's words in the overlap [25, 30). It is
    decoded again from 23 s, the start of window 0's sentence that crosses into the overlap."""
    script = every_second(0, 57)  # sentences start at 3, 8, ..., 23, 28, ...
    p = plan(60.0)
    tasks = p.pending()
    outcomes = [heard(tasks[0], script), heard(tasks[1], script, since=33.0), heard(tasks[2], script)]
    handed_out = []
    for window in order:
        p.accept(tasks[window], outcomes[window])
        handed_out += p.pending()  # the repair comes as soon as windows 0 and 1 are both in
    repair = only(handed_out)
    assert (repair.key, repair.start, repair.length, repair.first) == (3, 23 * SAMPLE_RATE, WINDOW_SAMPLES, False)
    assert (repair.timestamps, repair.words, repair.prompt, repair.options) == (True, True, (), p.options)
    assert [t.key for t in p.tasks] == [0, 3, 2]  # the repair takes window 1's place
    assert p.pending() == [] and not p.done
    assert p.final_segments() == []  # window 1's share was not final: window 0's seam is open again
    p.accept(repair, heard(repair, script))
    assert p.done and p.pending() == []
    segments = p.segments()
    assert segment_words(segments) == every_word(0, 57)
    # the seam with the repair window [23, 53) cuts at 26.5 s, the one with window 2 [50, 60) at 51.5 s
    assert spans(segments)[5:7] == [(23.0, 26.6, words(23, 24, 25, 26)), (27.0, 27.6, words(27))]
    assert spans(segments)[11:13] == [(48.0, 51.6, words(48, 49, 50, 51)), (52.0, 52.6, words(52))]


def test_a_repair_window_that_disagrees_again_is_not_repaired_twice():
    script = every_second(0, 57)
    p = plan(60.0)
    tasks = p.pending()
    p.accept(tasks[0], heard(tasks[0], script))
    p.accept(tasks[1], heard(tasks[1], script, since=33.0))
    p.accept(tasks[2], heard(tasks[2], script))
    repair = only(p.pending())
    p.accept(repair, heard(repair, script, since=33.0))  # skips the same speech again
    assert p.done and p.pending() == [] and [t.key for t in p.tasks] == [0, 3, 2]
    assert segment_words(p.segments()) == every_word(0, 29) + every_word(33, 57)


def test_a_repair_window_is_checked_against_its_next_neighbour():
    """Window 2 skipped its first 8 s too. Its seam with window 1 is not checked while window 1 is replaced by a
    repair, but it is once the repair is in: window 2 is repaired in turn, from the repair's sentence crossing 50 s."""
    script = every_second(0, 83)  # 85 s: windows at 0, 25, 50 (and 75, the last)
    p = plan(85.0)
    tasks = p.pending()
    assert [t.offset for t in tasks] == [0.0, 25.0, 50.0, 75.0]
    p.accept(tasks[0], heard(tasks[0], script))
    p.accept(tasks[1], heard(tasks[1], script, since=33.0))
    p.accept(tasks[2], heard(tasks[2], script, since=58.0))  # seam 1/2 is not checked: window 1 was replaced
    p.accept(tasks[3], heard(tasks[3], script))
    repair = only(p.pending())
    assert repair.start == 23 * SAMPLE_RATE
    p.accept(repair, heard(repair, script))  # hears [23, 53): window 2 (from 50) heard none of 50..52
    second = only(p.pending())
    assert (second.key, second.start) == (5, 48 * SAMPLE_RATE)  # the repair's sentence that crosses 50 s
    p.accept(second, heard(second, script))
    assert p.done and segment_words(p.segments()) == every_word(0, 83)


@pytest.mark.parametrize(
    "seconds, sentence_starts, repair_at",
    [
        (60.0, 3, 23.0),  # the crossing sentence starts at 23 s
        (60.0, 4, 24.0),  # 24 s: still more than 0.5 s from the overlap start
        (60.0, 0, None),  # the crossing sentence starts at 25 s: the repair would be window 1 again
        (60.0, 1, None),  # 21 s: the repair [21, 51) would overlap window 2 (from 50 s) by less than 2 s
        (55.0, 1, 21.0),  # without a window after it, 21 s is fine
    ],
)
def test_the_repair_starts_at_the_crossing_sentence_only_if_it_moves_the_window_and_keeps_the_overlaps(
    seconds, sentence_starts, repair_at
):
    assert REPAIR_MARGIN_SECONDS == 2.0
    script = every_second(0, int(seconds) - 2, sentence_starts=sentence_starts)
    p = plan(seconds)
    tasks = p.pending()
    for task in tasks:
        p.accept(task, heard(task, script, since=33.0 if task.key == 1 else 0.0))
    repairs = p.pending()
    assert [t.start for t in repairs] == ([] if repair_at is None else [round(repair_at * SAMPLE_RATE)])
    assert p.done == (repair_at is None)


def test_a_later_window_that_heard_other_words_there_is_repaired_too():
    script = every_second(0, 57)
    other = [[(k + 500, float(k), k + 0.6) for k in range(25, 33)]]  # other words where window 0 heard 25..32
    p = plan(60.0)
    tasks = p.pending()
    p.accept(tasks[0], heard(tasks[0], script))
    p.accept(tasks[1], heard(tasks[1], other + [s for s in script if s[0][1] >= 33.0]))
    p.accept(tasks[2], heard(tasks[2], script))
    assert only(p.pending()).start == 23 * SAMPLE_RATE


def test_a_repair_of_the_last_window_still_covers_the_end_of_the_audio():
    """A repair of a full last window starts before it and ends before the audio does: the rest gets a tail window
    even when the repair's words stop less than TAIL_GAP_SECONDS before the end."""
    script = every_second(0, 54, sentence_starts=4)  # the sentence crossing 25 s starts at 24 s
    p = plan(55.0)
    tasks = p.pending()
    p.accept(tasks[0], heard(tasks[0], script))
    p.accept(tasks[1], heard(tasks[1], script, since=33.0))  # hears w54 but none of the overlap's words
    repair = only(p.pending())
    assert (repair.start, repair.length) == (24 * SAMPLE_RATE, WINDOW_SAMPLES)
    p.accept(repair, heard(repair, script))
    for task in p.pending():  # any window that covers the rest
        p.accept(task, heard(task, script))
    assert p.done
    assert segment_words(p.segments()) == every_word(0, 54)


@pytest.mark.parametrize("seed", range(40))
def test_random_arrivals_repairs_and_tails_keep_final_segments_a_growing_prefix_and_words_in_order_once(seed):
    """Random audio lengths, overlaps, sentence starts; windows (repairs and tails included) that skip their first
    8 s or stop early at random, arriving in random order, repairs and tails as soon as the plan hands them out."""
    rng = random.Random(seed)
    seconds = rng.uniform(31.0, 110.0)
    script = every_second(0, int(seconds) - 2, sentence_starts=rng.randrange(5))
    p = plan(seconds, overlap=rng.choice([3.0, 5.0, 6.0, 8.0]))
    queue = p.pending()
    rng.shuffle(queue)
    finals = []
    while queue:
        task = queue.pop(0)
        since = task.offset + 8.0 if task.key and rng.random() < 0.3 else 0.0
        until = task.offset + rng.uniform(5.0, 30.0) if rng.random() < 0.2 else float("inf")
        p.accept(task, heard(task, script, since=since, until=until))
        for new in p.pending():
            queue.insert(rng.randrange(len(queue) + 1), new)
        finals.append(p.final_segments())
    assert p.done and p.pending() == []
    segments = p.segments()
    assert all(final == segments[: len(final)] for final in finals)
    assert [len(f) for f in finals] == sorted(len(f) for f in finals)
    assert finals[-1] == segments
    spoken = [int(word[2:]) for word in segment_words(segments)]
    assert spoken == sorted(set(spoken))  # each word at most once, in order


# ---- the tail window ---------------------------------------------------------------------------------------------


def test_a_last_window_whose_words_stop_well_before_the_end_gets_one_tail_window():
    """55 s: windows [0, 30) and [25, 55). Window 1 left out the speech after 45 s (Whisper often drops a sentence
    cut by its window's end); it is decoded again from where its words stop."""
    script = every_second(0, 53)
    p = plan(55.0)
    tasks = p.pending()
    p.accept(tasks[1], heard(tasks[1], script, until=45.0))  # the tail is added as soon as the last window is in
    tail = only(p.pending())
    assert (tail.key, tail.start, tail.length, tail.first) == (2, 713_600, 880_000 - 713_600, False)  # from 44.6 s
    assert (tail.timestamps, tail.words, tail.prompt) == (True, True, ())
    assert not p.done
    p.accept(tasks[0], heard(tasks[0], script))
    assert p.pending() == [] and not p.done
    p.accept(tail, heard(tail, script, until=48.0))  # stops early too, but the audio ends well inside it
    assert p.done and p.pending() == []
    assert segment_words(p.segments()) == every_word(0, 47)


def test_only_one_tail_window_even_when_the_tail_window_reaches_the_end_and_stops_short():
    """Window 1 [25, 55) says only w25 (25.6 s) though there is speech from 40 s: the tail window [25.6, 55) holds
    29.4 s, so it too may have cut a sentence at the end, and its words stop at 40.6 s; still no second tail."""
    script = every_second(0, 19) + [[(25, 25.0, 25.6)]] + every_second(40, 53)  # few words in seam 0/1: no repair
    p = plan(55.0)
    tasks = p.pending()
    p.accept(tasks[0], heard(tasks[0], script))
    p.accept(tasks[1], heard(tasks[1], script, until=26.0))
    tail = only(p.pending())
    assert (tail.start, tail.length) == (409_600, 880_000 - 409_600)
    p.accept(tail, heard(tail, script, until=41.0))
    assert p.done and p.pending() == []
    assert segment_words(p.segments()) == every_word(0, 19) + [" w25", " w40"]


def test_the_tail_windows_words_complete_the_transcript():
    script = every_second(0, 53)
    p = plan(55.0)
    tasks = p.pending()
    p.accept(tasks[0], heard(tasks[0], script))
    p.accept(tasks[1], heard(tasks[1], script, until=45.0))
    tail = only(p.pending())
    p.accept(tail, heard(tail, script))
    assert p.done
    assert segment_words(p.segments()) == every_word(0, 53)
    assert segment_words(p.final_segments()) == every_word(0, 53)


@pytest.mark.parametrize(
    "seconds, last_word, tail",
    [
        (55.0, 53, False),  # the words end at 53.6 s: 1.4 s before the end
        (55.0, 52, True),  # 52.6 s: 2.4 s before the end
        (60.0, 51, False),  # the last window [50, 60) is short: the audio ends well inside it, nothing was cut
        (54.0, 51, True),  # the last window [25, 54) holds 29 s: more than 30 s less the gap, so it may cut
        (53.0, 50, False),  # [25, 53) holds 28 s: less than 30 s less the gap
    ],
)
def test_a_tail_window_only_when_a_full_last_window_stops_short_by_more_than_the_gap(seconds, last_word, tail):
    assert TAIL_GAP_SECONDS == 1.5
    script = every_second(0, last_word)
    p = plan(seconds)
    tasks = p.pending()
    for task in tasks:
        p.accept(task, heard(task, script))
    assert (len(p.pending()) == 1) == tail


def test_a_silent_last_window_gets_no_tail_window():
    script = every_second(0, 20)
    p = plan(55.0)
    tasks = p.pending()
    p.accept(tasks[0], heard(tasks[0], script))
    p.accept(tasks[1], silent())
    assert p.done and p.pending() == []
    assert segment_words(p.segments()) == every_word(0, 20)


def test_a_silent_tail_window_adds_nothing():
    script = every_second(0, 44)
    p = plan(55.0)
    tasks = p.pending()
    for task in tasks:
        p.accept(task, heard(task, script))
    tail = only(p.pending())
    p.accept(tail, silent())
    assert p.done and segment_words(p.segments()) == every_word(0, 44)


# ---- silence -----------------------------------------------------------------------------------------------------


def test_silent_windows_contribute_nothing_even_with_decoded_text():
    script = every_second(0, 19) + every_second(52, 57)  # speech before 20 s and after 52 s
    p = plan(60.0)
    tasks = p.pending()
    p.accept(tasks[0], heard(tasks[0], script))
    # text and word timings, but scored as silence (<|nospeech|> likely, the text unlikely)
    p.accept(tasks[1], heard(tasks[1], every_second(25, 54), avg_logprob=-1.5, no_speech=0.9))
    p.accept(tasks[2], heard(tasks[2], script))
    assert p.done and p.pending() == []
    assert segment_words(p.segments()) == every_word(0, 19) + every_word(52, 57)


def test_a_window_with_likely_text_is_speech_even_when_no_speech_is_likely():
    script = every_second(0, 57)
    p = plan(60.0)
    tasks = p.pending()
    p.accept(tasks[0], heard(tasks[0], script))
    p.accept(tasks[1], heard(tasks[1], script, avg_logprob=-0.99, no_speech=0.9))  # likely text: speech
    p.accept(tasks[2], heard(tasks[2], script))
    assert segment_words(p.segments()) == every_word(0, 57)


# ---- language ----------------------------------------------------------------------------------------------------


def test_the_language_is_the_first_accepted_outcomes_when_the_request_named_none():
    script = every_second(0, 57)
    p = plan(60.0, language=None)
    tasks = p.pending()
    p.accept(tasks[2], heard(tasks[2], script, language="de"))
    p.accept(tasks[0], heard(tasks[0], script, language="en"))
    assert p.language == "de"


def test_a_named_language_is_kept():
    p = plan(60.0, language="de")
    task = p.pending()[0]
    p.accept(task, outcome([ts(0.0), 1, ts(1.0)], language="en"))
    assert p.language == "de"
