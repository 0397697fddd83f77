"""The async service with a stand-in transcriber (tests/scheduling.py): each request its own status, content type
and log line; streaming events; failures before and after the first event."""

from __future__ import annotations

import asyncio
import json
import logging

import numpy as np
import pytest
import torch

from serving.api.requests import RawRequest
from serving.batching.scheduler import Scheduler, SchedulerOptions
from serving.endpoint.async_service import AsyncTranscriptionService, EventStream
from serving.endpoint.service import Response, TranscriptionService
from serving.settings import load_settings
from tests.scheduling import FakeRunner
from tests.test_audio import wav_bytes

WAV = "audio/wav"


def service_on(runner: FakeRunner) -> AsyncTranscriptionService:
    scheduler = Scheduler(runner, SchedulerOptions(max_batch_wait_ms=5))
    return AsyncTranscriptionService(TranscriptionService(load_settings({}, {}), scheduler))


def audio(seconds: int, **headers: str) -> RawRequest:
    return RawRequest({"Content-Type": WAV, **headers}, wav_bytes(np.zeros(seconds * 16_000)))


def answer_all(service: AsyncTranscriptionService, requests: list[RawRequest]) -> list[Response | EventStream]:
    async def scenario():
        return await asyncio.gather(*(service.answer(raw) for raw in requests))

    try:
        return asyncio.run(scenario())
    finally:
        service.close()


def events_of(service: AsyncTranscriptionService, raw: RawRequest) -> tuple[list[dict], list[bool]]:
    async def scenario():
        answer = await service.answer(raw)
        assert isinstance(answer, EventStream) and answer.content_type.startswith("text/event-stream")
        return [event async for event in answer.events]

    try:
        events = asyncio.run(scenario())
    finally:
        service.close()
    payloads = []
    for event in events:
        assert event.data.startswith(b"data: ") and event.data.endswith(b"\n\n") and event.data.count(b"\n") == 2
        payloads.append(json.loads(event.data[len(b"data: "):]))
    return payloads, [event.last for event in events]


def test_each_request_gets_its_own_status_content_type_and_body():
    responses = answer_all(service_on(FakeRunner()), [
        audio(1), audio(3, response_format="text"), RawRequest({"Content-Type": "text/csv"}, b"a,b"),
        audio(2, response_format="srt"), audio(1, language="klingon"),
    ])
    assert [r.status for r in responses] == [200, 200, 415, 500, 400]
    assert [r.content_type.split(";")[0] for r in responses] == ["application/json", "text/plain"] + [
        "application/json"] * 3
    assert json.loads(responses[0].body) == {"text": "w0", "language": "en", "duration": 1.0}
    assert responses[1].body == b"w0 w1 w2"
    assert responses[2].error.kind == "unsupported_media_type" and responses[4].error.kind == "bad_parameter"


def test_out_of_memory_is_507_for_the_request_that_needs_it():
    runner = FakeRunner(capacity=8, error=torch.OutOfMemoryError("CUDA out of memory"))
    responses = answer_all(service_on(runner), [audio(1), audio(2), audio(3)])
    assert [r.status for r in responses] == [200, 507, 200]


def test_every_request_ends_with_its_own_log_line(caplog):
    with caplog.at_level(logging.INFO, logger="serving.endpoint.request_log"):
        answer_all(service_on(FakeRunner()), [audio(1, **{"X-Request-Id": "a-1"}),
                                             RawRequest({"Content-Type": "text/csv", "X-Request-Id": "b-2"}, b"")])
    lines = sorted(record.getMessage() for record in caplog.records if record.name == "serving.endpoint.request_log")
    assert lines[0].startswith("request a-1: 200, 1.00 s audio, language en (given), parse ")
    assert "plan " in lines[0] and "encode 10.0 ms" in lines[0]  # the model's stages reach the log in async mode
    assert lines[1].startswith("request b-2: 415, no audio, parse ")


def test_stream_sends_a_delta_per_segment_then_the_whole_result():
    events, last = events_of(service_on(FakeRunner()), audio(3, stream="true", long_form="sequential"))
    assert events[:3] == [{"type": "transcript.text.delta", "delta": delta} for delta in ("w0", " w1", " w2")]
    assert events[3] == {"type": "transcript.text.done", "text": "w0 w1 w2", "language": "en", "duration": 3.0}
    assert last == [False, False, False, True]


@pytest.mark.parametrize(("response_format", "extra"), [("text", set()), ("srt", {"srt"}), ("vtt", {"vtt"}),
                                                       ("verbose_json", {"task", "language", "language_probability", "duration", "segments"})])
def test_the_done_event_carries_the_requested_format(response_format, extra):
    events, _ = events_of(service_on(FakeRunner()), audio(3, stream="true", response_format=response_format))
    done = events[-1]
    assert done["type"] == "transcript.text.done" and done["text"] == "w0 w1 w2"
    assert set(done) == {"type", "text"} | extra
    if response_format == "srt":
        assert done["srt"].startswith("1\n00:00:00,000 --> 00:00:01,000\nw0\n")


def test_accept_text_event_stream_asks_for_a_stream():
    events, _ = events_of(service_on(FakeRunner()), audio(1, Accept="text/event-stream"))
    assert [event["type"] for event in events] == ["transcript.text.delta", "transcript.text.done"]


def test_a_stream_that_fails_before_its_first_event_gets_its_own_status():
    (response,) = answer_all(service_on(FakeRunner()), [audio(2, stream="true")])
    assert isinstance(response, Response) and response.status == 500
    assert json.loads(response.body)["error"]["type"] == "internal_error"


def test_a_stream_that_fails_later_ends_with_an_error_event():
    runner = FakeRunner(error=torch.OutOfMemoryError("CUDA out of memory"), failing_window=1)
    events, last = events_of(service_on(runner), audio(2, stream="true", long_form="sequential"))
    assert events[0] == {"type": "transcript.text.delta", "delta": "w0"}
    assert events[1]["type"] == "error" and events[1]["error"]["code"] == 507
    assert last == [False, True]
