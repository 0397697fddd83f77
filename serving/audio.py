"""Stage 1: audio bytes -> mono float32 waveform at 16 kHz, decoded in-process with PyAV (no system ffmpeg).

Limits are enforced before the work they protect: size before opening, declared duration before decoding, and
decoded duration while decoding (a file may lie about its length).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

import av
import numpy as np

from serving.constants import SAMPLE_RATE
from serving.errors import AudioTooLarge, AudioTooLong, BadParameter, UndecodableAudio, UnsupportedMediaType

logger = logging.getLogger(__name__)

# Container names as FFmpeg reports them (``container.format.name`` is a comma-separated list of aliases).
SUPPORTED_CONTAINERS = frozenset({"wav", "flac", "mp3", "ogg", "matroska", "webm", "mov", "mp4", "m4a", "aac"})


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
    try:
        container = av.open(io.BytesIO(data), mode="r", metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise UnsupportedMediaType(f"not a recognised audio file ({_reason(exc)})") from None
    with container:
        stream = _audio_stream(container)
        _check_declared_duration(container, stream, limits.max_seconds)
        waveform = _decode_stream(container, stream, limits.max_seconds)
    if waveform.size == 0:
        raise UndecodableAudio("the audio stream decoded to no samples")
    if not np.isfinite(waveform).all():  # float PCM can carry NaN or infinity: noise to the model, not audio
        raise UndecodableAudio("the audio contains samples that are not finite numbers (NaN or infinity)")
    return waveform


def duration_seconds(waveform: np.ndarray) -> float:
    return waveform.shape[-1] / SAMPLE_RATE


def _audio_stream(container: av.container.InputContainer) -> av.audio.stream.AudioStream:
    names = set(container.format.name.split(","))
    if not names & SUPPORTED_CONTAINERS:
        raise UnsupportedMediaType(
            f"unsupported format {container.format.name!r}; send wav, flac, mp3, ogg/opus, webm or m4a/aac"
        )
    if not container.streams.audio:
        raise UnsupportedMediaType(f"the {container.format.name!r} file has no audio stream")
    return container.streams.audio[0]


def _check_declared_duration(container, stream, max_seconds: float) -> None:
    declared = None
    if stream.duration is not None and stream.time_base is not None:
        declared = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        declared = container.duration / av.time_base
    if declared is not None and declared > max_seconds:
        raise AudioTooLong(f"audio declares {declared:.1f} s; the limit is {max_seconds:g} s")


def _decode_stream(container, stream, max_seconds: float) -> np.ndarray:
    resampler = _ToMono16k()
    max_samples = int(max_seconds * SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    total = 0
    try:
        for frame in container.decode(stream):
            total += _append(chunks, resampler(frame))
            if total > max_samples:
                raise _too_long(max_seconds, total)
        total += _append(chunks, resampler.flush())
    except av.FFmpegError as exc:
        if total == 0:
            raise UndecodableAudio(f"the audio could not be decoded ({_reason(exc)})") from None
        # A damaged tail after good audio: keep what decoded, as players do, and say so in the log.
        logger.warning("audio decoding stopped early after %.2f s: %s", total / SAMPLE_RATE, _reason(exc))
    if total > max_samples:
        raise _too_long(max_seconds, total)
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)


class _ToMono16k:
    """PyAV's resampler is fixed to its first frame's format, layout and rate (a later frame that differs is a
    ValueError, or passes through unconverted); a stream may change them mid-way (concatenated or damaged MP3s). A
    change drains the current resampler and starts a new one."""

    def __init__(self) -> None:
        self._resampler: av.AudioResampler | None = None
        self._source: tuple | None = None

    def __call__(self, frame: av.AudioFrame) -> list[av.AudioFrame]:
        source = (frame.format.name, frame.layout.name, frame.sample_rate)
        drained = []
        if source != self._source:
            drained = self.flush()
            self._resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
            self._source = source
        return drained + self._resampler.resample(frame)

    def flush(self) -> list[av.AudioFrame]:
        return self._resampler.resample(None) if self._resampler is not None else []


def _too_long(max_seconds: float, decoded_samples: int) -> AudioTooLong:
    """The decoded count says how much work was done before stopping (a file may hide its length)."""
    return AudioTooLong(
        f"audio is longer than the limit of {max_seconds:g} s (decoding stopped at "
        f"{decoded_samples / SAMPLE_RATE:.1f} s)"
    )


def _append(chunks: list[np.ndarray], frames) -> int:
    added = 0
    for frame in frames:
        samples = frame.to_ndarray().reshape(-1).astype(np.float32, copy=False)
        chunks.append(samples)
        added += samples.size
    return added


def _reason(exc: av.FFmpegError) -> str:
    return getattr(exc, "strerror", None) or type(exc).__name__
