"""Degenerate decoding caught while it happens, and each window's token budget. Torch-free.

A window whose output loops ("!!!!", the same phrase over and over) or whose text compresses too well (openai's
compression-ratio rule, the one :mod:`serving.longform.quality` applies to finished windows) is stopped within
``CHECK_INTERVAL`` steps instead of running to ``max_new_tokens``; the decoded window says so (``degenerate``) and
goes through the temperature fallback like any failed window. A window also gets at most ``MAX_TOKENS_PER_SECOND``
tokens per second of its audio: speech never needs more, so a window of a few seconds cannot decode hundreds of
tokens of garbage.

Checks run on the host every ``CHECK_INTERVAL`` steps (one copy of the rows' histories); a row is checked only once it
has sampled its ``min_new_tokens`` (benchmarks force exact lengths that way).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

CHECK_INTERVAL = 8  # decoding steps between checks
# Fast speech is 3-4 words (5-6 tokens) per second in English and about as many in dense scripts; 15 tokens per
# second is Whisper's own densest (448 positions for a 30 s window) and 2-3x any speech.
MAX_TOKENS_PER_SECOND = 15.0
MIN_WINDOW_TOKENS = 24  # even a window of a fraction of a second may decode this many
LOOP_MIN_TOKENS = 24  # a repeated block is a loop once its repeats span this many tokens ...
LOOP_MIN_REPEATS = 3  # ... and it came at least this many times in a row
LOOP_MAX_PERIOD = 40  # the longest repeated block looked for (tokens)
COMPRESSION_MIN_TOKENS = 48  # text shorter than this is not judged by its compression ratio (zlib's overhead)

TextOf = Callable[[Sequence[int]], str]  # text tokens -> text


def window_token_cap(samples: int, sample_rate: int, min_new_tokens: int = 0) -> int:
    """The most tokens a window of ``samples`` of audio may decode (never fewer than a forced ``min_new_tokens``)."""
    cap = max(MIN_WINDOW_TOKENS, int(np.ceil(samples / sample_rate * MAX_TOKENS_PER_SECOND)))
    return max(cap, min_new_tokens)


def loop_period(tokens: Sequence[int]) -> int | None:
    """The length of the block that the end of ``tokens`` repeats, when it is a loop (``LOOP_MIN_REPEATS`` times in
    a row, over at least ``LOOP_MIN_TOKENS``); None otherwise."""
    values = np.asarray(tokens)
    count = values.shape[0]
    for period in range(1, LOOP_MAX_PERIOD + 1):
        span = max(LOOP_MIN_TOKENS, LOOP_MIN_REPEATS * period)
        if span > count:
            return None  # longer blocks need even more tokens
        tail = values[count - span :]
        if np.array_equal(tail[period:], tail[:-period]):
            return period
    return None


def compression_ratio(text: str) -> float:
    """openai/whisper's: UTF-8 bytes over zlib-compressed bytes (high for repetitive text)."""
    raw = text.encode("utf-8")
    return len(raw) / len(zlib.compress(raw)) if raw else 0.0


@dataclass(frozen=True)
class DegenerationCheck:
    """Judges a row's sampled tokens while it decodes: ``reason(tokens)`` names why it must stop, or None."""

    text_of: TextOf
    text_end: int  # token ids from here on (end of text, special tokens, timestamps) are not text
    compression_ratio: float = 2.4  # the quality threshold (option.compression_ratio_threshold)

    def reason(self, tokens: Sequence[int]) -> str | None:
        period = loop_period(tokens)
        if period is not None:
            return f"a loop of {period} token(s)"
        text_tokens = [token for token in tokens if token < self.text_end]
        if len(text_tokens) < COMPRESSION_MIN_TOKENS:
            return None
        ratio = compression_ratio(self.text_of(text_tokens))
        if ratio > self.compression_ratio:
            return f"compression ratio {ratio:.2f}"
        return None
