"""Stage 3: 30 s windows -> log-mel features, for a whole batch at once on the model's device.

The same arithmetic as openai/whisper and transformers' WhisperFeatureExtractor (Hann STFT, Slaney mel filters,
log10, clamp to 8 below each window's maximum, scale to about [-1, 1]); the filters come from the model's own
feature extractor so that 80- and 128-bin models both work.
"""

from __future__ import annotations

import numpy as np
import torch

from serving.constants import FRAMES_PER_WINDOW, HOP_LENGTH, N_FFT, WINDOW_SAMPLES

DYNAMIC_RANGE = 8.0  # log10 units kept below the loudest bin of a window


class LogMel:
    """Computes log-mel features of batches of windows on one device."""

    def __init__(self, mel_filters: np.ndarray, device: torch.device | str) -> None:
        self.device = torch.device(device)
        self.filters = torch.as_tensor(mel_filters, dtype=torch.float32, device=self.device).T  # (mels, bins)
        self.window = torch.hann_window(N_FFT, device=self.device)

    @property
    def n_mels(self) -> int:
        return self.filters.shape[0]

    def __call__(self, windows: np.ndarray | torch.Tensor) -> torch.Tensor:
        """(batch, WINDOW_SAMPLES) float32 -> (batch, n_mels, FRAMES_PER_WINDOW) float32 on the device."""
        audio = torch.as_tensor(windows, dtype=torch.float32).to(self.device, non_blocking=True)
        if audio.dim() != 2 or audio.shape[1] != WINDOW_SAMPLES:
            raise ValueError(f"expected (batch, {WINDOW_SAMPLES}) windows, got {tuple(audio.shape)}")
        stft = torch.stft(audio, N_FFT, HOP_LENGTH, window=self.window, return_complex=True)
        power = stft[..., :FRAMES_PER_WINDOW].abs() ** 2
        log_spec = torch.clamp(self.filters @ power, min=1e-10).log10()
        ceiling = log_spec.amax(dim=(1, 2), keepdim=True)
        log_spec = torch.maximum(log_spec, ceiling - DYNAMIC_RANGE)
        return (log_spec + 4.0) / 4.0
