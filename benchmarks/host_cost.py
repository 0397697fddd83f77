"""Host cost per 30 s window: decoding + resampling (``serving.audio.decode.decode_audio``) and log-mel (``LogMel``).

The window is 30 s of the bundled speech, encoded in memory with PyAV as a client might send it: 16 kHz mono wav
(no resampling), 44.1 kHz stereo wav, mp3, flac and aac in m4a, and 48 kHz stereo opus in ogg (resampled and
down-mixed). Log-mel runs where the model runs (CPU, or the GPU including the host-to-device copy), for one window
alone and per window of a batch. Each figure is the median of several runs after one warm-up.

``python -m benchmarks.host_cost`` prints, per encoding, what decoding a window costs and what it takes from the
model's thread when it runs in a thread of the serving process (before the decode pool) and in the pool's worker
processes (after), with the GIL measurements behind the choice of processes (:mod:`benchmarks.model_thread`).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from benchmarks.model_thread import (
    GPU_LIKE,
    MEASURE_S,
    Parallelism,
    Profile,
    alone_blocked_s,
    counter_share,
    in_a_thread,
    model_thread_loss,
    threads_vs_processes,
    warmed_pool,
)
from benchmarks.systems import Runtime
from benchmarks.workload import CLIP_LIMITS, window_request
from serving.audio.decode import decode_audio
from serving.audio.pool import usable_cores
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
    Encoding("aac 44.1 kHz stereo (m4a)", "ipod", "aac", 44_100, "stereo"),
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


@dataclass(frozen=True)
class CodecRow:
    label: str
    kilobytes: float
    decode_ms: float  # one window, alone, in this thread: its CPU time
    counter_share: float  # a Python thread's rate while another thread decodes, over its rate alone
    thread_loss_ms: dict[str, float]  # per profile, per window: the model thread's GIL wait, decode in a thread
    pool_loss_ms: dict[str, float]  # ... decode in the pool
    pool_cpu_ms: float  # per window, the serving process's CPU time for a decode by the pool
    parallel: Parallelism


def codec_row(encoding: Encoding, window: np.ndarray, baselines: dict[Profile, float],
              args: argparse.Namespace) -> CodecRow:
    data = encode(window, encoding)
    pool = warmed_pool(CLIP_LIMITS, 1)
    threaded = in_a_thread(data, CLIP_LIMITS)
    try:
        pool_loss = {p.name: model_thread_loss(lambda: pool.decode(data), b, args.seconds, p).per_window_ms
                     for p, b in baselines.items()}
        pool_cpu = process_cpu_ms(lambda: pool.decode(data))
    finally:
        pool.close()
    return CodecRow(
        label=encoding.label,
        kilobytes=len(data) / 1000,
        decode_ms=process_cpu_ms(lambda: decode_audio(data, CLIP_LIMITS)),
        counter_share=counter_share(lambda: decode_audio(data, CLIP_LIMITS), args.seconds),
        thread_loss_ms={p.name: model_thread_loss(threaded, b, args.seconds, p).per_window_ms
                        for p, b in baselines.items()},
        pool_loss_ms=pool_loss,
        pool_cpu_ms=pool_cpu,
        parallel=threads_vs_processes(data, CLIP_LIMITS, args.windows, args.workers),
    )


def process_cpu_ms(run: Callable[[], object], repeats: int = REPEATS) -> float:
    """The CPU time of this process (every thread; not its children) per call, after one warm-up: unlike wall time,
    it does not grow when other jobs share the cores."""
    run()
    started = time.process_time()
    for _ in range(repeats):
        run()
    return (time.process_time() - started) * 1000 / repeats


def table(rows: list[CodecRow], args: argparse.Namespace) -> str:
    profiles = list(rows[0].thread_loss_ms)
    losses = " | ".join(f"{name} model thread's GIL wait / window: thread (before) | pool (after)" for name in profiles)
    lines = [
        f"| encoding (30 s of speech) | bytes | decode CPU ms / window | Python thread's rate beside a decoding thread "
        f"| {losses} | serving process CPU / window, pool | {args.windows} windows: {args.workers} threads | "
        f"{args.workers} processes |",
        "|---" * (7 + 2 * len(profiles)) + "|",
    ]
    for row in rows:
        loss = " | ".join(f"{row.thread_loss_ms[n]:.2f} ms | {row.pool_loss_ms[n]:.2f} ms" for n in profiles)
        lines.append(
            f"| {row.label} | {row.kilobytes:.0f} kB | {row.decode_ms:.1f} | {row.counter_share:.0%} | {loss} | "
            f"{row.pool_cpu_ms:.2f} ms | {row.parallel.threads_s:.2f} s | {row.parallel.processes_s:.2f} s "
            f"({row.parallel.speedup:.2f}x) |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=MEASURE_S, help="each model-thread measurement's length")
    parser.add_argument("--windows", type=int, default=8, help="windows decoded in the threads-vs-processes test")
    parser.add_argument("--workers", type=int, default=usable_cores(), help="threads / processes in that test")
    args = parser.parse_args(argv)
    window = window_request().audio
    baselines = {profile: alone_blocked_s(profile) for profile in (Profile(), GPU_LIKE)}
    print(f"load average at the start {os.getloadavg()[0]:.2f}; model thread stand-ins blocked alone (their sleeps): "
          + ", ".join(f"{p.name} {b * 1000:.3f} ms per iteration" for p, b in baselines.items()), flush=True)
    rows = []
    for encoding in ENCODINGS:
        rows.append(codec_row(encoding, window, baselines, args))
        print(f"measured {encoding.label}", flush=True)
    print(table(rows, args))
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
