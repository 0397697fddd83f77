"""Same answer under load? Each bundled clip (tests/data/audio, ~4 s each: one window) is transcribed alone (a batch
of one) and inside batches of 2, 4, 8 and 16 windows with other clips as companions (random partitions of the clips,
several seeds), through the scheduler and runner on the real whisper-base (CPU, float32, default parameters: language
detected, greedy). A flip is a transcript that differs from the clip's transcript alone; the rate is over every
(clip, batch) observation. Prints the flips with both texts.

    python -m benchmarks.batch_invariance [--sizes 2 4 8 16] [--seeds 2]
"""

from __future__ import annotations

import argparse
import logging
import random
import time
from dataclasses import dataclass

import numpy as np

from scripts.conversion.embedded_model import ensure_whisper_base
from scripts.material.clips import clip_bytes, clips
from serving.api.params import parse_params
from serving.audio.decode import AudioLimits, decode_audio
from serving.batching.sessions import Job
from serving.endpoint.service import start_scheduler
from serving.settings import load_settings

LIMITS = AudioLimits(1 << 30, 30.0)


@dataclass(frozen=True)
class Flip:
    clip: str
    nominal: int  # the batch size of the partition (its last batch may be smaller)
    size: int
    companions: tuple[str, ...]
    alone: str
    batched: str


def transcribe(scheduler, waveforms: dict[str, np.ndarray], names: list[str]) -> list[str]:
    """One group: its windows enter the queue together and form one batch (the scheduler's capacity is 16)."""
    jobs = [Job.new(waveforms[name], parse_params({})) for name in names]
    return [result.text for result in scheduler.transcribe_all(jobs)]


def partitions(names: list[str], size: int, seed: int) -> list[list[str]]:
    shuffled = names[:]
    random.Random(seed).shuffle(shuffled)
    return [shuffled[at : at + size] for at in range(0, len(shuffled), size)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 4, 8, 16])
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    names = clips()
    waveforms = {name: decode_audio(clip_bytes(name), LIMITS) for name in names}
    settings = load_settings({"model_id": str(ensure_whisper_base()), "dtype": "fp32", "vad": "off",
                              "max_batch_windows": str(max(args.sizes))}, environ={})
    scheduler = start_scheduler(settings, "-1")
    started = time.perf_counter()
    try:
        alone = {name: transcribe(scheduler, waveforms, [name])[0] for name in names}
        flips: list[Flip] = []
        observations = {size: 0 for size in args.sizes}
        for size in args.sizes:
            for seed in range(args.seeds):
                for group in partitions(names, size, seed):
                    for name, text in zip(group, transcribe(scheduler, waveforms, group)):
                        observations[size] += 1
                        if text != alone[name]:
                            companions = tuple(other for other in group if other != name)
                            flips.append(Flip(name, size, len(group), companions, alone[name], text))
    finally:
        scheduler.close()
    print(f"{len(names)} clips, whisper-base CPU float32, {time.perf_counter() - started:.0f} s")
    for size in args.sizes:
        count = sum(1 for flip in flips if flip.nominal == size)
        print(f"  batches of {size:2d} (seeds 0..{args.seeds - 1}): {count} flip(s) in {observations[size]} "
              f"observations ({count / observations[size]:.1%})")
    total = sum(observations.values())
    print(f"  all: {len(flips)} flip(s) in {total} observations ({len(flips) / total:.1%})")
    for flip in flips:
        print(f"  {flip.clip} in a batch of {flip.size}: alone {flip.alone!r} -> {flip.batched!r}")


if __name__ == "__main__":
    main()
