"""Soak: 1,000 requests through the local server (``python -m scripts.serve``, async mode, the embedded whisper-base),
normal ones mixed with hostile ones, in rounds of 100; the server's resident memory (its process and its children)
at the start, after every round and at the end, the counts by status, and the requests that got a 5xx or no answer
(a hang: none within ``--timeout`` seconds).

Normal: the load test's mix without its 40 s concatenations (short clips, malformed, oversized:
benchmarks/load_test.py), so that a run takes minutes on a CPU.
Hostile (``--hostile`` of them): requests drawn from scripts/hostile's strategies (damaged audio under any content
type, junk JSON, deep and enormous JSON, header floods, mis-scaled float WAVs), deterministic (derandomized), sent as
HTTP (headers as headers, query fields as the query); a request the HTTP client itself cannot send (a header with a
control character) is counted as unsendable, not sent. Forced wrong languages on speech are in the hostile mix too.

``--model tiny`` serves the tiny random-weight model (``max_new_tokens=16``, no temperature fallback) instead of whisper-base: the request
path, decoding, admission, scheduler and HTTP edge are the same, the model's arithmetic is noise, and a run takes
minutes instead of an hour on a busy 2-core machine.

    python -m benchmarks.soak [--requests 1000] [--hostile 0.3] [--concurrency 16] [--model base|tiny]
                              [--server-log PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.load_test import HOST, Case, build_cases, free_port, server_process
from scripts.material.clips import clip_bytes

MIB = 1024 * 1024
ROUND = 100
TIMEOUT_SECONDS = 120.0
WRONG_LANGUAGES = ("Chinese", "jw", "yue", "cantonese", "haw")
SERVER_OPTIONS = ("max_audio_bytes=3000000", "async_mode=true", "handler=handle_async", "batch_size=1")


def model_options(model: str) -> tuple[str, ...]:
    if model == "base":
        return ()
    from scripts.conversion.embedded_model import ensure_tiny_random

    # the random model's output always fails Whisper's quality tests: no temperature fallback (five more passes)
    return (f"model_id={ensure_tiny_random()}", "max_new_tokens=16", "logprob_threshold=-1000000",
            "compression_ratio_threshold=1000000")


@dataclass(frozen=True)
class Sent:
    kind: str
    status: int  # 0: no answer within the timeout (or the connection dropped); -1: the client could not send it
    seconds: float
    error: str = ""


def hostile_cases(count: int, seed: int) -> list[Case]:
    """``count`` hostile requests, drawn deterministically from scripts/hostile's strategies."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from scripts.hostile.audio import misscaled_float_wavs
    from scripts.hostile.requests import (
        damaged_uploads,
        deep_json_requests,
        enormous_json_requests,
        header_floods,
        json_requests,
        raw_audio_requests,
    )

    strategy = st.one_of(damaged_uploads(), raw_audio_requests(), json_requests(), deep_json_requests(),
                         enormous_json_requests(), header_floods(),
                         misscaled_float_wavs().map(lambda body: _raw({"Content-Type": "audio/wav"}, body)))
    drawn = []

    @settings(max_examples=count, database=None, derandomize=True, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(raw) -> None:
        drawn.append(raw)

    collect()
    rng = random.Random(seed)
    cases = [Case(-1, "hostile", raw.body, dict(raw.properties), 0) for raw in drawn[:count]]
    speech = clip_bytes("en_kal_dog.wav")
    for at in rng.sample(range(len(cases)), min(len(cases), max(1, count // 50))):
        language = rng.choice(WRONG_LANGUAGES)
        cases[at] = Case(-1, "wrong-language", speech, {"Content-Type": "audio/wav", "language": language}, 0)
    return cases


def _raw(headers: dict, body: bytes):
    from serving.api.requests import RawRequest

    return RawRequest(headers, body)


def mixed_cases(count: int, hostile_share: float, seed: int) -> list[Case]:
    hostile = hostile_cases(round(count * hostile_share), seed)
    wanted = count - len(hostile)
    normal = [case for case in build_cases(2 * wanted, seed) if case.kind != "long"][:wanted]  # short clips only
    cases = normal + hostile
    random.Random(seed).shuffle(cases)
    return [Case(index, c.kind, c.body, c.headers, c.status) for index, c in enumerate(cases)]


async def send_all(url: str, cases: Sequence[Case], concurrency: int, timeout: float) -> list[Sent]:
    pending = iter(cases)
    sent: list[Sent] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:

        async def worker() -> None:
            for case in pending:
                sent.append(await _send(client, case))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return sent


async def _send(client: httpx.AsyncClient, case: Case) -> Sent:
    started = time.perf_counter()
    try:
        request = client.build_request("POST", "/invocations", content=case.body, headers=case.headers)
    except (httpx.HTTPError, ValueError, TypeError, UnicodeError) as exc:
        return Sent(case.kind, -1, 0.0, f"{type(exc).__name__}")
    try:
        response = await client.send(request)
    except httpx.LocalProtocolError as exc:
        return Sent(case.kind, -1, time.perf_counter() - started, f"LocalProtocolError: {str(exc)[:80]}")
    except httpx.HTTPError as exc:
        return Sent(case.kind, 0, time.perf_counter() - started, f"{type(exc).__name__}: {str(exc)[:80]}")
    return Sent(case.kind, response.status_code, time.perf_counter() - started)


def tree_rss(pid: int) -> int:
    """Resident bytes of ``pid`` and its descendants (/proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            total += int((Path(f"/proc/{current}/statm")).read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            pass
        stack.extend(children.get(current, []))
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--hostile", type=float, default=0.3, help="share of hostile requests")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=TIMEOUT_SECONDS, help="seconds without an answer: a hang")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", choices=("base", "tiny"), default="base")
    parser.add_argument("--server-log", default=os.devnull)
    args = parser.parse_args(argv)
    cases = mixed_cases(args.requests, args.hostile, args.seed)
    port = free_port()
    outcomes: list[Sent] = []
    started = time.perf_counter()
    with server_process(port, (*SERVER_OPTIONS, *model_options(args.model)), args.server_log) as process:
        start_rss = tree_rss(process.pid)
        print(f"server ready: RSS {start_rss / MIB:.0f} MiB; {len(cases)} requests, "
              f"{Counter(case.kind for case in cases)}", flush=True)
        for first in range(0, len(cases), ROUND):
            outcomes += asyncio.run(send_all(f"http://{HOST}:{port}", cases[first : first + ROUND], args.concurrency,
                                             args.timeout))
            rss = tree_rss(process.pid)
            statuses = dict(sorted(Counter(outcome.status for outcome in outcomes).items()))
            print(f"after {len(outcomes):5d}: RSS {rss / MIB:.0f} MiB ({(rss - start_rss) / MIB:+.0f} MiB), "
                  f"{time.perf_counter() - started:.0f} s; statuses so far {statuses}", flush=True)
        end_rss = tree_rss(process.pid)
    statuses = Counter(outcome.status for outcome in outcomes)
    errors = [o for o in outcomes if o.status >= 500]
    hangs = [o for o in outcomes if o.status == 0]
    print(f"end: RSS {end_rss / MIB:.0f} MiB, growth {(end_rss - start_rss) / MIB:+.0f} MiB over {len(outcomes)} "
          f"requests in {time.perf_counter() - started:.0f} s")
    print(f"by status (-1: the client could not send it; 0: no answer): {dict(sorted(statuses.items()))}")
    print(f"by kind and status: {dict(sorted(Counter((o.kind, o.status) for o in outcomes).items()))}")
    print(f"5xx: {len(errors)}; hangs or dropped: {len(hangs)}")
    for outcome in (errors + hangs)[:20]:
        print(f"  {outcome.kind}: {outcome.status} after {outcome.seconds:.1f} s {outcome.error}")
    slowest = sorted(outcomes, key=lambda o: o.seconds)[-3:]
    print("slowest: " + ", ".join(f"{o.kind} {o.status} {o.seconds:.1f} s" for o in slowest))
    return 1 if errors or hangs else 0


if __name__ == "__main__":
    raise SystemExit(main())
