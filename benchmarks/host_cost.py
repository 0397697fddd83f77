"""Host cost per 30 s window: decoding + resampling (``serving.audio.decode.decode_audio``) and log-mel (``LogMel``).

The window is 30 s of the bundled speech, encoded in memory with PyAV as a client might send it: 16 kHz mono wav
(no resampling), 44.1 kHz stereo wav, mp3 and flac, and 48 kHz stereo opus in ogg (resampled and down-mixed). Log-mel runs where the
model runs (CPU, or the GPU including the host-to-device copy), for one window alone and per window of a batch.
Each figure is the median of several runs after one warm-up.
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from benchmarks.systems import Runtime
from benchmarks.workload import CLIP_LIMITS
from serving.audio.decode import decode_audio
from serving.constants import SAMPLE_RATE

REPEATS = 7
LOG_MEL_BATCH = 16


@dataclass(frozen=True)
class Encoding:
    label: str
    container: str
    codec: str
    rate: int
    layout: str


ENCODINGS = (
    Encoding("wav 16 kHz mono", "wav", "pcm_s16le", SAMPLE_RATE, "mono"),
    Encoding("wav 44.1 kHz stereo", "wav", "pcm_s16le", 44_100, "stereo"),
    Encoding("mp3 44.1 kHz stereo", "mp3", "libmp3lame", 44_100, "stereo"),
    Encoding("flac 44.1 kHz stereo", "flac", "flac", 44_100, "stereo"),
    Encoding("opus 48 kHz stereo", "ogg", "libopus", 48_000, "stereo"),
)


@dataclass(frozen=True)
class HostCost:
    decode_ms: dict[str, float]  # per encoding label: decode + resample of one 30 s window
    log_mel_ms: float  # one window alone
    log_mel_batched_ms: float  # per window, in a batch of LOG_MEL_BATCH
    log_mel_device: str

    def total_ms(self, label: str) -> float:
        """Host cost of one window sent as ``label`` and transcribed in a batch."""
        return self.decode_ms[label] + self.log_mel_batched_ms


def encode(audio: np.ndarray, encoding: Encoding) -> bytes:
    """16 kHz mono float32 -> a complete audio file in ``encoding``."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=encoding.container) as output:
        stream = output.add_stream(encoding.codec, rate=encoding.rate, layout=encoding.layout)
        frame = av.AudioFrame.from_ndarray(audio[None, :].astype(np.float32), format="flt", layout="mono")
        frame.sample_rate = SAMPLE_RATE
        resampler = av.AudioResampler(format=stream.codec_context.format, layout=encoding.layout, rate=encoding.rate)
        for resampled in [*resampler.resample(frame), *resampler.resample(None)]:
            output.mux(stream.encode(resampled))
        output.mux(stream.encode(None))
    return buffer.getvalue()


def make_log_mel(model_dir: Path, runtime: Runtime):
    """The service's log-mel for this model's filters, on the runtime's device (one place, as for the core)."""
    from transformers import WhisperFeatureExtractor

    from serving.engine.features import LogMel

    extractor = WhisperFeatureExtractor.from_pretrained(str(model_dir))
    return LogMel(extractor.mel_filters, runtime.device)


def measure_host_cost(window: np.ndarray, model_dir: Path, runtime: Runtime, repeats: int = REPEATS) -> HostCost:
    decode_ms = {}
    for encoding in ENCODINGS:
        data = encode(window, encoding)
        decode_ms[encoding.label] = median_ms(lambda: decode_audio(data, CLIP_LIMITS), repeats)
    log_mel = make_log_mel(model_dir, runtime)
    batch = np.stack([window] * LOG_MEL_BATCH)

    def features(windows: np.ndarray) -> Callable[[], None]:
        return lambda: (log_mel(windows), runtime.synchronize())

    return HostCost(
        decode_ms=decode_ms,
        log_mel_ms=median_ms(features(window[None]), repeats),
        log_mel_batched_ms=median_ms(features(batch), repeats) / LOG_MEL_BATCH,
        log_mel_device=runtime.device,
    )


def median_ms(run: Callable[[], object], repeats: int = REPEATS) -> float:
    run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)
