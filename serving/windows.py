"""Stage 2: a waveform -> fixed 30 s windows, zero-padded at the end (Whisper's encoder input length)."""

from __future__ import annotations

import numpy as np

from serving.constants import WINDOW_SAMPLES


def window_count(num_samples: int) -> int:
    """Windows needed to cover the audio; at least one, so that even a very short clip is transcribed."""
    return max(1, -(-num_samples // WINDOW_SAMPLES))


def split_windows(waveform: np.ndarray) -> np.ndarray:
    """(samples,) -> (windows, WINDOW_SAMPLES); the last window is padded with silence, nothing is cut."""
    windows = window_count(waveform.shape[0])
    padded = np.zeros(windows * WINDOW_SAMPLES, dtype=np.float32)
    padded[: waveform.shape[0]] = waveform
    return padded.reshape(windows, WINDOW_SAMPLES)
