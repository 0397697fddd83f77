"""PCM samples in any integer or float sample format -> one float32 mono channel at full scale [-1, 1).

Integers are scaled as FFmpeg converts them to float (``x / 2**(bits - 1)``, unsigned 8-bit centred on 128), so a
16-bit mono file gives exactly the samples it gave through FFmpeg's resampler. Channels are mixed down by their
mean, as Whisper and faster-whisper do (FFmpeg's 'mono' layout with 16-bit output): FFmpeg's float output would
instead add stereo channels at 1/sqrt(2) each, louder than the source and beyond [-1, 1].

Where the channels cancel in the mean (one channel is the other inverted: a miswired microphone, a phase-inverted
export), the mean is near silence although the file is not: the loudest channel is used alone instead
(:data:`CANCELLED_RMS_RATIO`). Float samples are not limited here: once the whole request is decoded, a waveform
whose :func:`peak` is above :data:`MAX_PEAK` is brought back to full scale (:func:`to_full_scale`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SampleScale:
    offset: float  # the value of silence
    full_scale: float  # the magnitude that maps to 1.0


SCALES: dict[np.dtype, SampleScale] = {
    np.dtype(np.uint8): SampleScale(2.0**7, 2.0**7),
    np.dtype(np.int16): SampleScale(0.0, 2.0**15),
    np.dtype(np.int32): SampleScale(0.0, 2.0**31),
    np.dtype(np.float32): SampleScale(0.0, 1.0),
    np.dtype(np.float64): SampleScale(0.0, 1.0),
}
# The mean of the channels counts as cancelled when its RMS is below this fraction (-20 dB) of the first channel's.
# Two uncorrelated channels of equal power mix to 0.71 of either's RMS, a channel beside a silent one to 0.5: only
# channels that are (nearly) each other inverted lose more than 99 % of their power in the mean.
CANCELLED_RMS_RATIO = 0.1
# A waveform whose peak is above this (+6 dBFS) is scaled to a peak of 1.0. Float audio may legitimately overshoot
# full scale a little (inter-sample peaks, resampling ripple, unclipped float mixes), and Whisper's log-mel copes
# with it: the speech clips in tests/data (peak 0.71) transcribe exactly at x32 (peak 22.6) and degrade only beyond
# (x100: punctuation lost, x1000: garbage for a minute). Twice full scale leaves that margin on both sides.
MAX_PEAK = 2.0
ENERGY_BLOCK = 1 << 16  # samples converted to float64 at a time to measure a channel's energy


@dataclass(frozen=True)
class MonoMix:
    samples: np.ndarray  # (samples,) float32 at full scale
    channel: int | None = None  # the channel used alone where the channels cancelled in their mean; None: the mean


def mono_float32(channels: Sequence[np.ndarray]) -> MonoMix:
    """One (samples,) array per channel (or a (channels, samples) array), all of one dtype of :data:`SCALES` ->
    (samples,) float32, the mean of the channels (or the loudest channel, where the mean cancels).

    Channels are added one at a time: a numpy sum over the channel axis of interleaved samples costs ten times as
    much (its inner loop runs over the two or so channels).
    """
    dtype = channels[0].dtype
    scale, count = SCALES[dtype], len(channels)
    mono = _centred(channels[0], scale)
    first_energy = _energy(mono) if count > 1 else None
    with np.errstate(over="ignore"):  # finite floats near the type's limit: decode_audio refuses what overflowed
        for channel in channels[1:]:
            mono += channel
    if scale.offset:
        mono -= mono.dtype.type(scale.offset * (count - 1))
    if first_energy is not None and _energy(mono) < first_energy * (CANCELLED_RMS_RATIO * count) ** 2:
        loudest = _loudest(channels, scale)
        if loudest is not None:
            return MonoMix(_full_scale(_centred(channels[loudest], scale), scale, 1), loudest)
    return MonoMix(_full_scale(mono, scale, count))


def peak(waveform: np.ndarray) -> float:
    """The largest magnitude; NaN where a sample is NaN (two reductions: no temporary array)."""
    if waveform.size == 0:
        return 0.0
    return float(max(waveform.max(), -waveform.min()))


def to_full_scale(waveform: np.ndarray, waveform_peak: float) -> np.ndarray:
    """The waveform divided by its peak, in place (a division: the reciprocal of a peak near float32's limit would
    be subnormal)."""
    waveform /= np.float32(waveform_peak)
    return waveform


def _centred(channel: np.ndarray, scale: SampleScale) -> np.ndarray:
    """A float copy of one channel with silence at 0 (float64 stays float64 until the end: no overflow)."""
    mono = channel.astype(np.float64 if channel.dtype == np.float64 else np.float32)
    if scale.offset:
        mono -= mono.dtype.type(scale.offset)
    return mono


def _full_scale(mono: np.ndarray, scale: SampleScale, count: int) -> np.ndarray:
    mono = mono.astype(np.float32, copy=False)
    if scale.full_scale * count != 1.0:
        mono *= np.float32(1.0 / (scale.full_scale * count))
    return mono


def _energy(samples: np.ndarray) -> float:
    """The sum of squares: one BLAS dot product, or where that overflows float32 (audio far beyond full scale), in
    float64 a block at a time (no float64 copy of a long channel)."""
    with np.errstate(over="ignore"):
        total = float(np.dot(samples, samples))
    if np.isfinite(total):
        return total
    total = 0.0
    for at in range(0, samples.shape[0], ENERGY_BLOCK):
        block = samples[at : at + ENERGY_BLOCK].astype(np.float64)
        total += float(np.dot(block, block))
    return total


def _loudest(channels: Sequence[np.ndarray], scale: SampleScale) -> int | None:
    """The index of the channel with the most energy; None where all are silent."""
    energies = [_energy(_centred(channel, scale)) for channel in channels]
    best = int(np.argmax(energies))
    return best if energies[best] > 0 else None
