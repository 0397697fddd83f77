"""Word timestamps from the cross-attention of the model's alignment heads (openai/whisper's ``timing.py``).

For one window: the decoder reads the window's text tokens teacher-forced; the alignment heads' attention over the
audio frames is normalised per head, median-filtered and averaged; dynamic time warping finds the monotonic path
from tokens to frames; each word starts where the path enters its first token. The heuristics applied to these timings
afterwards (punctuation, pauses, sentence ends) are in :mod:`serving.longform.words`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from serving.constants import SECONDS_PER_TIMESTAMP
from serving.engine.decoded import WordTiming
from serving.engine.token_text import WordTokens

MEDIAN_FILTER_WIDTH = 7


def word_timings(
    scores: torch.Tensor, token_probs: list[float], words: list[WordTokens], frames: int,
    text_rows: slice | None = None,
) -> list[WordTiming]:
    """``scores``: raw alignment-head attention logits (heads, rows, sources) of the whole teacher-forced sequence;
    ``text_rows``: its rows that predict the text tokens and the end of text (None: every row). Each frame is
    normalised over every row before the text rows are kept, as openai's ``find_alignment`` does. ``frames``: the
    window's mel frames that hold audio (attention beyond them is ignored)."""
    if not words:
        return []
    matrix = _alignment_matrix(scores, frames)
    if text_rows is not None:
        matrix = matrix[text_rows]
    text_indices, time_indices = dtw(-matrix.double().cpu().numpy())
    boundaries = np.pad(np.cumsum([len(w.tokens) for w in words]), (1, 0))
    jumps = np.pad(np.diff(text_indices), (1, 0), constant_values=1).astype(bool)
    jump_times = time_indices[jumps] * SECONDS_PER_TIMESTAMP
    starts, ends = jump_times[boundaries[:-1]], jump_times[boundaries[1:]]
    return [
        WordTiming(word.text, word.tokens, float(start), float(end), float(np.mean(token_probs[i:j])))
        for word, start, end, i, j in zip(words, starts, ends, boundaries[:-1], boundaries[1:])
    ]


def _alignment_matrix(scores: torch.Tensor, frames: int) -> torch.Tensor:
    weights = scores[:, :, : max(1, frames // 2)].float().softmax(dim=-1)
    std, mean = torch.std_mean(weights, dim=-2, keepdim=True, unbiased=False)
    weights = median_filter((weights - mean) / std, MEDIAN_FILTER_WIDTH)
    return weights.mean(dim=0)


def median_filter(x: torch.Tensor, width: int) -> torch.Tensor:
    """Median over a sliding window of odd ``width`` along the last dimension, reflect-padded."""
    pad = width // 2
    if x.shape[-1] <= pad:
        return x
    padded = F.pad(x.unsqueeze(0), (pad, pad, 0, 0), mode="reflect").squeeze(0)
    return padded.unfold(-1, width, 1).sort()[0][..., pad]


def dtw(cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Monotonic alignment of rows (tokens) to columns (frames) with the least total cost: (row, column) indices.

    The recurrence of openai's ``dtw_cpu``, one row at a time: with ``best_above[j] = min(D[i-1, j-1], D[i-1, j])``
    and ``D[i, j] = x[i, j] + min(best_above[j], D[i, j-1])``, each row is a prefix sum plus a running minimum. As in
    ``dtw_cpu``, a tie between the diagonal and the cell above goes to the left neighbour (its cost and its step):
    the median filter repeats values, so such ties are real (tests/test_alignment.py).
    """
    rows, cols = cost.shape
    total = np.full((rows + 1, cols + 1), np.inf)
    total[0, 0] = 0.0
    trace = np.zeros((rows + 1, cols + 1), dtype=np.int8)
    for i in range(1, rows + 1):
        diagonal, above = total[i - 1, :-1], total[i - 1, 1:]
        best_above = np.where(diagonal == above, np.inf, np.minimum(diagonal, above))
        prefix = np.concatenate(([0.0], np.cumsum(cost[i - 1])))
        total[i, 1:] = prefix[1:] + np.minimum.accumulate(best_above - prefix[:-1])
        left = total[i, :-1]
        trace[i, 1:] = np.where(
            (diagonal < above) & (diagonal < left), 0, np.where((above < diagonal) & (above < left), 1, 2)
        )
    trace[0, :] = 2
    trace[:, 0] = 1
    return _backtrace(trace)


def _backtrace(trace: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    i, j = trace.shape[0] - 1, trace.shape[1] - 1
    path = []
    while i > 0 or j > 0:
        path.append((i - 1, j - 1))
        step = trace[i, j]
        if step == 0:
            i, j = i - 1, j - 1
        elif step == 1:
            i -= 1
        else:
            j -= 1
    path.reverse()
    indices = np.array(path)
    return indices[:, 0], indices[:, 1]
