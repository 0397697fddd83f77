"""30 s windows -> log-mel features, for a whole batch at once on the model's device.

The same arithmetic as openai/whisper and transformers' WhisperFeatureExtractor (Hann STFT, Slaney mel filters,
log10, clamp to 8 below a maximum, scale to about [-1, 1]); the filters come from the model's own feature extractor
so that 80- and 128-bin models both work.

The maximum: the loudest bin of the request's whole audio when the caller gives it (``ceilings``, from
:meth:`LogMel.ceiling`), as openai/whisper's and faster-whisper's ``transcribe`` take the log-mel of the whole file
once and slice windows out of it; else the window's own (the same thing for audio of one window). On the 301 s long
file, each window's own maximum set a lower floor than the file's in most windows and flipped words that
faster-whisper, on the same weights and the same windows, decoded otherwise (``docs/longform.md``).

Two things keep it cheap on the CPU. The power spectrum is never formed: the squared real and imaginary parts go
straight into one matrix product with filters repeated for both (no complex ``abs``, a square root then a square).
And the windows of a batch go through the STFT one at a time: one window's spectrum (5 MB) stays in the cache,
a batch of 16 spills to memory and cost 2.5 times as much per window. Accelerators take the batch in one go.

Padding: a window shorter than 30 s is zero-padded audio. ``PAD_AUDIO`` keeps the log-mel of that silence (clamped
to 8 below the window's maximum), as transformers' feature extractor and openai's ``pad_or_trim(audio)`` do;
``PAD_FEATURES`` sets every frame past the audio (``length // HOP_LENGTH`` frames hold audio) to zero, as
faster-whisper and openai's ``transcribe()`` do (they pad 160 samples, take the log-mel, then pad the features with
zeros). Which one the server uses is the option ``log_mel_padding``, chosen by measurement (``docs/accuracy.md``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from serving.constants import FRAMES_PER_WINDOW, HOP_LENGTH, N_FFT, WINDOW_SAMPLES

DYNAMIC_RANGE = 8.0  # log10 units kept below the loudest bin of a window
CPU_WINDOWS_PER_STFT = 1
PAD_AUDIO, PAD_FEATURES = "audio", "features"
PADDINGS = (PAD_AUDIO, PAD_FEATURES)


class LogMel:
    """Computes log-mel features of batches of windows on one device."""

    def __init__(self, mel_filters: np.ndarray, device: torch.device | str, padding: str = PAD_FEATURES) -> None:
        if padding not in PADDINGS:
            raise ValueError(f"padding must be one of {PADDINGS}, not {padding!r}")
        self.padding = padding
        self.device = torch.device(device)
        filters = torch.as_tensor(mel_filters, dtype=torch.float32, device=self.device)  # (bins, mels)
        self.n_mels = filters.shape[1]
        self.parts_filters = filters.repeat_interleave(2, dim=0).contiguous()  # (2 * bins, mels): re, im per bin
        self.window = torch.hann_window(N_FFT, device=self.device)

    def __call__(self, windows: np.ndarray | torch.Tensor, lengths: Sequence[int] | None = None,
                 ceilings: Sequence[float | None] | None = None) -> torch.Tensor:
        """(batch, WINDOW_SAMPLES) float32 -> (batch, n_mels, FRAMES_PER_WINDOW) float32 on the device.

        ``lengths``: the samples of audio at the start of each window (the rest is zero padding); with
        ``PAD_FEATURES`` the frames past them are set to zero. None: every window is all audio.
        ``ceilings``: per window, the loudest log10 mel bin of its request's audio (None: the window's own)."""
        audio = torch.as_tensor(windows, dtype=torch.float32).to(self.device, non_blocking=True)
        if audio.dim() != 2 or audio.shape[1] != WINDOW_SAMPLES:
            raise ValueError(f"expected (batch, {WINDOW_SAMPLES}) windows, got {tuple(audio.shape)}")
        step = CPU_WINDOWS_PER_STFT if self.device.type == "cpu" else max(audio.shape[0], 1)
        features = torch.empty(audio.shape[0], self.n_mels, FRAMES_PER_WINDOW, device=self.device)
        for start in range(0, audio.shape[0], step):
            rows = range(start, min(start + step, audio.shape[0]))
            features[start : start + step] = self._log_mel(audio[start : start + step],
                                                           [ceilings[r] if ceilings else None for r in rows])
        if self.padding == PAD_FEATURES and lengths is not None:
            for row, length in enumerate(lengths):
                features[row, :, max(int(length), 0) // HOP_LENGTH :] = 0.0
        return features

    def ceiling(self, samples) -> float:
        """The loudest log10 mel bin of a request's audio (a 1-D array, or anything sliced like one), computed a
        window at a time (the last zero-padded)."""
        loudest = -10.0
        for start in range(0, samples.shape[0], WINDOW_SAMPLES):
            piece = np.asarray(samples[start : start + WINDOW_SAMPLES], dtype=np.float32)
            window = torch.zeros(1, WINDOW_SAMPLES, device=self.device)
            window[0, : piece.shape[0]] = torch.tensor(piece, device=self.device)  # a copy: the audio may be read-only
            frames = -(-piece.shape[0] // HOP_LENGTH)
            loudest = max(loudest, float(self._log10_mel(window)[:, :frames].amax()))
        return loudest

    def _log10_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """(windows, samples) -> (windows, frames, mels), log10 of the mel energies."""
        stft = torch.stft(audio, N_FFT, HOP_LENGTH, window=self.window, return_complex=True)
        spectra = stft.transpose(1, 2)[:, :FRAMES_PER_WINDOW]  # (windows, frames, bins): contiguous bins
        squared_parts = torch.view_as_real(spectra).square().flatten(2)  # (windows, frames, 2 * bins)
        return (squared_parts @ self.parts_filters).clamp_(min=1e-10).log10_()  # (windows, frames, mels)

    def _log_mel(self, audio: torch.Tensor, ceilings: Sequence[float | None]) -> torch.Tensor:
        """(windows, samples) -> (windows, n_mels, frames), each clamped to 8 below its ceiling (None: its own
        loudest bin)."""
        log_spec = self._log10_mel(audio)
        own = log_spec.amax(dim=(1, 2), keepdim=True)
        given = torch.tensor([c if c is not None else 0.0 for c in ceilings], device=self.device).view(-1, 1, 1)
        is_given = torch.tensor([c is not None for c in ceilings], device=self.device).view(-1, 1, 1)
        ceiling = torch.where(is_given, torch.maximum(given, own), own)
        log_spec = torch.maximum(log_spec, ceiling - DYNAMIC_RANGE)
        return log_spec.add_(4.0).div_(4.0).transpose(1, 2)
