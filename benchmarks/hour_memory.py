"""Resident memory of hour-long requests through the service (async mode, in-process): one and sixteen concurrent
59:59 silent FLACs (20 KB each) and one-hour speech-ish Ogg/Opus files (48 kHz: resampled on the way in), with the
peak RSS above the baseline (the service started, one short request answered) and the RSS once they are answered.

The model is the tiny random one with ``max_new_tokens=4`` (its output is noise; the audio path, VAD and plans are
the real ones), so that sixteen hours of speech run in minutes on a CPU.

    python -m benchmarks.hour_memory [--speech] [--concurrent 16] [--admission-seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import time
from functools import cache
from pathlib import Path

import av
import numpy as np

from benchmarks.memory import MIB, _RssSampler, resident_bytes
from scripts.conversion.embedded_model import ensure_tiny_random
from scripts.hostile.bombs import flac_silence
from scripts.material.clips import clip_bytes, english_speech_clips
from serving.api.requests import RawRequest
from serving.audio.decode import AudioLimits, decode_audio
from serving.constants import SAMPLE_RATE
from serving.endpoint.async_service import AsyncTranscriptionService

logger = logging.getLogger(__name__)

HOUR_SECONDS = 3599
SPEECH_RATE = 48_000
SPEECH_CACHE = Path("/tmp/whisper-lmi-hour-speech.ogg")
WAVEFORM_MIB = 3600 * SAMPLE_RATE * 4 / MIB  # an hour's float32 waveform at 16 kHz (arithmetic)


@cache
def hour_of_speech() -> bytes:
    """The English clips repeated to an hour, Opus in Ogg at 48 kHz mono, cached in /tmp (a minute to encode)."""
    if SPEECH_CACHE.is_file():
        return SPEECH_CACHE.read_bytes()
    clips = [decode_audio(clip_bytes(clip), AudioLimits(1 << 30, 3600)) for clip in english_speech_clips()]
    gap = np.zeros(SAMPLE_RATE // 2, np.float32)
    loop = np.concatenate([part for clip in clips for part in (clip, gap)])
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="ogg") as out:
        stream = out.add_stream("libopus", rate=SPEECH_RATE, layout="mono")
        stream.bit_rate = 24_000
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SPEECH_RATE)
        pts, total = 0, HOUR_SECONDS * SAMPLE_RATE
        while pts < total:
            piece = (np.clip(loop[: total - pts], -1, 1) * 32767).astype(np.int16)[None, :]
            frame = av.AudioFrame.from_ndarray(piece, format="s16", layout="mono")
            frame.sample_rate, frame.pts = SAMPLE_RATE, pts
            for resampled in resampler.resample(frame):
                out.mux(stream.encode(resampled))
            pts += piece.shape[1]
        for resampled in resampler.resample(None):
            out.mux(stream.encode(resampled))
        out.mux(stream.encode(None))
    SPEECH_CACHE.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def start_service(admission_seconds: float | None) -> AsyncTranscriptionService:
    options = {"model_id": str(ensure_tiny_random()), "device_id": "-1", "max_new_tokens": "4",
               "max_audio_bytes": str(128 * MIB), "max_batch_wait_ms": "20"}
    if admission_seconds is not None:
        options["max_audio_seconds_in_flight"] = str(admission_seconds)
    return AsyncTranscriptionService.start(options)


def request(body: bytes, content_type: str) -> RawRequest:
    return RawRequest({"Content-Type": content_type}, body)


async def answer_all(service: AsyncTranscriptionService, requests: list[RawRequest]) -> list[int]:
    answers = await asyncio.gather(*(service.answer(raw) for raw in requests))
    return [answer.status for answer in answers]


def measure(service: AsyncTranscriptionService, label: str, requests: list[RawRequest], baseline: int) -> None:
    sampler = _RssSampler()
    sampler.start()
    started = time.perf_counter()
    try:
        statuses = asyncio.run(answer_all(service, requests))
    finally:
        sampler.stopped.set()
        sampler.join()
    seconds = time.perf_counter() - started
    time.sleep(0.5)
    after = resident_bytes()
    print(f"{label}: statuses {sorted(set(statuses))} x{len(statuses)}, {seconds:.1f} s; peak RSS "
          f"{sampler.peak / MIB:.0f} MiB = baseline + {(sampler.peak - baseline) / MIB:.0f} MiB "
          f"(+{(sampler.peak - baseline) / MIB / len(requests):.0f} MiB per request; an hour's float32 waveform "
          f"is {WAVEFORM_MIB:.0f} MiB); after: {after / MIB:.0f} MiB = baseline + {(after - baseline) / MIB:.0f} MiB",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--concurrent", type=int, default=16)
    parser.add_argument("--speech", action="store_true", help="also the hour-long speech-ish files")
    parser.add_argument("--admission-seconds", type=float, default=None,
                        help="option.max_audio_seconds_in_flight (default: the service's)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    silence = flac_silence(HOUR_SECONDS)
    speech = hour_of_speech() if args.speech else None
    service = start_service(args.admission_seconds)
    try:
        short = clip_bytes(english_speech_clips()[0])
        asyncio.run(answer_all(service, [request(short, "audio/wav")]))
        time.sleep(0.5)
        baseline = resident_bytes()
        print(f"baseline (service started, one short request answered): {baseline / MIB:.0f} MiB; silent FLAC "
              f"{len(silence) / 1024:.0f} KiB" + (f", speech Ogg {len(speech) / MIB:.1f} MiB" if speech else ""),
              flush=True)
        measure(service, "1 x 59:59 silent FLAC", [request(silence, "audio/flac")], baseline)
        measure(service, f"{args.concurrent} x 59:59 silent FLAC",
                [request(silence, "audio/flac")] * args.concurrent, baseline)
        if speech is not None:
            measure(service, "1 x 59:59 speech Ogg/Opus 48 kHz", [request(speech, "audio/ogg")], baseline)
            measure(service, f"{args.concurrent} x 59:59 speech Ogg/Opus 48 kHz",
                    [request(speech, "audio/ogg")] * args.concurrent, baseline)
    finally:
        service.close()


if __name__ == "__main__":
    main()
