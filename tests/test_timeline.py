"""Specification of ``serving.longform.timeline.clamp_timeline``: the last step of every plan makes segments and
words monotonic and non-overlapping (issue 15 item 6) and keeps them inside the audio, changing nothing else."""

from __future__ import annotations

import random

import pytest

from serving.longform.timeline import clamp_timeline
from serving.results import Segment, Word


def segment(start: float, end: float, *words: tuple[float, float], text: str = " text") -> Segment:
    return Segment(start=start, end=end, text=text, tokens=(1, 2), avg_logprob=-0.3, no_speech_prob=0.1,
                   compression_ratio=1.2, temperature=0.2,
                   words=tuple(Word(f" w{i}", s, e, 0.8) for i, (s, e) in enumerate(words)))


def times(segments: list[Segment]) -> list[tuple[float, float, list[tuple[float, float]]]]:
    return [(s.start, s.end, [(w.start, w.end) for w in s.words]) for s in segments]


def test_a_valid_timeline_is_unchanged():
    segments = [segment(0.0, 2.0, (0.1, 0.5), (0.6, 1.9)), segment(2.0, 4.5, (2.1, 4.4)), segment(5.0, 6.0)]
    assert clamp_timeline(segments, 10.0) == segments


def test_a_word_starting_before_the_previous_word_ended_starts_when_it_ended():
    clamped = clamp_timeline([segment(0.0, 2.0, (0.1, 1.0), (0.8, 1.5)), segment(1.4, 3.0, (1.4, 2.0))], 10.0)
    # the second segment started inside the first: it starts where the first ends (words keep their own times)
    assert times(clamped) == [(0.0, 2.0, [(0.1, 1.0), (1.0, 1.5)]), (2.0, 3.0, [(1.5, 2.0)])]


def test_a_segment_starts_no_earlier_than_the_previous_one_ends():
    clamped = clamp_timeline([segment(5.0, 7.0), segment(6.0, 8.0), segment(4.0, 4.5)], 10.0)
    assert times(clamped) == [(5.0, 7.0, []), (7.0, 8.0, []), (8.0, 8.0, [])]


def test_the_timeline_of_a_prefix_is_a_prefix_of_the_timeline():
    """Streaming hands out the clamped first segments early: a later segment never changes an earlier one."""
    segments = [segment(0.0, 3.0, (0.5, 1.0)), segment(1.5, 4.0, (2.0, 3.5)), segment(3.8, 6.0, (3.6, 5.0))]
    whole = clamp_timeline(segments, 10.0)
    assert all(clamp_timeline(segments[:n], 10.0) == whole[:n] for n in range(len(segments) + 1))
    assert times(whole) == [(0.0, 3.0, [(0.5, 1.0)]), (3.0, 4.0, [(2.0, 3.5)]), (4.0, 6.0, [(3.6, 5.0)])]


def test_an_end_before_its_start_becomes_the_start():
    clamped = clamp_timeline([segment(3.0, 2.0, (2.5, 2.4))], 10.0)
    assert times(clamped) == [(3.0, 3.0, [(2.5, 2.5)])]


def test_nothing_ends_after_the_audio():
    clamped = clamp_timeline([segment(8.0, 12.0, (8.5, 9.9), (9.9, 11.0)), segment(10.5, 11.0, (10.6, 10.9))], 10.0)
    assert times(clamped) == [(8.0, 10.0, [(8.5, 9.9), (9.9, 10.0)]), (10.0, 10.0, [(10.0, 10.0)])]


def test_a_time_that_is_not_a_number_is_the_earliest_it_may_be_and_infinities_are_clamped():
    nan, inf = float("nan"), float("inf")
    clamped = clamp_timeline([segment(1.0, nan, (nan, 1.5), (1.6, inf)), segment(nan, inf), segment(-inf, 3.0)], 8.0)
    assert times(clamped) == [(1.0, 1.0, [(0.0, 1.5), (1.6, 8.0)]), (1.0, 8.0, []), (8.0, 8.0, [])]


def test_times_are_rounded_to_the_millisecond_and_other_fields_kept():
    (clamped,) = clamp_timeline([segment(1.23456, 2.34567, (1.3, 2.0004999))], 10.0)
    assert (clamped.start, clamped.end, clamped.words[0].end) == (1.235, 2.346, 2.0)
    original = segment(1.23456, 2.34567, (1.3, 2.0004999))
    assert (clamped.text, clamped.tokens, clamped.avg_logprob, clamped.no_speech_prob, clamped.compression_ratio,
            clamped.temperature) == (original.text, original.tokens, original.avg_logprob, original.no_speech_prob,
                                     original.compression_ratio, original.temperature)
    assert [(w.word, w.probability) for w in clamped.words] == [(" w0", 0.8)]


def test_no_segments_give_none():
    assert clamp_timeline([], 5.0) == []


@pytest.mark.parametrize("seed", range(100))
def test_any_timeline_comes_out_monotonic_inside_the_audio_and_stays_so(seed):
    rng = random.Random(seed)
    duration = rng.uniform(1.0, 60.0)
    segments = []
    for _ in range(rng.randint(1, 8)):
        start = rng.uniform(-1.0, duration + 2.0)
        words = [tuple(sorted((rng.uniform(-1.0, duration + 2.0), rng.uniform(-1.0, duration + 2.0)),
                              reverse=rng.random() < 0.2)) for _ in range(rng.randint(0, 5))]
        segments.append(segment(round(start, 3), round(start + rng.uniform(-1.0, 5.0), 3), *words))
    clamped = clamp_timeline(segments, duration)
    words = [w for s in clamped for w in s.words]
    limit = round(duration, 3) + 1e-9
    assert all(0.0 <= s.start <= s.end <= limit for s in clamped)
    assert all(0.0 <= w.start <= w.end <= limit for w in words)
    assert all(a.end <= b.start for a, b in zip(clamped, clamped[1:]))
    assert all(a.end <= b.start for a, b in zip(words, words[1:]))
    assert [len(s.words) for s in clamped] == [len(s.words) for s in segments]
    assert clamp_timeline(clamped, duration) == clamped  # clamping twice changes nothing
    for before, after in zip(segments, clamped):  # a time already fine is kept
        if after.start != round(before.start, 3):
            assert before.start < after.start or before.start > duration
