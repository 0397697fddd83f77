"""Mono float32 at any sample rate -> :data:`SAMPLE_RATE`, vectorised over the whole signal (libsoxr).

:func:`resample` takes a whole signal in one call; :class:`StreamResampler` takes it in consecutive chunks (so
that a long decode need not hold all its source-rate samples) and gives the same samples, bit for bit.
"""

from __future__ import annotations

import numpy as np
import soxr

from serving.constants import SAMPLE_RATE

QUALITY = "HQ"  # libsoxr's default: 20-bit precision, passband to 91 % of the output's Nyquist frequency


def resample(mono: np.ndarray, rate: int) -> np.ndarray:
    """(samples,) float32 at ``rate`` Hz -> (about samples * SAMPLE_RATE / rate,) float32 at SAMPLE_RATE."""
    if rate == SAMPLE_RATE or mono.size == 0:
        return mono
    return soxr.resample(mono, rate, SAMPLE_RATE, quality=QUALITY).astype(np.float32, copy=False)


class StreamResampler:
    """One signal at ``rate`` Hz, chunk by chunk; the last call (``last=True``) flushes the filter's tail."""

    def __init__(self, rate: int) -> None:
        self._stream = None
        if rate != SAMPLE_RATE:
            self._stream = soxr.ResampleStream(rate, SAMPLE_RATE, 1, dtype="float32", quality=QUALITY)

    def __call__(self, mono: np.ndarray, last: bool = False) -> np.ndarray:
        if self._stream is None:
            return mono
        return self._stream.resample_chunk(mono, last=last)
