"""Audio bytes -> mono float32 waveform at 16 kHz, in-process (no system ffmpeg).

Plain WAV files are read with numpy (:mod:`serving.audio.wav`); everything else is decoded with PyAV
(:mod:`serving.audio.av_decoding`). Either way the samples are mixed down to mono at their source rate and resampled
in vectorised calls over chunks of :data:`~serving.audio.av_decoding.CHUNK_SECONDS` (:mod:`serving.audio.resampling`),
each written into the request's one 16 kHz float32 buffer (:mod:`serving.audio.buffer`): no whole-file copy at the
source rate, and the waveform is never held twice.

Limits are enforced before the work they protect: size before opening, declared duration before decoding, and
decoded duration while decoding (a file may lie about its length).

Float files carry any value: NaN or infinity is refused (422), and a waveform whose peak is far beyond full scale (a
mis-scaled float export: speech x 1000, or x 1e18) is scaled back to full scale (:data:`~serving.audio.pcm.MAX_PEAK`)
and logged, since the model would otherwise decode minutes of garbage from it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from serving.audio import pcm
from serving.audio.av_decoding import CHUNK_SECONDS, declared_too_long, decode_with_av
from serving.audio.buffer import WaveformBuffer
from serving.audio.resampling import StreamResampler
from serving.audio.wav import WavAudio, parse_wav
from serving.constants import SAMPLE_RATE
from serving.errors import AudioTooLarge, BadParameter, UndecodableAudio

logger = logging.getLogger(__name__)

CANCELLED_CHANNELS = "the %d channels cancel in their mean: channel %d (the loudest) is used alone"
CANCELLED_CHUNKS = "the %d channels cancel in their mean in %d of %d chunk(s): the loudest channel is used alone there"


@dataclass(frozen=True)
class AudioLimits:
    max_bytes: int
    max_seconds: float


def decode_audio(data: bytes, limits: AudioLimits) -> np.ndarray:
    """Decode any supported container to a 1-D float32 array at :data:`SAMPLE_RATE`."""
    if not data:
        raise BadParameter("the request carries no audio (empty body)")
    if len(data) > limits.max_bytes:
        raise AudioTooLarge(f"audio is {len(data)} bytes; the limit is {limits.max_bytes} bytes")
    wav = parse_wav(data)
    waveform = _read_wav(wav, limits.max_seconds) if wav is not None else decode_with_av(data, limits.max_seconds)
    if waveform.size == 0:
        raise UndecodableAudio("the audio stream decoded to no samples")
    return _in_range(waveform)


def duration_seconds(waveform: np.ndarray) -> float:
    return waveform.shape[-1] / SAMPLE_RATE


def _in_range(waveform: np.ndarray) -> np.ndarray:
    """Finite samples, with a peak of at most :data:`~serving.audio.pcm.MAX_PEAK` (scaled down to full scale where
    it is above, and logged)."""
    peak = pcm.peak(waveform)
    if not np.isfinite(peak):  # float PCM can carry NaN or infinity: noise to the model, not audio
        raise UndecodableAudio(
            "the audio contains samples that are not finite numbers (NaN or infinity, or float values so large that "
            "mixing or resampling them overflows)"
        )
    if peak <= pcm.MAX_PEAK:
        return waveform
    logger.info("the audio peaks at %.3g times full scale (a mis-scaled float file?): scaled to full scale", peak)
    return pcm.to_full_scale(waveform, peak)


def _read_wav(wav: WavAudio, max_seconds: float) -> np.ndarray:
    """A plain WAV's data chunk is all in the request: its declared duration is its decoded duration. Its samples
    are viewed in place and converted a chunk at a time into one buffer."""
    if wav.seconds > max_seconds:
        raise declared_too_long(wav.seconds, max_seconds)
    channels, rate = wav.channels_first(), wav.format.rate
    output, resampler = WaveformBuffer(wav.seconds), StreamResampler(rate)
    step = CHUNK_SECONDS * rate
    starts = range(0, channels.shape[1], step)
    cancelled = []
    for start in starts:
        mix = pcm.mono_float32(channels[:, start : start + step])
        output.append(resampler(mix.samples, last=start + step >= channels.shape[1]))
        if mix.channel is not None:
            cancelled.append(mix.channel)
    if len(starts) == 1 and cancelled:
        logger.info(CANCELLED_CHANNELS, wav.format.channels, cancelled[0])
    elif cancelled:
        logger.info(CANCELLED_CHUNKS, wav.format.channels, len(cancelled), len(starts))
    return output.finish()
