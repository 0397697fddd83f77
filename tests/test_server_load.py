"""The whole HTTP path on the real whisper-base: the server in a subprocess on 127.0.0.1, 24 concurrent clients,
every response checked against its own request (a smaller run of ``benchmarks/load_test.py``), and SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import time

import httpx
import pytest

from benchmarks.load_test import (
    HOST,
    MAX_WER,
    build_cases,
    concatenated_wav,
    format_summary,
    free_port,
    run_load,
    server_process,
    stop,
    summarize,
)
from scripts.material.clips import REFERENCES, english_speech_clips
from scripts.scoring.wer import wer

pytestmark = pytest.mark.real_model

CLIENTS = 24
REQUESTS = 30  # seed 1: 20 short, 1 long, 6 malformed, 3 oversized (124 s of audio; 40 requests: 226 s)


@pytest.fixture(scope="module")
def server(whisper_base_dir):
    port = free_port()
    with server_process(port) as process:
        yield f"http://{HOST}:{port}", process


def test_concurrent_mixed_load_answers_every_request_with_its_own_result(server):
    url, _ = server
    cases = build_cases(REQUESTS, seed=1)
    assert {case.kind for case in cases} == {"short", "long", "malformed", "oversized"}
    outcomes, wall = asyncio.run(run_load(url, cases, CLIENTS))
    summary = summarize(outcomes, wall)
    print("\n" + format_summary(summary, CLIENTS))
    assert sorted(outcome.case.index for outcome in outcomes) == list(range(REQUESTS))
    assert summary.problems == []
    assert not any(status >= 500 or status == 0 for status in summary.by_status)


def test_sigterm_answers_requests_in_flight_then_exits(server):
    url, process = server
    names = english_speech_clips()[:3]
    body, _ = concatenated_wav(names)
    reference = " ".join(REFERENCES[name]["text"] for name in names)

    async def in_flight():
        async with httpx.AsyncClient(base_url=url, timeout=120) as client:
            sending = [asyncio.create_task(client.post("/invocations", content=body,
                                                       headers={"Content-Type": "audio/wav"})) for _ in range(4)]
            await asyncio.sleep(0.5)  # the requests are queued or in handle()
            assert process.poll() is None
            process.terminate()
            return await asyncio.gather(*sending)

    started = time.monotonic()
    responses = asyncio.run(in_flight())
    assert [response.status_code for response in responses] == [200] * 4
    assert all(wer([reference], [response.json()["text"]]) < MAX_WER for response in responses)
    assert stop(process) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has drained
    assert time.monotonic() - started < 120
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/ping", timeout=2)
