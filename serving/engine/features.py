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

Edges: an STFT frame is centred on its sample, so the frames at a window's edges see ``N_FFT // 2`` samples beyond
it. openai/whisper and faster-whisper take the log-mel of the whole file and slice windows out of it, so those
frames see the neighbouring audio. :func:`window_in_context` gives a window with that much of its neighbours on each
side (``CONTEXT_WINDOW_SAMPLES``), and :class:`LogMel` takes such windows without padding them: every frame of a
window then equals the whole file's (with faster-whisper's ceiling). A bare ``WINDOW_SAMPLES`` window is
reflect-padded at both edges, as a window of its own (transformers' feature extractor). For audio of one window the
two are the same (its start is the file's start, and past its audio there are zeros either way); on the 301 s long
file, windows cut at arbitrary seeks, the bare windows' first two frames and last one differed from the file's.
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
CONTEXT_SAMPLES = N_FFT // 2  # samples beyond a window's edge that its edge frame sees
CONTEXT_WINDOW_SAMPLES = WINDOW_SAMPLES + 2 * CONTEXT_SAMPLES  # a window with its context on both sides


def window_in_context(samples, start: int, length: int) -> np.ndarray:
    """The audio ``samples[start : start + length]`` zero-padded to ``WINDOW_SAMPLES``, with ``CONTEXT_SAMPLES`` on
    each side as the STFT of the whole file sees them (``CONTEXT_WINDOW_SAMPLES`` float32): before it, the samples
    before ``start`` (at the file's start, reflected, as the STFT's reflect padding does); after it, the samples
    after a whole window (zeros past the file's end, as faster-whisper's 160 samples of padding give), zeros after
    a shorter one (its frames past the audio see silence). ``samples``: a 1-D array or anything sliced like one."""
    total = samples.shape[0]
    window = np.zeros(CONTEXT_WINDOW_SAMPLES, dtype=np.float32)
    body = CONTEXT_SAMPLES
    window[body : body + length] = samples[start : start + length]
    before = samples[max(start - CONTEXT_SAMPLES, 0) : start]
    window[body - before.shape[0] : body] = before
    if start < CONTEXT_SAMPLES:  # reflected: sample -i is sample i
        reflected = np.asarray(samples[1 : CONTEXT_SAMPLES - start + 1], dtype=np.float32)[::-1]
        window[body - start - reflected.shape[0] : body - start] = reflected
    if length == WINDOW_SAMPLES:
        after = samples[start + length : min(start + length + CONTEXT_SAMPLES, total)]
        window[body + length : body + length + after.shape[0]] = after
    return window


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
        """(batch, WINDOW_SAMPLES) float32 -> (batch, n_mels, FRAMES_PER_WINDOW) float32 on the device; or
        (batch, CONTEXT_WINDOW_SAMPLES): windows in context (:func:`window_in_context`), not padded.

        ``lengths``: the samples of audio at the start of each window (the rest is zero padding); with
        ``PAD_FEATURES`` the frames past them are set to zero. None: every window is all audio.
        ``ceilings``: per window, the loudest log10 mel bin of its request's audio (None: the window's own)."""
        audio = torch.as_tensor(windows, dtype=torch.float32).to(self.device, non_blocking=True)
        if audio.dim() != 2 or audio.shape[1] not in (WINDOW_SAMPLES, CONTEXT_WINDOW_SAMPLES):
            raise ValueError(f"expected (batch, {WINDOW_SAMPLES}) or (batch, {CONTEXT_WINDOW_SAMPLES}) windows, "
                             f"got {tuple(audio.shape)}")
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
        window at a time, in context: faster-whisper's maximum over the frames of the whole file (its frames
        ``0 .. len // HOP_LENGTH``)."""
        loudest = -10.0
        total = samples.shape[0]
        for start in range(0, total, WINDOW_SAMPLES):
            length = min(WINDOW_SAMPLES, total - start)
            window = torch.from_numpy(window_in_context(samples, start, length)).to(self.device)[None]
            frames = min(length // HOP_LENGTH + 1, FRAMES_PER_WINDOW)
            loudest = max(loudest, float(self._log10_mel(window)[:, :frames].amax()))
        return loudest

    def _log10_mel(self, audio: torch.Tensor) -> torch.Tensor:
        """(windows, samples) -> (windows, frames, mels), log10 of the mel energies; windows in context
        (``CONTEXT_WINDOW_SAMPLES``) as they are, bare ones reflect-padded."""
        bare = audio.shape[1] == WINDOW_SAMPLES
        stft = torch.stft(audio, N_FFT, HOP_LENGTH, window=self.window, center=bare, return_complex=True)
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
