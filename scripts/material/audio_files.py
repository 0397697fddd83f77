"""Audio files <-> float32 mono 16 kHz arrays for the test material, with PyAV (its bundled ffmpeg; no system tools).

``read_audio(path)`` decodes any file PyAV opens to mono 16 kHz; ``encode_audio(waveform, "wav" | "flac")`` writes
an array as the bytes of a PCM16 wav or a FLAC file, to send through the HTTP/DJL path. Encoding is bit-exact
(no version strings), so the same array always gives the same bytes.
"""

from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np

from serving.constants import SAMPLE_RATE

# container -> (codec, sample format the codec is fed). FLAC keeps 16 bits so that both formats hold the same samples.
ENCODINGS: dict[str, tuple[str, str]] = {"wav": ("pcm_s16le", "s16"), "flac": ("flac", "s16")}
PCM16_SCALE = 32768  # as decoders divide: int16 / 32768 -> float
_FRAME_SAMPLES = 4096


def read_audio(path: Path) -> np.ndarray:
    """Decode a file to a 1-D float32 array at 16 kHz (channels averaged)."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            frame.pts = None
            chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(frame))
    chunks.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
    return np.concatenate(chunks).astype(np.float32)


def encode_audio(waveform: np.ndarray, container: str = "wav") -> bytes:
    """The bytes of a mono 16 kHz PCM16 ``wav`` or ``flac`` file holding ``waveform`` (float, clipped to [-1, 1))."""
    if container not in ENCODINGS:
        raise ValueError(f"container must be one of {sorted(ENCODINGS)}, not {container!r}")
    codec, sample_format = ENCODINGS[container]
    pcm = _pcm16(waveform)
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container, options={"fflags": "+bitexact"}) as output:
        stream = output.add_stream(codec, rate=SAMPLE_RATE, options={"flags": "+bitexact"})
        stream.layout = "mono"
        stream.format = sample_format
        for start in range(0, len(pcm), _FRAME_SAMPLES):
            frame = av.AudioFrame.from_ndarray(pcm[None, start : start + _FRAME_SAMPLES], format="s16", layout="mono")
            frame.rate = SAMPLE_RATE
            frame.pts = start
            output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return buffer.getvalue()


def _pcm16(waveform: np.ndarray) -> np.ndarray:
    if waveform.ndim != 1:
        raise ValueError(f"expected a 1-D waveform, got shape {waveform.shape}")
    pcm = np.round(np.asarray(waveform, dtype=np.float64) * PCM16_SCALE)
    return np.ascontiguousarray(np.clip(pcm, -PCM16_SCALE, PCM16_SCALE - 1).astype(np.int16))
