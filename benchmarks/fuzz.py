"""Fuzz the decoder, the request parser and the service boundary with hostile input (scripts/hostile/), many cases.

    python -m benchmarks.fuzz [--cases 10000] [--seed 0] [--model stand-in|tiny]

The cases are split 40/30/30 between ``decode_audio`` (damaged codec clips, random bytes, decode bombs), ``parse_request``
and ``TranscriptionService.handle`` (every kind of hostile request). ``--model stand-in`` (default) answers for the
model with a check that what reaches it is finite mono float32; ``--model tiny`` runs the tiny random Whisper instead
(slow on CPU: use a few hundred cases). Prints the count of every outcome per target; exits 1 if any case broke a
property (an exception escaping, a 5xx, an error without a message).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections import Counter
from collections.abc import Callable

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from scripts.hostile.audio import audio_bytes
from scripts.hostile.bombs import flac_silence, ogg_claiming, wav_claiming, without_declared_length
from scripts.hostile.boundary import SERVICE_OPTIONS, boundary_service
from scripts.hostile.outcomes import FAIL, decode_outcome, parse_outcome, service_outcome
from scripts.hostile.requests import hostile_requests
from scripts.material.clips import clip_bytes
from serving.audio.decode import AudioLimits

SHARES = {"decode_audio": 0.4, "parse_request": 0.3, "service": 0.3}
BOMB_LIMITS = AudioLimits(max_bytes=10**8, max_seconds=60)
SHOWN_FAILURES = 20


def decode_bombs() -> list[bytes]:
    """Hours of audio in a few KB, declared or hidden, and headers claiming more than the file holds."""
    two_hours = flac_silence(7200)
    return [two_hours, without_declared_length(two_hours), wav_claiming(36_000),
            ogg_claiming(36_000, clip_bytes("codec_ogg.ogg"))]


def run(strategy: st.SearchStrategy, check: Callable[[object], str], cases: int, run_seed: int) -> Counter:
    outcomes: Counter = Counter()

    @seed(run_seed)
    @settings(max_examples=cases, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def one(case) -> None:
        outcomes[check(case)] += 1

    one()
    return outcomes


def make_service(model: str):
    if model == "stand-in":
        return boundary_service()
    from scripts.conversion.embedded_model import ensure_tiny_random
    from serving.endpoint.service import TranscriptionService

    options = {**SERVICE_OPTIONS, "model_id": str(ensure_tiny_random()), "device_id": "-1", "max_new_tokens": "8"}
    return TranscriptionService.start(options, async_mode=False)


def report(target: str, outcomes: Counter, seconds: float) -> None:
    print(f"\n{target}: {sum(outcomes.values())} cases in {seconds:.1f} s")
    for outcome, count in sorted(outcomes.items(), key=lambda item: (-item[1], item[0])):
        if not outcome.startswith(FAIL):
            print(f"  {count:6d}  {outcome}")
    failures = [outcome for outcome in outcomes if outcome.startswith(FAIL)]
    for outcome in failures[:SHOWN_FAILURES]:
        print(f"  {outcomes[outcome]:6d}  {outcome}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="total cases over the three targets")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", choices=["stand-in", "tiny"], default="stand-in")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    service = make_service(args.model)
    counts = {target: round(args.cases * share) for target, share in SHARES.items()}
    bombs = decode_bombs()
    print(f"fuzzing with seed {args.seed}, {args.cases} cases")
    started = time.perf_counter()
    total = Counter(decode_outcome(data, BOMB_LIMITS) for data in bombs)
    report("decode_audio (decode bombs, 60 s limit)", total, time.perf_counter() - started)
    plan = [
        ("decode_audio", audio_bytes(), decode_outcome, counts["decode_audio"] - len(bombs)),
        ("parse_request", hostile_requests(), parse_outcome, counts["parse_request"]),
        (f"TranscriptionService.handle ({args.model} model)", hostile_requests(),
         lambda raw: service_outcome(service, raw), counts["service"]),
    ]
    for target, strategy, check, cases in plan:
        started = time.perf_counter()
        outcomes = run(strategy, check, cases, args.seed)
        report(target, outcomes, time.perf_counter() - started)
        total = total + outcomes
    failed = sum(count for outcome, count in total.items() if outcome.startswith(FAIL))
    print(f"\nall targets: {sum(total.values())} cases, {failed} broke a property")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
