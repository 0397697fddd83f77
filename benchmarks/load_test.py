"""Load test: the real server in a subprocess on 127.0.0.1, many concurrent HTTP clients, a mix of short and long
(> 30 s) speech, malformed and oversized audio, json and text responses. Every response is checked against its
own request (the transcript is closest to that request's reference, the duration is that clip's), none may be
lost, none may be 5xx. Prints throughput and latency percentiles.

``--mode both`` runs the same request mix against the server in DJL's sync mode (dynamic batching) and then in
async mode (the handler's own scheduler), back to back on the same machine, and prints both; ``--mode schedulers``
runs it in async mode with whole batches (``option.scheduling=batches``) and then with windows joining the running
batch between decoding steps (``steps``, the default).

``--hostile N`` mixes N hostile requests (:mod:`scripts.hostile.mix`: mis-scaled float WAVs, stereo whose channels
cancel, forced wrong languages, a language the model lacks, damaged clips) among the normal ones, at random places;
the normal mix stays the same, and the normal requests' latency percentiles are printed apart from the hostile ones'.

    python -m benchmarks.load_test [--requests 500] [--concurrency 64] [--mode sync|async|batches|steps|both|schedulers] [--hostile 50]
        [--model-id DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import time
import wave
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import httpx

from benchmarks.goals import load_goal
from scripts.hostile.mix import ANY_ANSWER, HostileRequest, hostile_requests
from scripts.material.clips import REFERENCES, clip_bytes, clips, english_speech_clips
from scripts.paths import PROJECT_ROOT
from scripts.scoring.wer import wer

logger = logging.getLogger(__name__)

HOST = "127.0.0.1"
SAMPLE_RATE = 16000
GAP_SECONDS = 0.3  # silence between concatenated clips
MAX_AUDIO_BYTES = 3_000_000  # the handler's limit in this test (413 above)
MAX_REQUEST_BYTES = 6_000_000  # the server's request limit in this test (413 above)
SERVER_OPTIONS = (f"max_audio_bytes={MAX_AUDIO_BYTES}",)
# Each mode spelt out in full, so that the comparison does not depend on serving.properties' default.
MODE_OPTIONS = {
    "sync": ("async_mode=false", "handler=handle", "batch_size=8", "max_batch_delay=50"),
    "async": ("async_mode=true", "handler=handle_async", "batch_size=1"),
    # async mode with each scheduler (option.scheduling): whole batches, then windows joining between steps
    "batches": ("async_mode=true", "handler=handle_async", "batch_size=1", "scheduling=batches"),
    "steps": ("async_mode=true", "handler=handle_async", "batch_size=1", "scheduling=steps"),
}
COMPARISONS = {"both": ("sync", "async"), "schedulers": ("batches", "steps")}
STARTUP_SECONDS = 180
SHUTDOWN_SECONDS = 120
REQUEST_TIMEOUT_SECONDS = 600
# whisper-base on a shared CPU runs far slower than an endpoint's GPU: unless the options or the environment say
# otherwise, the server's requests get this budget and its shutdown this drain (the defaults are SageMaker's).
CPU_BUDGETS = {"OPTION_REQUEST_TIMEOUT_SECONDS": "600", "OPTION_DRAIN_TIMEOUT_SECONDS": "120"}
MAX_WER = 0.5
DURATION_TOLERANCE = 0.1
MIX = {"short": 0.55, "long": 0.12, "malformed": 0.23, "oversized": 0.10}
FORMATS = ("json", "text")
HOSTILE = "hostile"  # the kinds of hostile cases start with this


@dataclass(frozen=True)
class Case:
    """One request and what its response must be."""

    index: int
    kind: str
    body: bytes
    headers: dict[str, str]
    status: int = 200  # the expected code: the HTTP status, or inside the body when answered in a batch; 0: any < 500
    response_format: str = "json"
    reference: str = ""
    language: str = ""
    seconds: float = 0.0

    @property
    def hostile(self) -> bool:
        return self.kind.startswith(HOSTILE)


@dataclass(frozen=True)
class Latency:
    requests: int
    p50: float
    p99: float


@dataclass(frozen=True)
class Outcome:
    case: Case
    status: int  # 0 when no response came back
    body: bytes
    seconds: float
    error: str = ""


@dataclass(frozen=True)
class Summary:
    requests: int
    wall_seconds: float
    throughput: float
    p50: float
    p99: float
    by_status: dict[int, int]
    by_kind: dict[str, int]
    problems: list[str] = field(default_factory=list)
    transcribed_p50: float = 0.0  # the same over the requests answered 200 (those that went to the model)
    transcribed_p99: float = 0.0
    normal: Latency | None = None  # the normal requests' latency, where hostile ones were mixed in
    hostile: Latency | None = None


# ---------------------------------------------------------------------------------------------------- requests
def build_cases(count: int, seed: int = 0, hostile: int = 0) -> list[Case]:
    """``count`` normal cases (the same for a seed whatever ``hostile`` is) with ``hostile`` hostile ones among them
    at random places."""
    rng = random.Random(seed)
    kinds = rng.choices(list(MIX), weights=list(MIX.values()), k=count)
    builders = {"short": _short, "long": _long, "malformed": _malformed, "oversized": _oversized}
    cases = [builders[kind](index, rng) for index, kind in enumerate(kinds)]
    if not hostile:
        return cases
    mixer = random.Random(f"{seed} hostile")
    for request in hostile_requests(hostile, mixer):
        cases.insert(mixer.randrange(len(cases) + 1), _hostile_case(request))
    return [replace(case, index=index) for index, case in enumerate(cases)]


def _hostile_case(request: HostileRequest) -> Case:
    return Case(-1, f"{HOSTILE} {request.sort}", request.body, request.headers, request.status,
                reference=request.reference, language="en" if request.reference else "", seconds=request.seconds)


def _format_headers(rng: random.Random, content_type: str) -> tuple[str, dict[str, str]]:
    response_format = rng.choice(FORMATS)
    if rng.random() < 0.5:
        return response_format, {"Content-Type": content_type, "response_format": response_format}
    attributes = f"response_format={response_format}"
    return response_format, {"Content-Type": content_type, "X-Amzn-SageMaker-Custom-Attributes": attributes}


def _short(index: int, rng: random.Random) -> Case:
    name = rng.choice(clips())
    info = REFERENCES[name]
    response_format, headers = _format_headers(rng, "application/octet-stream")
    return Case(index, "short", clip_bytes(name), headers, 200, response_format,
                info["text"], info["language"], info["seconds"])


def _long(index: int, rng: random.Random) -> Case:
    names = english_speech_clips()
    rng.shuffle(names)
    response_format, headers = _format_headers(rng, "audio/wav")
    body, seconds = concatenated_wav(names)
    reference = " ".join(REFERENCES[name]["text"] for name in names)
    return Case(index, "long", body, headers, 200, response_format, reference, "en", seconds)


def _malformed(index: int, rng: random.Random) -> Case:
    choice = rng.randrange(4)
    if choice == 0:  # not audio at all: an unrecognised format
        return Case(index, "malformed", rng.randbytes(20_000), {"Content-Type": "audio/wav"}, 415)
    if choice == 1:  # empty body
        return Case(index, "malformed", b"", {"Content-Type": "audio/wav"}, 400)
    if choice == 2:  # a bad parameter
        body = clip_bytes("en_kal_dog.wav")
        return Case(index, "malformed", body, {"Content-Type": "audio/wav", "language": "klingon"}, 400)
    return Case(index, "malformed", b"a,b\n1,2\n", {"Content-Type": "text/csv"}, 415)


def _oversized(index: int, rng: random.Random) -> Case:
    if rng.random() < 0.5:  # over the handler's max_audio_bytes: 413 from the handler
        seconds = MAX_AUDIO_BYTES // 2 // SAMPLE_RATE + 5
        return Case(index, "oversized", silence_wav(seconds), {"Content-Type": "audio/wav"}, 413)
    # over the server's request limit: 413 from the HTTP layer, before the handler
    return Case(index, "oversized", rng.randbytes(MAX_REQUEST_BYTES + 1000), {"Content-Type": "audio/wav"}, 413)


def concatenated_wav(names: Sequence[str]) -> tuple[bytes, float]:
    gap = b"\x00\x00" * int(GAP_SECONDS * SAMPLE_RATE)
    frames = gap.join(_pcm16(clip_bytes(name)) for name in names)
    return _wav(frames), len(frames) / 2 / SAMPLE_RATE


def silence_wav(seconds: float) -> bytes:
    return _wav(b"\x00\x00" * int(seconds * SAMPLE_RATE))


def _pcm16(data: bytes) -> bytes:
    with wave.open(io.BytesIO(data)) as reader:
        if (reader.getframerate(), reader.getnchannels(), reader.getsampwidth()) != (SAMPLE_RATE, 1, 2):
            raise ValueError("concatenation needs 16 kHz mono 16-bit WAV clips")
        return reader.readframes(reader.getnframes())


def _wav(frames: bytes) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(SAMPLE_RATE)
        writer.writeframes(frames)
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------------------ client
async def run_load(url: str, cases: Sequence[Case], concurrency: int) -> tuple[list[Outcome], float]:
    """``concurrency`` clients take the next case until none is left; returns the outcomes and the wall time."""
    pending = iter(cases)
    outcomes: list[Outcome] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=REQUEST_TIMEOUT_SECONDS) as client:

        async def worker() -> None:
            for case in pending:  # a shared iterator: each case is taken once, then the worker ends
                outcomes.append(await _send(client, case))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return outcomes, time.perf_counter() - started


async def _send(client: httpx.AsyncClient, case: Case) -> Outcome:
    path = "/invocations" if case.index % 2 else "/predictions/whisper"
    started = time.perf_counter()
    try:
        response = await client.post(path, content=case.body, headers=case.headers)
    except httpx.HTTPError as exc:
        return Outcome(case, 0, b"", time.perf_counter() - started, f"{type(exc).__name__}: {exc}")
    return Outcome(case, response.status_code, response.content, time.perf_counter() - started)


# ------------------------------------------------------------------------------------------------------ checks
def problem(outcome: Outcome, references: Sequence[str]) -> str | None:
    """Why ``outcome`` is not the right answer to its own request (None when it is)."""
    case = outcome.case
    label = f"#{case.index} {case.kind}"
    if outcome.status == 0:
        return f"{label}: lost ({outcome.error})"
    if outcome.status >= 500:
        return f"{label}: HTTP {outcome.status}"
    code = _error_code(outcome)
    if case.status == ANY_ANSWER:
        return None if code is None or code < 500 else f"{label}: error {code} in the body"
    if case.status != 200:
        return None if code == case.status else f"{label}: expected {case.status}, got {outcome.status} ({code})"
    if outcome.status != 200 or code is not None:
        return f"{label}: HTTP {outcome.status} {outcome.body[:200]!r}"
    if not case.reference:  # answered, words not checked (a forced wrong language)
        return None
    return _transcript_problem(label, case, outcome.body, references)


def _error_code(outcome: Outcome) -> int | None:
    """The code of an error body (the handler's ``{"error": {"code"}}`` or DJL's ``{"code"}``), else None."""
    try:
        document = json.loads(outcome.body)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    if isinstance(document.get("error"), dict):
        return document["error"].get("code")
    return document.get("code") if outcome.status >= 400 else None


def _transcript_problem(label: str, case: Case, body: bytes, references: Sequence[str]) -> str | None:
    if case.response_format == "json":
        document = json.loads(body)
        text = document["text"]
        if abs(document["duration"] - case.seconds) > DURATION_TOLERANCE:
            return f"{label}: duration {document['duration']} is not this request's {case.seconds}"
    else:
        text = body.decode("utf-8")
    own = wer([case.reference], [text])
    closest = min((wer([other], [text]) for other in references if other != case.reference), default=1.0)
    if own > MAX_WER or own >= closest:
        return f"{label}: transcript {text[:80]!r} does not match its reference (WER {own:.2f}, other {closest:.2f})"
    return None


def summarize(outcomes: Sequence[Outcome], wall_seconds: float) -> Summary:
    references = sorted({outcome.case.reference for outcome in outcomes if outcome.case.reference})
    problems = [p for p in (problem(outcome, references) for outcome in outcomes) if p]
    latencies = sorted(outcome.seconds for outcome in outcomes)
    transcribed = sorted(outcome.seconds for outcome in outcomes if outcome.status == 200)
    mixed = any(outcome.case.hostile for outcome in outcomes)
    return Summary(
        requests=len(outcomes),
        wall_seconds=wall_seconds,
        throughput=len(outcomes) / wall_seconds,
        p50=_percentile(latencies, 0.50),
        p99=_percentile(latencies, 0.99),
        by_status=dict(sorted(Counter(outcome.status for outcome in outcomes).items())),
        by_kind=dict(sorted(Counter(outcome.case.kind for outcome in outcomes).items())),
        problems=problems,
        transcribed_p50=_percentile(transcribed, 0.50),
        transcribed_p99=_percentile(transcribed, 0.99),
        normal=latency([o for o in outcomes if not o.case.hostile]) if mixed else None,
        hostile=latency([o for o in outcomes if o.case.hostile]) if mixed else None,
    )


def latency(outcomes: Sequence[Outcome]) -> Latency:
    latencies = sorted(outcome.seconds for outcome in outcomes)
    return Latency(len(latencies), _percentile(latencies, 0.50), _percentile(latencies, 0.99))


def _percentile(sorted_values: Sequence[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, round(fraction * (len(sorted_values) - 1)))]


# ------------------------------------------------------------------------------------------------------ server
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@contextmanager
def server_process(port: int, options: Sequence[str] = SERVER_OPTIONS,
                   log_path: str = os.devnull, arguments: Sequence[str] = ()) -> Iterator[subprocess.Popen]:
    """``python -m scripts.serve`` on 127.0.0.1:``port`` (and its other ``arguments``), ready (/ping 200) on entry,
    SIGTERM-stopped on exit."""
    command = [sys.executable, "-m", "scripts.serve", "--host", HOST, "--port", str(port), *arguments]
    for option in options:
        command += ["--option", option]
    env = {**CPU_BUDGETS, **os.environ, "SERVING_MAX_REQUEST_SIZE": str(MAX_REQUEST_BYTES), "HF_HUB_OFFLINE": "1"}
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_ready(f"http://{HOST}:{port}", process)
        yield process
    finally:
        stop(process)


def wait_ready(url: str, process: subprocess.Popen, seconds: float = STARTUP_SECONDS) -> None:
    def alive() -> None:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before it was ready")

    wait_for_ping(url, seconds, alive)


def wait_for_ping(url: str, seconds: float, check: Callable[[], None] = lambda: None, poll_s: float = 0.2) -> None:
    """Until ``url``/ping answers 200 (``check`` raises to give up early); a TimeoutError after ``seconds``. One
    client for every poll: ``httpx.get`` builds a client, and its TLS context, each time (about 30 ms of CPU, taken
    from the server that is starting on the same cores)."""
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            check()
            try:
                if client.get(f"{url}/ping").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(poll_s)
    raise TimeoutError(f"the server at {url} was not ready within {seconds} s")


def stop(process: subprocess.Popen) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(SHUTDOWN_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


# -------------------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--mode", choices=(*MODE_OPTIONS, *COMPARISONS), default="sync",
                        help="the server's DJL mode (or async mode with one scheduler); both: sync then async, "
                             "schedulers: batches then steps, the same requests")
    parser.add_argument("--server-log", default=os.devnull, help="where the server's log goes")
    parser.add_argument("--hostile", type=int, default=0, metavar="N",
                        help="hostile requests mixed among the normal ones (scripts/hostile/mix.py)")
    parser.add_argument("--model-id", help="the server's option.model_id (default: the embedded whisper-base)")
    arguments = parser.parse_args(argv)
    cases = build_cases(arguments.requests, arguments.seed, arguments.hostile)
    modes = list(COMPARISONS.get(arguments.mode, (arguments.mode,)))
    server_arguments = ("--model-id", arguments.model_id) if arguments.model_id else ()
    summaries = {}
    for mode in modes:
        summaries[mode] = summary = run_mode(mode, cases, arguments.concurrency, arguments.server_log,
                                             server_arguments)
        print(f"[{mode} mode: {', '.join(MODE_OPTIONS[mode])}]")
        print(format_summary(summary, arguments.concurrency), flush=True)
    if arguments.mode == "schedulers":
        print(scheduler_goal(summaries["batches"], summaries["steps"]))
    failed = any(s.problems or s.requests != len(cases) for s in summaries.values())
    return 1 if failed else 0


def scheduler_goal(batches: Summary, steps: Summary) -> str:
    """Issue 14's verdict on step-level scheduling against whole batches, on the same requests."""
    return load_goal(steps.transcribed_p99 / steps.transcribed_p50, steps.throughput, batches.throughput)


