"""Specification of ``serving.engine.alignment``: dynamic time warping, the median filter and word timings from
alignment-head attention, against plain reference implementations written here from openai/whisper's
``whisper/timing.py`` (release 20250625: ``dtw_cpu`` + ``backtrace``, ``median_filter``, ``find_alignment``) and
checked the way openai's ``tests/test_timing.py`` checks them (the median filter against a reflect-padded
sliding median).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch

from serving.constants import SECONDS_PER_TIMESTAMP
from serving.engine.alignment import MEDIAN_FILTER_WIDTH, dtw, median_filter, word_timings
from serving.engine.token_text import WordTokens


def reference_dtw(x: np.ndarray) -> tuple[list[int], list[int]]:
    """openai's ``dtw_cpu``, cell by cell in plain Python: D[i, j] = x[i-1, j-1] + min(diagonal, up, left), where
    the diagonal wins only if strictly smaller than both others, then up if strictly smaller than both, else left;
    then back from the bottom-right corner along the recorded moves."""
    rows, cols = x.shape
    total = [[math.inf] * (cols + 1) for _ in range(rows + 1)]
    total[0][0] = 0.0
    move = [[""] * (cols + 1) for _ in range(rows + 1)]
    for j in range(1, cols + 1):
        for i in range(1, rows + 1):
            diagonal, up, left = total[i - 1][j - 1], total[i - 1][j], total[i][j - 1]
            if diagonal < up and diagonal < left:
                best, move[i][j] = diagonal, "diagonal"
            elif up < diagonal and up < left:
                best, move[i][j] = up, "up"
            else:
                best, move[i][j] = left, "left"
            total[i][j] = float(x[i - 1, j - 1]) + best
    path, i, j = [], rows, cols
    while i > 0 or j > 0:
        path.append((i - 1, j - 1))
        step = "left" if i == 0 else "up" if j == 0 else move[i][j]
        i, j = (i - 1, j - 1) if step == "diagonal" else (i - 1, j) if step == "up" else (i, j - 1)
    path.reverse()
    return [p[0] for p in path], [p[1] for p in path]


def reference_median_filter(x: np.ndarray, width: int) -> np.ndarray:
    """Median of each reflect-padded window of ``width`` along the last axis (numpy only)."""
    pad = width // 2
    if x.shape[-1] <= pad:
        return x
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(pad, pad)], mode="reflect")
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, width, axis=-1), axis=-1)


def reference_word_timings(
    scores: torch.Tensor, token_probs: list[float], words: list[WordTokens], frames: int, text_rows: slice | None = None
) -> list[tuple[str, float, float, float]]:
    """openai's ``find_alignment`` after the forward pass: softmax over the audio frames, each frame normalised over
    the token rows, median filter, mean over heads, DTW, and each word from the first frame of its first token to the
    first frame of the next word's (the last word to the end-of-text row's). ``text_rows``: the rows of the text
    (openai normalises over every row of the sequence, then keeps these); default: all rows are the text's."""
    weights = scores[:, :, : frames // 2].float().softmax(dim=-1)
    std, mean = torch.std_mean(weights, dim=-2, keepdim=True, unbiased=False)
    normalised = ((weights - mean) / std).numpy()
    filtered = torch.from_numpy(reference_median_filter(normalised, MEDIAN_FILTER_WIDTH).astype(np.float32))
    matrix = filtered.mean(dim=0)
    if text_rows is not None:
        matrix = matrix[text_rows]
    rows, cols = reference_dtw(-matrix.double().numpy())
    first_frame = {}
    for row, col in zip(rows, cols):
        first_frame.setdefault(row, col)
    result, token = [], 0
    for word in words:
        following = token + len(word.tokens)
        result.append((word.text, first_frame[token] * SECONDS_PER_TIMESTAMP,
                       first_frame[following] * SECONDS_PER_TIMESTAMP, float(np.mean(token_probs[token:following]))))
        token = following
    return result


def as_tuples(timings) -> list[tuple[str, float, float, float]]:
    return [(t.word, t.start, t.end, t.probability) for t in timings]


# ---- dtw ---------------------------------------------------------------------------------------------------------


SHAPES = [(1, 1), (1, 7), (7, 1), (2, 2), (3, 9), (9, 3), (10, 20), (32, 16), (40, 300), (17, 17)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", range(3))
def test_dtw_finds_the_path_of_openais_dtw_on_random_costs(shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    rows, cols = dtw(x)
    assert (rows.tolist(), cols.tolist()) == reference_dtw(x)


def test_dtw_breaks_ties_as_openais_dtw_does():
    """Small integer costs: many exact ties, all of them to be broken the same way (every shape, three seeds)."""
    differing = []
    for shape in SHAPES:
        for seed in range(3):
            x = np.random.default_rng(100 + seed).integers(0, 3, size=shape).astype(np.float64)
            rows, cols = dtw(x)
            if (rows.tolist(), cols.tolist()) != reference_dtw(x):
                differing.append((shape, seed))
    assert differing == []


def test_a_tie_between_the_diagonal_and_the_cell_above_does_not_lead_the_path_astray():
    """At (1, 1) the diagonal and the cell above both cost 0 and the left one 1: openai's dtw_cpu then moves left and
    adds the left cost (1); the path (0,0) (0,1) (1,2) it finds is also the only one that costs 0."""
    x = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    assert list(zip(*reference_dtw(x))) == [(0, 0), (0, 1), (1, 2)]
    rows, cols = dtw(x)
    assert list(zip(rows.tolist(), cols.tolist())) == [(0, 0), (0, 1), (1, 2)]


@pytest.mark.parametrize("shape", [(1, 6), (6, 1)])
def test_a_single_row_or_column_is_walked_straight(shape):
    rows, cols = dtw(np.random.default_rng(0).standard_normal(shape))
    length = max(shape)
    expected = (list(range(length)), [0] * length) if shape[1] == 1 else ([0] * length, list(range(length)))
    assert (rows.tolist(), cols.tolist()) == expected


def test_on_equal_costs_the_path_goes_down_the_first_column_then_along_the_last_row():
    rows, cols = dtw(np.zeros((3, 3)))
    assert list(zip(rows.tolist(), cols.tolist())) == [(0, 0), (1, 0), (2, 0), (2, 1), (2, 2)]


def test_a_cheap_diagonal_is_followed():
    x = np.ones((4, 4)) - 2 * np.eye(4)
    rows, cols = dtw(x)
    assert list(zip(rows.tolist(), cols.tolist())) == [(0, 0), (1, 1), (2, 2), (3, 3)]


def test_the_path_is_monotonic_connected_and_spans_the_matrix():
    x = np.random.default_rng(5).standard_normal((23, 61))
    rows, cols = dtw(x)
    steps = set(zip(np.diff(rows).tolist(), np.diff(cols).tolist()))
    assert steps <= {(1, 1), (1, 0), (0, 1)}
    assert (rows[0], cols[0], rows[-1], cols[-1]) == (0, 0, 22, 60)


def test_the_path_has_the_least_total_cost():
    x = np.random.default_rng(6).standard_normal((6, 8))
    rows, cols = dtw(x)

    @functools.cache
    def least(i: int, j: int) -> float:
        before = [least(a, b) for a, b in ((i - 1, j - 1), (i - 1, j), (i, j - 1)) if a >= 0 and b >= 0]
        return x[i, j] + (min(before) if before else 0.0)

    assert x[rows, cols].sum() == pytest.approx(least(5, 7))


# ---- median_filter -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 15), (3, 40), (4, 5, 345), (2, 7, 8)])
@pytest.mark.parametrize("width", [3, 5, 7, 13])
def test_median_filter_is_the_reflect_padded_sliding_median(shape, width):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(width))
    expected = reference_median_filter(x.numpy(), width)
    assert np.array_equal(median_filter(x, width).numpy(), expected.astype(np.float32))


def test_median_filter_leaves_rows_shorter_than_half_the_width_alone():
    x = torch.randn(2, 3, 3)
    assert torch.equal(median_filter(x, 7), x)
    longer = torch.arange(4.0).repeat(2, 3, 1)  # 4 > 7 // 2: filtered, [0, 1, 2, 3] -> reflect-padded medians
    assert median_filter(longer, 7)[0, 0].tolist() == [2.0, 2.0, 1.0, 1.0]


def test_median_filter_removes_a_spike():
    x = torch.zeros(1, 2, 20)
    x[0, 0, 9] = 100.0
    assert torch.equal(median_filter(x, 7), torch.zeros(1, 2, 20))


# ---- word_timings ------------------------------------------------------------------------------------------------


WORDS = [WordTokens(" a", (11,)), WordTokens(" bc", (12, 13)), WordTokens(" d", (14,)), WordTokens(" e", (15,))]
PROBS = [0.9, 0.5, 0.7, 0.8, 0.6]


def block_scores(heads: int = 4, rows: int = 6, block: int = 10, sources: int = 1500) -> torch.Tensor:
    """Each row attends to its own block of ``block`` encoder frames: row r to frames [r * block, (r + 1) * block)."""
    scores = torch.zeros(heads, rows, sources)
    for r in range(rows):
        scores[:, r, r * block : (r + 1) * block] = 8.0
    return scores


def test_words_start_where_their_first_token_is_heard_and_end_where_the_next_word_starts():
    timings = word_timings(block_scores(), PROBS, WORDS, frames=120)  # 60 encoder frames: six blocks of ten
    assert as_tuples(timings) == [
        (" a", 0.0, pytest.approx(0.2), pytest.approx(0.9)),
        (" bc", pytest.approx(0.2), pytest.approx(0.6), pytest.approx(0.6)),  # tokens 12 and 13: (0.5 + 0.7) / 2
        (" d", pytest.approx(0.6), pytest.approx(0.8), pytest.approx(0.8)),
        (" e", pytest.approx(0.8), pytest.approx(1.0), pytest.approx(0.6)),  # ends where the end-of-text row starts
    ]
    assert [t.tokens for t in timings] == [w.tokens for w in WORDS]


def test_attention_past_the_audio_frames_is_ignored():
    scores = block_scores()
    noisy = scores.clone()
    noisy[:, :, 60:] = torch.randn(4, 6, 1440, generator=torch.Generator().manual_seed(0)) * 50
    noisy[:, 0, 700] = 1000.0  # a row staring at padding
    assert as_tuples(word_timings(noisy, PROBS, WORDS, 120)) == as_tuples(word_timings(scores, PROBS, WORDS, 120))


def test_no_words_have_no_timings():
    assert word_timings(block_scores(), [], [], 120) == []


@pytest.mark.parametrize("seed", range(12))
def test_word_timings_follow_openais_find_alignment_on_random_attention(seed):
    generator = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 4, size=rng.integers(1, 8)).tolist()
    words = [WordTokens(f" w{i}", tuple(range(10 * i, 10 * i + n))) for i, n in enumerate(counts)]
    tokens = sum(counts)
    frames = int(rng.integers(40, 3000))
    scores = torch.randn(int(rng.integers(1, 6)), tokens + 1, 1500, generator=generator) * 3
    probs = rng.uniform(0, 1, size=tokens).tolist()
    got = as_tuples(word_timings(scores, probs, words, frames))
    expected = reference_word_timings(scores, probs, words, frames)
    assert got == [(w, pytest.approx(s), pytest.approx(e), pytest.approx(p)) for w, s, e, p in expected]
    assert all(a[2] <= b[1] + 1e-9 for a, b in zip(got, got[1:]))  # words never overlap


def test_word_timings_of_a_sliced_window_equal_openais_normalised_over_the_whole_sequence():
    """openai's find_alignment normalises each frame over every row of the sequence (<|startoftranscript|>, language,
    task, text, end of text) before keeping the text rows; so does word_timings given the whole sequence and the
    text rows (WhisperDecoder._timings)."""
    words = [WordTokens(" one", (1,)), WordTokens(" two", (2, 3)), WordTokens(" three", (4,))]
    prefix = 3  # <|startoftranscript|> <|en|> <|transcribe|>; then <|notimestamps|>, 4 text tokens, end of text
    window = slice(prefix, prefix + 5)  # the text rows WhisperDecoder._timings names
    for seed in range(10):
        scores = torch.randn(4, prefix + 6, 1500, generator=torch.Generator().manual_seed(seed)) * 3
        got = as_tuples(word_timings(scores, [0.5] * 4, words, frames=300, text_rows=window))
        expected = reference_word_timings(scores, [0.5] * 4, words, 300, text_rows=window)
        assert got == [(w, pytest.approx(s), pytest.approx(e), p) for w, s, e, p in expected]
