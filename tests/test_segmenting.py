"""Specification of ``serving.longform.segmenting.split_segments``: one window's sampled tokens -> segments and the
mel frames consumed, as openai/whisper's ``transcribe()`` loop splits them (whisper/transcribe.py, release
20250625: the ``consecutive`` timestamp slices, ``single_timestamp_ending`` and the seek update).

Token ids are small and synthetic: text tokens below ``BEGIN``, timestamp k (k * 0.02 s) is ``BEGIN + k``.
"""

from __future__ import annotations

import random

import pytest

from serving.constants import ENCODER_STRIDE, SECONDS_PER_TIMESTAMP
from serving.longform.segmenting import TimedTokens, split_segments

BEGIN = 100  # the first timestamp token
CONTENT = 30.0  # seconds of audio in the window


def ts(seconds: float) -> int:
    return BEGIN + round(seconds / SECONDS_PER_TIMESTAMP)


def reference(tokens: list[int], content: float) -> tuple[list[tuple[float, float, tuple[int, ...]]], int | None]:
    """The rules of openai/whisper's transcribe loop, restated: (segments, frames the seek advances; None: the
    whole window). A segment closes between two consecutive timestamps; a single timestamp before the end of text
    closes the last one and consumes the window; otherwise the unfinished text after the last closed segment is
    dropped and the seek stops at that segment's end. Without two consecutive timestamps the whole window is one
    segment, ending at its last timestamp unless that is <|0.00|> (or there is none)."""

    def time_of(token: int) -> float:
        return (token - BEGIN) * SECONDS_PER_TIMESTAMP

    stamps = [k for k, token in enumerate(tokens) if token >= BEGIN]
    pair_ends = [k for k in stamps if k - 1 in stamps]  # a segment ends just before position k
    single_end = len(tokens) >= 2 and tokens[-1] >= BEGIN and tokens[-2] < BEGIN
    if not pair_ends:
        last = tokens[stamps[-1]] if stamps else None
        end = content if last is None or last == BEGIN else time_of(last)
        return [(0.0, end, tuple(tokens))], None
    cuts = pair_ends + ([len(tokens)] if single_end else [])
    segments, start = [], 0
    for cut in cuts:
        piece = tuple(tokens[start:cut])
        segments.append((time_of(piece[0]), time_of(piece[-1]), piece))
        start = cut
    seek = None if single_end else (tokens[start - 1] - BEGIN) * 2  # input_stride: 2 mel frames per timestamp
    return segments, seek


def as_tuples(segments: tuple[TimedTokens, ...]) -> list[tuple[float, float, tuple[int, ...]]]:
    return [(s.start, s.end, s.tokens) for s in segments]


# ---- hand-made windows -------------------------------------------------------------------------------------------


def test_timestamp_pairs_split_segments_and_a_single_final_timestamp_consumes_the_window():
    tokens = (ts(0), 1, 2, ts(2.5), ts(2.5), 3, 4, 5, ts(6.0), ts(7.0), 6, ts(9.98))
    parsed = split_segments(tokens, BEGIN, CONTENT)
    assert as_tuples(parsed.segments) == [
        (0.0, 2.5, (ts(0), 1, 2, ts(2.5))),
        (2.5, 6.0, (ts(2.5), 3, 4, 5, ts(6.0))),
        (7.0, pytest.approx(9.98), (ts(7.0), 6, ts(9.98))),
    ]
    assert parsed.consumed_frames is None


def test_text_after_the_last_closed_segment_is_dropped_and_the_window_consumed_up_to_that_segment():
    tokens = (ts(0), 1, 2, ts(2.5), ts(3.0), 3, 4)  # the second segment was cut by the window edge
    parsed = split_segments(tokens, BEGIN, CONTENT)
    assert as_tuples(parsed.segments) == [(0.0, 2.5, (ts(0), 1, 2, ts(2.5)))]
    assert parsed.consumed_frames == round(2.5 / SECONDS_PER_TIMESTAMP) * ENCODER_STRIDE == 250


def test_keep_tail_returns_the_unfinished_text_as_a_segment_that_ends_with_the_content():
    tokens = (ts(0), 1, 2, ts(2.5), ts(3.0), 3, 4)
    parsed = split_segments(tokens, BEGIN, 21.5, keep_tail=True)
    assert as_tuples(parsed.segments) == [(0.0, 2.5, (ts(0), 1, 2, ts(2.5))), (3.0, 21.5, (ts(3.0), 3, 4))]
    assert parsed.consumed_frames == 250  # the seek is unchanged: the tail is extra


def test_a_window_ending_with_a_timestamp_pair_consumes_up_to_the_first_of_the_pair():
    tokens = (ts(0), 1, ts(4.0), ts(5.0))  # openai: the slice ends at the pair; seek to its first timestamp
    for keep_tail in (False, True):  # the tail holds no text: no tail segment
        parsed = split_segments(tokens, BEGIN, CONTENT, keep_tail)
        assert as_tuples(parsed.segments) == [(0.0, 4.0, (ts(0), 1, ts(4.0)))]
        assert parsed.consumed_frames == 400


def test_no_timestamps_at_all_is_one_segment_over_the_whole_content():
    parsed = split_segments((1, 2, 3), BEGIN, 17.25)
    assert as_tuples(parsed.segments) == [(0.0, 17.25, (1, 2, 3))]
    assert parsed.consumed_frames is None