def run_mode(mode: str, cases: Sequence[Case], concurrency: int, log_path: str = os.devnull,
             server_arguments: Sequence[str] = ()) -> Summary:
    """A fresh server in ``mode``, the whole request mix, the server stopped."""
    port = free_port()
    with server_process(port, (*SERVER_OPTIONS, *MODE_OPTIONS[mode]), log_path, server_arguments):
        outcomes, wall = asyncio.run(run_load(f"http://{HOST}:{port}", cases, concurrency))
    return summarize(outcomes, wall)


def format_summary(summary: Summary, concurrency: int) -> str:
    lines = [
        f"{summary.requests} requests from {concurrency} clients in {summary.wall_seconds:.1f} s: "
        f"{summary.throughput:.2f} requests/s, latency p50 {summary.p50:.2f} s, p99 {summary.p99:.2f} s",
        f"transcribed (200): latency p50 {summary.transcribed_p50:.2f} s, p99 {summary.transcribed_p99:.2f} s",
        *_split_latency(summary),
        f"by kind: {summary.by_kind}",
        f"by status: {summary.by_status}",
        f"problems: {len(summary.problems)}",
        *summary.problems[:20],
    ]
    return "\n".join(lines)


def _split_latency(summary: Summary) -> list[str]:
    if summary.normal is None or summary.hostile is None:
        return []
    return [f"normal requests ({summary.normal.requests}): p50 {summary.normal.p50:.2f} s, p99 "
            f"{summary.normal.p99:.2f} s; hostile requests ({summary.hostile.requests}): p50 "
            f"{summary.hostile.p50:.2f} s, p99 {summary.hostile.p99:.2f} s"]


if __name__ == "__main__":
    sys.exit(main())
