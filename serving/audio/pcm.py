"""PCM samples in any integer or float sample format -> one float32 mono channel at full scale [-1, 1).

Integers are scaled as FFmpeg converts them to float (``x / 2**(bits - 1)``, unsigned 8-bit centred on 128), so a
16-bit mono file gives exactly the samples it gave through FFmpeg's resampler. Channels are mixed down by their
mean, as Whisper and faster-whisper do (FFmpeg's 'mono' layout with 16-bit output): FFmpeg's float output would
instead add stereo channels at 1/sqrt(2) each, louder than the source and beyond [-1, 1].
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


def mono_float32(channels: Sequence[np.ndarray]) -> np.ndarray:
    """One (samples,) array per channel (or a (channels, samples) array), all of one dtype of :data:`SCALES` ->
    (samples,) float32, the mean of the channels.

    Channels are added one at a time: a numpy sum over the channel axis of interleaved samples costs ten times as
    much (its inner loop runs over the two or so channels).
    """
    dtype = channels[0].dtype
    scale, count = SCALES[dtype], len(channels)
    mono = channels[0].astype(np.float64 if dtype == np.float64 else np.float32)
    for channel in channels[1:]:
        mono += channel
    mono = mono.astype(np.float32, copy=False)
    if scale.offset:
        mono -= np.float32(scale.offset * count)
    if scale.full_scale * count != 1.0:
        mono *= np.float32(1.0 / (scale.full_scale * count))
    return mono
