"""Specification of chunked windows packed by speech (``serving.longform.packing``) and of the pauses the VAD gives
them (``serving.longform.vad.speech_pauses``), checked without a model: window boundaries against the pauses they
must fall in, on hand-made layouts and on random ones against the rule written out plainly (``reference_windows``).
The plan built on them (``ChunkedPlan`` with pauses) is driven with hand-made outcomes (tests/handmade.py)."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from serving.constants import SAMPLE_RATE, WINDOW_SAMPLES
from serving.longform.chunked import TAIL_GAP_SECONDS, ChunkedPlan, window_starts
from serving.longform.packing import MIN_FILL, PAUSE_MARGIN_SECONDS, Window, fixed_windows, packed_windows
from serving.longform.vad import FRAME_SAMPLES, Pause, Region, VadOptions, speech_pauses
from tests.handmade import audio, context, every_second, heard, options, request, segment_words

OVERLAP = 5.0
MARGIN = round(PAUSE_MARGIN_SECONDS * SAMPLE_RATE)


def s(seconds: float) -> int:
    return round(seconds * SAMPLE_RATE)


def pause(start: float, end: float) -> Pause:
    return Pause(s(start), s(end))


def seconds(windows: list[Window]) -> list[tuple[float, float, bool]]:
    return [(w.start / SAMPLE_RATE, w.end / SAMPLE_RATE, w.at_pause) for w in windows]


# ---- packed_windows: hand-made layouts ---------------------------------------------------------------------------


@pytest.mark.parametrize("total", [0.5, 30.0, 30.0 + 1 / SAMPLE_RATE, 55.0, 60.0, 301.4])
def test_without_pauses_the_windows_are_the_fixed_overlapping_ones(total):
    windows = packed_windows(s(total), (), OVERLAP)
    assert windows == fixed_windows(s(total), OVERLAP)
    assert [w.start for w in windows] == window_starts(s(total), OVERLAP)
    assert not any(w.at_pause for w in windows)


def test_a_window_ends_in_the_middle_of_the_latest_pause_and_the_next_starts_there():
    pauses = [pause(10.0, 10.6), pause(27.0, 27.8), pause(50.0, 51.0)]
    assert seconds(packed_windows(s(70.0), pauses, OVERLAP)) == [
        (0.0, 27.4, True),  # the pause at 10 s is passed over: a later one fills the window more
        (27.4, 50.5, True),
        (50.5, 70.0, False),  # the last window reaches the end
    ]


def test_where_speech_runs_across_the_edge_the_next_window_overlaps_by_the_overlap():
    pauses = [pause(10.0, 10.6), pause(40.0, 40.6)]  # nothing in [15, 30]: no cut for the first window
    assert seconds(packed_windows(s(60.0), pauses, OVERLAP)) == [
        (0.0, 30.0, False), (25.0, 40.3, True), (40.3, 60.0, False)]


def test_a_pause_reaching_past_thirty_seconds_is_cut_at_the_window_end():
    assert seconds(packed_windows(s(50.0), [pause(29.0, 33.0)], OVERLAP)) == [(0.0, 30.0, True), (30.0, 50.0, False)]


def test_a_pause_too_short_for_the_margin_on_both_sides_is_no_cut():
    too_short = Pause(s(20.0), s(20.0) + 2 * MARGIN - 1)
    assert seconds(packed_windows(s(50.0), [too_short], OVERLAP)) == [(0.0, 30.0, False), (25.0, 50.0, False)]


def test_a_long_silence_between_regions_cuts_every_window_at_it():
    """Three stretches of 20 s of speech joined by 0.8 s joints (the regions' padding): three windows, no overlap."""
    pauses = [pause(19.6, 20.4), pause(40.0, 40.8)]
    assert seconds(packed_windows(s(60.8), pauses, OVERLAP)) == [
        (0.0, 20.0, True), (20.0, 40.4, True), (40.4, 60.8, False)]


# ---- packed_windows: random layouts against the rule written out plainly -----------------------------------------


def fewest_windows(samples: int, pauses: list[Pause], overlap: float) -> int:
    """The fewest windows that cover the audio, by breadth-first search over every way to place them: a window
    ends at any 100 ms point at least the margin inside a pause and at least half a window on, or is 30 s long with
    the next one ``overlap`` before its end."""
    grid = s(0.1)
    points = sorted(t for p in pauses for t in range(p.start + MARGIN, p.end - MARGIN + 1, grid))
    frontier, windows = {0}, 1
    while all(samples - start > WINDOW_SAMPLES for start in frontier):
        frontier = {t for start in frontier for t in points if start + MIN_FILL * WINDOW_SAMPLES <= t <= start + WINDOW_SAMPLES} | {
            start + s(30.0 - overlap) for start in frontier}
        windows += 1
    return windows


def random_pauses(rng: random.Random, total: float) -> list[Pause]:
    pauses, at = [], rng.uniform(0.0, 8.0)
    while at < total - 1.0:
        length = rng.choice([0.25, 0.3, 0.5, 0.8, 2.0])
        pauses.append(pause(at, min(at + length, total)))
        at += length + rng.uniform(2.0, 35.0)
    return pauses


@pytest.mark.parametrize("seed", range(30))
def test_random_layouts_take_the_fewest_windows_each_cut_inside_a_pause(seed):
    rng = random.Random(seed)
    total = rng.uniform(31.0, 200.0)
    pauses = random_pauses(rng, total)
    windows = packed_windows(s(total), pauses, OVERLAP)
    assert len(windows) <= fewest_windows(s(total), pauses, OVERLAP)
    assert windows[0].start == 0 and windows[-1].end == s(total)
    for window, following in itertools.pairwise(windows):
        assert 0 < window.length <= WINDOW_SAMPLES
        if window.at_pause:  # a plain cut inside a pause, at least half a window on
            assert following.start == window.end and window.length >= MIN_FILL * WINDOW_SAMPLES
            assert any(p.start + MARGIN <= window.end <= p.end - MARGIN for p in pauses)
        else:  # speech across the edge: 30 s, and the next one overlaps it by the overlap
            assert window.length == WINDOW_SAMPLES and window.end - following.start == s(OVERLAP)


@pytest.mark.parametrize("seed", range(10))
def test_packing_never_takes_more_windows_than_the_fixed_overlap(seed):
    rng = random.Random(seed)
    total = rng.uniform(31.0, 3600.0)
    assert len(packed_windows(s(total), random_pauses(rng, total), OVERLAP)) <= len(fixed_windows(s(total), OVERLAP))


def test_an_early_pause_is_passed_over_where_it_would_cost_a_window():
    """Sentences of 16 s: cutting at every pause would take 7 windows for 100 s; the fixed overlap takes 4."""
    pauses = [pause(t - 0.3, t + 0.3) for t in range(16, 100, 16)]
    windows = packed_windows(s(100.0), pauses, OVERLAP)
    assert len(windows) == 4
    assert seconds(windows)[0] == (0.0, 30.0, False)  # the pause at 16 s would cost a window: overlap instead


# ---- speech_pauses ---------------------------------------------------------------------------------------------


def frames(*pieces: tuple[float, float]) -> np.ndarray:
    """Frame probabilities from (seconds, probability) pieces."""
    return np.concatenate([np.full(round(t * SAMPLE_RATE / FRAME_SAMPLES), p, dtype=np.float32) for t, p in pieces])


def test_pauses_are_the_joints_between_regions_and_long_dips_inside_one():
    vad = VadOptions()
    # speech 0-10 s with a 0.16 s dip (a gap between words) and a 0.48 s dip (a breath), silence 10-20 s, speech 20-30 s
    probabilities = frames((4.0, 0.9), (0.16, 0.1), (3.0, 0.9), (0.48, 0.1), (2.36, 0.9), (10.0, 0.0), (10.0, 0.9))
    pad = s(vad.pad_seconds)
    second = s(20.0)
    regions = [Region(0, s(10.0) + pad, 0, s(10.0)), Region(second - pad, s(30.0), second, s(30.0))]
    found = speech_pauses(probabilities, regions, vad)
    breath = (round(7.16 * SAMPLE_RATE / FRAME_SAMPLES) * FRAME_SAMPLES, round(7.64 * SAMPLE_RATE / FRAME_SAMPLES) * FRAME_SAMPLES)
    joint = regions[0].end - regions[0].start
    assert found == (Pause(*breath), Pause(s(10.0), joint + pad))  # the word gap is shorter than min_pause_seconds


# ---- the plan over packed windows ------------------------------------------------------------------------------


def plan(seconds_: float, pauses, **changes) -> ChunkedPlan:
    changes = {"long_form": "chunked", "words": True, **changes}
    return ChunkedPlan(request(), audio(seconds_), options(**changes), context(OVERLAP), pauses)


def test_windows_cut_at_pauses_keep_each_word_once_without_overlap():
    # words k at [k, k + 0.6); a pause between 27.6 and 28 (after sentence [23..27]) and between 52.6 and 53
    script = every_second(0, 66)
    p = plan(67.0, [pause(27.6, 28.0), pause(52.6, 53.0)])
    tasks = p.pending()
    assert [(t.start, t.length) for t in tasks] == [(0, s(27.8)), (s(27.8), s(25.0)), (s(52.8), s(14.2))]
    for task in tasks:
        p.accept(task, heard(task, script))
    assert p.done and p.pending() == []
    assert segment_words(p.segments()) == [f" w{k}" for k in range(67)]


def test_a_repair_of_a_window_that_ended_at_a_pause_ends_at_that_pause():
    """Window 1 [25, 42.8) follows an overlapping window 0 and ends at a pause; it skipped the words of the overlap
    [25, 30): its repair starts at 23 s (window 0's sentence crossing into the overlap) and still ends at 42.8 s."""
    script = every_second(0, 66)
    p = plan(67.0, [pause(42.6, 43.0)])
    tasks = p.pending()
    assert [(t.start, t.end) for t in [Window(t.start, t.length) for t in tasks]] == [
        (0, s(30.0)), (s(25.0), s(42.8)), (s(42.8), s(67.0))]
    p.accept(tasks[0], heard(tasks[0], script))
    p.accept(tasks[1], heard(tasks[1], script, since=33.0))
    (repair,) = p.pending()
    assert (repair.start, repair.start + repair.length) == (s(23.0), s(42.8))
    p.accept(tasks[2], heard(tasks[2], script))
    p.accept(repair, heard(repair, script))
    assert p.done
    assert segment_words(p.segments()) == [f" w{k}" for k in range(67)]


# ---- on real speech, with the real VAD (no Whisper model) ----------------------------------------------------------


def test_on_sentences_with_pauses_the_real_vad_puts_every_cut_in_a_pause_between_sentences():
    """The long file's first sentences with 0.4-1.0 s of silence after each (as ``benchmarks.packing`` makes them):
    Silero finds the pauses and every window but the last ends inside one of them."""
    from scripts.material.longform_audio import build_long_audio
    from serving.longform.vad import SileroVad, find_model, speech_regions

    long_audio = build_long_audio(60.0)
    pieces, silences, at = [], [], 0  # the inserted pauses, in samples
    for index, sentence in enumerate(long_audio.sentences):
        pieces.append(long_audio.waveform[round(sentence.start * SAMPLE_RATE) : round(sentence.end * SAMPLE_RATE)])
        at += pieces[-1].size
        gap = round((0.4, 0.6, 0.8, 1.0)[index % 4] * SAMPLE_RATE)
        pieces.append(np.zeros(gap, np.float32))
        silences.append((at, at + gap))
        at += gap
    waveform, vad = np.concatenate(pieces), VadOptions()
    probabilities = SileroVad(find_model(None)).probabilities(waveform)
    regions = speech_regions(probabilities, waveform.size, vad)
    assert len(regions) == 1  # no silence of 2 s: one region
    windows = packed_windows(regions[0].end - regions[0].start, speech_pauses(probabilities, regions, vad), 6.0)
    assert len(windows) >= 3 and all(w.at_pause for w in windows[:-1])
    cuts = [regions[0].start + w.end for w in windows[:-1]]
    assert all(any(low <= cut <= high for low, high in silences) for cut in cuts), (cuts, silences)


def test_a_window_that_left_out_its_last_sentence_before_the_pause_gets_that_stretch_decoded_again():
    """Window 0 [0, 27.8) ends at a pause but its words stop at 22.6 s (Whisper left out the sentence [23..27]): the
    stretch from 22.6 s to the pause is decoded as a window of its own, between windows 0 and 1."""
    script = every_second(0, 66)
    p = plan(67.0, [pause(27.6, 28.0), pause(52.6, 53.0)])
    tasks = p.pending()
    p.accept(tasks[0], heard(tasks[0], script, until=23.0))
    (gap,) = p.pending()
    assert (gap.start, gap.start + gap.length, gap.first, gap.words) == (s(22.6), s(27.8), False, True)
    assert [t.key for t in p.tasks] == [0, gap.key, 1, 2]
    for task in tasks[1:]:
        p.accept(task, heard(task, script))
    assert not p.done and p.final_segments() == []  # window 0's seam with the gap is open
    p.accept(gap, heard(gap, script))
    assert p.done and p.pending() == []
    assert segment_words(p.segments()) == [f" w{k}" for k in range(67)]


def test_a_window_whose_words_reach_its_pause_gets_no_gap_window():
    script = every_second(0, 66)
    p = plan(67.0, [pause(27.6, 28.0), pause(52.6, 53.0)])
    for task in p.pending():
        p.accept(task, heard(task, script))
    assert p.pending() == [] and p.done and len(p.tasks) == 3


# ---- what a window cut in pauses is told, and what it is spared ----------------------------------------------------


def segment_texts(segments) -> str:
    return "".join(s.text for s in segments)


def test_a_window_cut_in_pauses_on_both_sides_is_not_aligned_and_keeps_its_segments_whole():
    """Without word timestamps asked for, only windows with an overlapping seam need their words (to merge it);
    windows whose seams are all cuts in pauses keep their segments as decoded, and the text is the script's once."""
    script = every_second(0, 66)
    p = plan(67.0, [pause(27.6, 28.0)], words=False)  # window 0 cut at 27.8, window 1 [27.8, 57.8) overlaps 2
    tasks = p.pending()
    assert [t.words for t in tasks] == [False, True, True]
    for task in tasks:
        p.accept(task, heard(task, script))
    assert p.done and segment_texts(p.segments()) == "".join(f" w{k}" for k in range(67))
    assert all(s.words == () for s in p.segments())


def test_a_window_cut_in_a_pause_must_decode_up_to_where_its_speech_stops():
    """The window is told how far its text must reach: where the pause it ends in starts, less TAIL_GAP_SECONDS
    (Whisper in timestamp mode often ends a window early, leaving its last sentence out)."""
    p = plan(67.0, [pause(27.6, 28.0), pause(52.6, 53.0)], words=False)
    tasks = p.pending()
    expected = [27.6 - TAIL_GAP_SECONDS, 52.6 - 27.8 - TAIL_GAP_SECONDS]
    assert [t.speech_until for t in tasks[:2]] == pytest.approx(expected)
    assert tasks[2].speech_until is None  # the last window ends at the end of the audio, not at a pause


def test_words_that_stop_where_a_long_pause_starts_get_no_gap_window():
    """Window 0 ends in the middle of an 8 s pause (20-28 s): its words stop at 19.6 s, where the pause starts, so
    nothing was left out, however far the window's end is."""
    script = [sentence for sentence in every_second(0, 66) if sentence[0][1] < 20.0 or sentence[0][1] >= 28.0]
    p = plan(67.0, [pause(19.8, 28.0)], words=False)
    tasks = p.pending()
    assert tasks[0].length > s(19.8 + TAIL_GAP_SECONDS)
    assert tasks[0].speech_until == pytest.approx(19.8 - TAIL_GAP_SECONDS)
    for task in tasks:
        p.accept(task, heard(task, script))
    assert p.pending() == [] and p.done and p.tasks == tasks


def test_without_words_the_gap_check_reads_where_the_last_segment_ends():
    script = every_second(0, 66)
    p = plan(67.0, [pause(27.6, 28.0), pause(52.6, 53.0)], words=False)
    tasks = p.pending()
    p.accept(tasks[0], heard(tasks[0], script, until=23.0))
    (gap,) = p.pending()
    assert (gap.start, gap.start + gap.length, gap.words) == (s(22.6), s(27.8), False)
    assert gap.speech_until == pytest.approx(27.6 - 22.6 - TAIL_GAP_SECONDS)
    for task in [*tasks[1:], gap]:
        p.accept(task, heard(task, script))
    assert p.done and segment_texts(p.segments()) == "".join(f" w{k}" for k in range(67))


def test_the_last_region_s_padding_is_a_pause_the_audio_ends_in():
    vad = VadOptions()
    probabilities = frames((10.0, 0.9), (10.0, 0.0), (10.0, 0.9), (0.4, 0.0))
    pad = s(vad.pad_seconds)
    second = s(20.0)
    regions = [Region(0, s(10.0) + pad, 0, s(10.0)), Region(second - pad, s(30.0) + pad, second, s(30.0))]
    joined = sum(region.end - region.start for region in regions)
    found = speech_pauses(probabilities, regions, vad)
    assert found == (Pause(s(10.0), regions[0].end - regions[0].start + pad), Pause(joined - pad, joined))


def test_audio_ending_in_a_pause_needs_its_last_window_to_reach_only_the_pause():
    """30.3 s of audio whose last 0.4 s is the padding after its speech: one 30 s window, told that its speech runs
    to 29.9 s (it would be two windows, the second 0.3 s of silence, if the padding counted as speech)."""
    assert [(w.start, w.length) for w in packed_windows(s(30.3), [pause(29.9, 30.3)], OVERLAP)] == [(0, s(30.0))]
    assert len(packed_windows(s(30.3), [], OVERLAP)) == 2
    (task,) = plan(30.3, [pause(29.9, 30.3)], words=False).pending()
    assert (task.length, task.speech_until) == (s(30.0), pytest.approx(29.9 - TAIL_GAP_SECONDS))
    (task,) = plan(29.0, [], words=False).pending()
    assert task.speech_until is None  # audio ending in speech (or no VAD): nothing to tell
