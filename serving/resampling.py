"""Mono float32 at any sample rate -> :data:`SAMPLE_RATE`, in one vectorised call over the whole signal (libsoxr)."""

from __future__ import annotations

import numpy as np
import soxr

from serving.constants import SAMPLE_RATE

QUALITY = "HQ"  # libsoxr's default: 20-bit precision, passband to 91 % of the output's Nyquist frequency


def resample(mono: np.ndarray, rate: int) -> np.ndarray:
    """(samples,) float32 at ``rate`` Hz -> (round(samples * SAMPLE_RATE / rate),) float32 at SAMPLE_RATE."""
    if rate == SAMPLE_RATE or mono.size == 0:
        return mono
    return soxr.resample(mono, rate, SAMPLE_RATE, quality=QUALITY).astype(np.float32, copy=False)
