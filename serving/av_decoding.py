"""Any container FFmpeg reads -> runs of mono float32 samples at their source rate, decoded with PyAV.

Frames are converted with numpy, not with PyAV's resampler (whose per-frame cost dominated): consecutive frames of
one sample format, channel count and rate form a run, converted and mixed down in one call when the run ends. A
stream may change any of these mid-way (concatenated or damaged MP3s); each change starts a new run. The caller
resamples each run once.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

import av
import numpy as np

from serving import pcm
from serving.errors import AudioTooLong, UndecodableAudio, UnsupportedMediaType

logger = logging.getLogger(__name__)

# Container names as FFmpeg reports them (``container.format.name`` is a comma-separated list of aliases).
SUPPORTED_CONTAINERS = frozenset({"wav", "flac", "mp3", "ogg", "matroska", "webm", "mov", "mp4", "m4a", "aac"})


@dataclass(frozen=True)
class MonoRun:
    """Consecutive mono samples at one rate."""

    rate: int
    samples: np.ndarray  # (samples,) float32


def decode_runs(data: bytes, max_seconds: float) -> list[MonoRun]:
    """Decode the first audio stream, refusing a declared or decoded duration above ``max_seconds``."""
    try:
        container = av.open(io.BytesIO(data), mode="r", metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise UnsupportedMediaType(f"not a recognised audio file ({_reason(exc)})") from None
    with container:
        stream = _audio_stream(container)
        _check_declared_duration(container, stream, max_seconds)
        return _decode_stream(container, stream, max_seconds)


def too_long(max_seconds: float, decoded_seconds: float) -> AudioTooLong:
    """The decoded duration says how much work was done before stopping (a file may hide its length)."""
    return AudioTooLong(
        f"audio is longer than the limit of {max_seconds:g} s (decoding stopped at {decoded_seconds:.1f} s)"
    )


def declared_too_long(declared_seconds: float, max_seconds: float) -> AudioTooLong:
    return AudioTooLong(f"audio declares {declared_seconds:.1f} s; the limit is {max_seconds:g} s")


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
        raise declared_too_long(declared, max_seconds)


def _decode_stream(container, stream, max_seconds: float) -> list[MonoRun]:
    runs = _Runs()
    try:
        for frame in container.decode(stream):
            runs.add(frame)
            if runs.seconds > max_seconds:
                raise too_long(max_seconds, runs.seconds)
    except av.FFmpegError as exc:
        if runs.seconds == 0:
            raise UndecodableAudio(f"the audio could not be decoded ({_reason(exc)})") from None
        # A damaged tail after good audio: keep what decoded, as players do, and say so in the log.
        logger.warning("audio decoding stopped early after %.2f s: %s", runs.seconds, _reason(exc))
    return runs.finish()


class _Runs:
    """Collects frames' arrays while their (format, channels, rate) stays the same; converts each run once."""

    def __init__(self) -> None:
        self.seconds = 0.0  # decoded so far, at the source rates
        self._done: list[MonoRun] = []
        self._arrays: list[np.ndarray] = []
        self._key: tuple[str, int, int] | None = None

    def add(self, frame: av.AudioFrame) -> None:
        if frame.samples == 0:
            return
        channels = len(frame.layout.channels)
        key = (frame.format.name, channels, frame.sample_rate)
        if key != self._key:
            self._close()
            _check_frame(frame.format, channels, frame.sample_rate)
            self._key = key
        self._arrays.append(_channels_first(frame, channels))
        self.seconds += frame.samples / frame.sample_rate

    def finish(self) -> list[MonoRun]:
        self._close()
        return self._done

    def _close(self) -> None:
        if self._arrays:
            samples = self._arrays[0] if len(self._arrays) == 1 else np.concatenate(self._arrays, axis=1)
            self._done.append(MonoRun(self._key[2], pcm.mono_float32(samples)))
        self._arrays = []


def _check_frame(sample_format: av.AudioFormat, channels: int, rate: int) -> None:
    if rate <= 0 or channels <= 0:
        raise UndecodableAudio(f"the audio stream decoded to frames of {channels} channel(s) at {rate} Hz")
    if sample_format.packed.name not in NUMPY_FORMATS:
        raise UnsupportedMediaType(f"the audio's sample format {sample_format.name!r} is not supported")


NUMPY_FORMATS = frozenset({"u8", "s16", "s32", "flt", "dbl"})  # packed names of the formats to_ndarray converts


def _channels_first(frame: av.AudioFrame, channels: int) -> np.ndarray:
    """(channels, samples): planar frames come so, packed ones interleaved in one row."""
    array = frame.to_ndarray()
    return array if frame.format.is_planar else array.reshape(-1, channels).T


def _reason(exc: av.FFmpegError) -> str:
    return getattr(exc, "strerror", None) or type(exc).__name__