def test_an_empty_window_is_one_empty_segment():
    parsed = split_segments((), BEGIN, 12.0)
    assert as_tuples(parsed.segments) == [(0.0, 12.0, ())]
    assert parsed.consumed_frames is None


@pytest.mark.parametrize(
    "tokens, end",
    [
        ((ts(0), 1, 2, 3), CONTENT),  # only <|0.00|>: the content's end
        ((ts(0.5), 1, 2, 3), 0.5),  # one timestamp, not <|0.00|>: it is the end
        ((ts(0.5), 1, 2, ts(8.0)), 8.0),  # start and single ending timestamp, no pair
        ((1, 2, ts(0)), CONTENT),  # a final <|0.00|> does not end the segment
        ((ts(1.0), 1, ts(3.0), 2), 3.0),  # the last timestamp, even before more text
    ],
)
def test_without_a_timestamp_pair_the_segment_ends_at_the_last_timestamp_unless_it_is_zero(tokens, end):
    parsed = split_segments(tokens, BEGIN, CONTENT)
    assert as_tuples(parsed.segments) == [(0.0, pytest.approx(end), tokens)]
    assert parsed.consumed_frames is None


def test_a_single_timestamp_after_a_pair_closes_the_last_segment():
    tokens = (ts(0), 1, ts(1.0), ts(1.0), 2, ts(2.0))
    parsed = split_segments(tokens, BEGIN, CONTENT, keep_tail=True)
    assert as_tuples(parsed.segments) == [(0.0, 1.0, tokens[:3]), (1.0, 2.0, tokens[3:])]
    assert parsed.consumed_frames is None


def test_one_token_that_is_a_timestamp_is_not_a_single_timestamp_ending():
    parsed = split_segments((ts(3.0),), BEGIN, CONTENT)
    assert as_tuples(parsed.segments) == [(0.0, 3.0, (ts(3.0),))]


def test_segment_times_are_relative_to_the_window_and_exact_multiples_of_the_precision():
    tokens = (ts(0.02), 1, ts(29.98), ts(30.0))
    parsed = split_segments(tokens, BEGIN, CONTENT)
    assert parsed.segments[0].start == 1 * SECONDS_PER_TIMESTAMP
    assert parsed.segments[0].end == 1499 * SECONDS_PER_TIMESTAMP
    assert parsed.consumed_frames == 1499 * 2


# ---- random windows against the reference ------------------------------------------------------------------------


def decoder_like(rng: random.Random) -> list[int]:
    """A token stream the timestamp rules allow: <|t|> text <|t'|> [<|t'|> text <|t''|>] ..., ended by a single
    timestamp, by a pair, or inside text (the length limit)."""
    tokens, now = [ts(rng.choice([0.0, 0.0, 0.3]))], 0.0
    for _ in range(rng.randint(0, 6)):
        tokens += [rng.randint(1, 99) for _ in range(rng.randint(1, 5))]
        now += rng.uniform(0.02, 4.0)
        tokens.append(ts(min(now, 30.0)))
        if rng.random() < 0.75:
            now += rng.choice([0.0, rng.uniform(0.0, 1.0)])
            tokens.append(ts(min(now, 30.0)))
    ending = rng.choice(["single", "pair", "text", "as is"])
    if ending == "text":
        tokens += [rng.randint(1, 99) for _ in range(rng.randint(1, 4))]
    elif ending == "single" and tokens[-1] >= BEGIN and tokens[-2:-1] and tokens[-2] >= BEGIN:
        tokens += [rng.randint(1, 99), ts(min(now + 1.0, 30.0))]
    elif ending == "pair" and tokens[-1] < BEGIN:
        tokens += [ts(min(now + 1.0, 30.0)), ts(min(now + 1.5, 30.0))]
    return tokens


@pytest.mark.parametrize("seed", range(300))
def test_random_windows_split_as_openai_whisper_splits_them(seed):
    rng = random.Random(seed)
    if seed % 3 == 0:  # anything at all, even sequences the logit rules forbid
        tokens = [rng.choice([rng.randint(1, 99), ts(rng.uniform(0, 30))]) for _ in range(rng.randint(0, 12))]
    else:
        tokens = decoder_like(rng)
    content = rng.choice([CONTENT, 12.5])
    expected_segments, expected_seek = reference(tokens, content)
    parsed = split_segments(tuple(tokens), BEGIN, content)
    assert as_tuples(parsed.segments) == [(pytest.approx(s), pytest.approx(e), t) for s, e, t in expected_segments]
    assert parsed.consumed_frames == expected_seek

    with_tail = split_segments(tuple(tokens), BEGIN, content, keep_tail=True)
    assert with_tail.consumed_frames == parsed.consumed_frames
    assert with_tail.segments[: len(parsed.segments)] == parsed.segments
    extra = with_tail.segments[len(parsed.segments) :]
    covered = [t for s in with_tail.segments for t in s.tokens]
    if extra:  # the tail: every token after the last closed segment, holding some text, to the content's end
        (tail,) = extra
        assert covered == tokens and tail.end == content and any(t < BEGIN for t in tail.tokens)
        assert tail.start == pytest.approx((tail.tokens[0] - BEGIN) * SECONDS_PER_TIMESTAMP)
    else:  # nothing with text was dropped
        assert all(t >= BEGIN for t in tokens[len(covered) :])
