"""Any container FFmpeg reads -> mono float32 at 16 kHz, decoded with PyAV.

Frames are read as numpy views of their planes, not through PyAV's resampler or ``to_ndarray`` (whose per-frame
costs dominated). Consecutive frames of one sample format, channel layout and rate form a run; a run is mixed down
and fed to one streaming resampler in a few vectorised calls (one per :data:`CHUNK_SECONDS`), whose output is written
into the request's one 16 kHz buffer (:class:`~serving.audio.buffer.WaveformBuffer`, sized from the declared length).
A stream may change format, layout or rate mid-way (concatenated or damaged MP3s); each change starts a new run.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass

import av
import numpy as np

from serving.audio import pcm
from serving.audio.buffer import WaveformBuffer
from serving.audio.resampling import StreamResampler
from serving.errors import AudioTooLong, UndecodableAudio, UnsupportedMediaType

logger = logging.getLogger(__name__)

# Container names as FFmpeg reports them (``container.format.name`` is a comma-separated list of aliases).
SUPPORTED_CONTAINERS = frozenset({"wav", "flac", "mp3", "ogg", "matroska", "webm", "mov", "mp4", "m4a", "aac"})
CHUNK_SECONDS = 30  # source-rate samples held before conversion: a long file is not kept whole at its own rate


def decode_with_av(data: bytes, max_seconds: float) -> np.ndarray:
    """Decode the first audio stream to 16 kHz mono float32 (one buffer), refusing a declared or decoded duration
    above ``max_seconds``."""
    try:
        container = av.open(io.BytesIO(data), mode="r", metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise UnsupportedMediaType(f"not a recognised audio file ({_reason(exc)})") from None
    with container:
        stream = _audio_stream(container)
        declared = _check_declared_duration(container, stream, max_seconds)
        return _decode_stream(container, stream, max_seconds, WaveformBuffer(declared))


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


def declared_seconds(container, stream) -> float | None:
    """The stream's duration as the file declares it (its own, else the container's); None where it declares none."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _check_declared_duration(container, stream, max_seconds: float) -> float | None:
    declared = declared_seconds(container, stream)
    if declared is not None and declared > max_seconds:
        raise declared_too_long(declared, max_seconds)
    return declared


def _decode_stream(container, stream, max_seconds: float, output: WaveformBuffer) -> np.ndarray:
    runs = _Runs(output)
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
    waveform = runs.finish()
    if runs.cancelled_chunks:
        logger.info("the channels cancel in their mean in %d of %d chunk(s): the loudest channel is used alone there",
                    runs.cancelled_chunks, runs.chunks)
    return waveform


class _Runs:
    """Collects frames' samples while their (format, layout, rate) stays the same (a run), and converts them to
    16 kHz mono in chunks of :data:`CHUNK_SECONDS` and when the run ends, into ``output``."""

    def __init__(self, output: WaveformBuffer) -> None:
        self.seconds = 0.0  # decoded so far, at the source rates
        self.chunks = 0  # mixed down so far
        self.cancelled_chunks = 0  # ... of which the loudest channel was used alone (the channels cancel)
        self._output = output  # at SAMPLE_RATE
        self._pending: list[list[np.ndarray]] = []  # per frame not yet converted: one array per plane
        self._pending_samples = 0
        self._key: tuple[str, str, int] | None = None
        self._source: _Source | None = None
        self._resampler: StreamResampler | None = None

    def add(self, frame: av.AudioFrame) -> None:
        if frame.samples == 0:
            return
        key = (frame.format.name, frame.layout.name, frame.sample_rate)
        if key != self._key:
            self._convert(last=True)
            self._key, self._source = key, _source(frame)
            self._resampler = StreamResampler(self._source.rate)
        count = frame.samples * (1 if self._source.planar else self._source.channels)
        self._pending.append([np.frombuffer(plane, self._source.dtype, count) for plane in frame.planes])
        self._pending_samples += frame.samples
        self.seconds += frame.samples / frame.sample_rate
        if self._pending_samples >= CHUNK_SECONDS * self._source.rate:
            self._convert(last=False)

    def finish(self) -> np.ndarray:
        self._convert(last=True)
        return self._output.finish()

    def _convert(self, last: bool) -> None:
        if self._resampler is None:
            return
        mono = self._mix() if self._pending else np.zeros(0, np.float32)
        self._output.append(self._resampler(mono, last=last))
        self._pending, self._pending_samples = [], 0

    def _mix(self) -> np.ndarray:
        mix = pcm.mono_float32(self._source.channels_of(self._pending))
        self.chunks += 1
        self.cancelled_chunks += mix.channel is not None
        return mix.samples


@dataclass(frozen=True)
class _Source:
    dtype: np.dtype
    planar: bool
    channels: int
    rate: int

    def channels_of(self, frames: list[list[np.ndarray]]) -> list[np.ndarray] | np.ndarray:
        """The run's samples, one array per channel (planar: one plane per channel; packed: interleaved)."""
        if self.planar:
            return [np.concatenate([planes[c] for planes in frames]) for c in range(self.channels)]
        return np.concatenate([planes[0] for planes in frames]).reshape(-1, self.channels).T


def _source(frame: av.AudioFrame) -> _Source:
    """What a run's frames hold (looked up once per run: a layout's channel list is costly to build)."""
    channels, rate = len(frame.layout.channels), frame.sample_rate
    if rate <= 0 or channels <= 0:
        raise UndecodableAudio(f"the audio stream decoded to frames of {channels} channel(s) at {rate} Hz")
    dtype = NUMPY_DTYPES.get(frame.format.packed.name)
    if dtype is None:
        raise UnsupportedMediaType(f"the audio's sample format {frame.format.name!r} is not supported")
    return _Source(np.dtype(dtype), frame.format.is_planar, channels, rate)


NUMPY_DTYPES = {"u8": np.uint8, "s16": np.int16, "s32": np.int32, "flt": np.float32, "dbl": np.float64}


def _reason(exc: av.FFmpegError) -> str:
    return getattr(exc, "strerror", None) or type(exc).__name__
