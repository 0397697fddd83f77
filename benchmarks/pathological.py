"""Pathological requests against the embedded whisper-base, in process through the async service: each alone (status,
seconds, text), then a normal request sent beside each one (its latency alone vs beside).

    python -m benchmarks.pathological [--wait 120] [--case zh --case jw ...] [--option key=value ...]

Cases: ``language=zh`` and ``language=jw`` forced on English speech (``jw-retries``: on a clip where it fails
the quality rules at every temperature of the fallback), and the English clip as a float WAV scaled by
1,000 and by 1e18. A request that gets no answer within ``--wait`` seconds is reported as such (and dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from dataclasses import dataclass

import numpy as np

from scripts.hostile.audio import float_wav
from scripts.material.clips import clip_bytes
from serving.api.requests import RawRequest
from serving.audio.decode import AudioLimits, decode_audio
from serving.endpoint.async_service import AsyncTranscriptionService

CLIP = "en_slt_lights.wav"
RETRY_CLIP = "en_rms_garden.wav"  # language=jw on it fails Whisper's quality rules at every temperature
NORMAL_CLIP = "en_rms_window.wav"
BESIDE_DELAY_S = 0.5  # the normal request is sent this long after the pathological one
ALONE_RUNS = 3  # the normal request alone: the median of this many runs (after one warm-up)
MB = 1024 * 1024


@dataclass(frozen=True)
class Case:
    name: str
    body: bytes
    headers: dict[str, str]


def cases() -> dict[str, Case]:
    wav = clip_bytes(CLIP)
    waveform = decode_audio(wav, AudioLimits(64 * MB, 600))
    audio_wav = {"Content-Type": "audio/wav"}
    return {
        "zh": Case("language=zh on English", wav, {**audio_wav, "language": "zh"}),
        "jw": Case("language=jw on English", wav, {**audio_wav, "language": "jw"}),
        "jw-retries": Case("language=jw on English, every temperature", clip_bytes(RETRY_CLIP),
                           {**audio_wav, "language": "jw"}),
        "x1000": Case("float WAV x1000", float_wav((waveform * np.float32(1e3))[None]), audio_wav),
        "x1e18": Case("float WAV x1e18", float_wav((waveform * np.float32(1e18))[None]), audio_wav),
    }


def normal_case() -> Case:
    return Case("normal", clip_bytes(NORMAL_CLIP), {"Content-Type": "audio/wav"})


async def timed(service: AsyncTranscriptionService, case: Case, wait: float) -> dict:
    start = time.monotonic()
    try:
        response = await asyncio.wait_for(service.answer(RawRequest(case.headers, case.body)), wait)
    except asyncio.TimeoutError:
        return {"case": case.name, "status": None, "seconds": round(time.monotonic() - start, 2),
                "text": f"no answer within {wait:.0f} s"}
    seconds = round(time.monotonic() - start, 2)
    text = response.body.decode("utf-8", "replace")
    if response.status == 200:
        text = json.loads(text).get("text", "")
    return {"case": case.name, "status": response.status, "seconds": seconds, "text": text[:160]}


async def beside(service: AsyncTranscriptionService, case: Case, wait: float) -> tuple[dict, dict]:
    hostile = asyncio.create_task(timed(service, case, wait))
    await asyncio.sleep(BESIDE_DELAY_S)
    normal = await timed(service, normal_case(), wait)
    return await hostile, normal


async def measure(names: list[str], wait: float, options: dict[str, str]) -> None:
    from scripts.conversion.embedded_model import ensure_whisper_base

    properties = {"model_id": str(ensure_whisper_base()), "device_id": "-1", **options}
    service = await asyncio.to_thread(AsyncTranscriptionService.start, properties)
    try:
        await timed(service, normal_case(), wait)  # warm-up
        runs = [await timed(service, normal_case(), wait) for _ in range(ALONE_RUNS)]
        alone = sorted(runs, key=lambda run: run["seconds"])[ALONE_RUNS // 2]  # the median run
        print(json.dumps({"normal alone": alone, "runs s": [run["seconds"] for run in runs]}), flush=True)
        chosen = cases()
        for name in names:
            print(json.dumps({"alone": await timed(service, chosen[name], wait)}), flush=True)
        for name in names:
            hostile, normal = await beside(service, chosen[name], wait)
            print(json.dumps({"beside": hostile, "normal beside it": normal,
                              "ratio to alone": round(normal["seconds"] / alone["seconds"], 2)}), flush=True)
    finally:
        await asyncio.to_thread(service.close)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wait", type=float, default=120.0, help="seconds to wait for one answer")
    parser.add_argument("--case", action="append", choices=sorted(cases()), help="cases to run (default: all)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="a serving option")
    arguments = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    options = dict(text.split("=", 1) for text in arguments.option)
    asyncio.run(measure(arguments.case or sorted(cases()), arguments.wait, options))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
