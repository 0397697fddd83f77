"""The service's isolation rules in sync mode, with a stand-in runner (tests/scheduling.py, no model): a DJL batch is
submitted to the scheduler together, and a failure costs only its own request."""

import json

import numpy as np
import pytest
import torch

from serving.api.requests import RawRequest
from serving.batching.scheduler import Scheduler, SchedulerOptions
from serving.endpoint.service import TranscriptionService
from serving.settings import load_settings
from tests.scheduling import FakeRunner, text_of
from tests.test_audio import wav_bytes


def service_on(runner: FakeRunner) -> TranscriptionService:
    return TranscriptionService(load_settings({}, {}), Scheduler(runner, SchedulerOptions(max_batch_wait_ms=0)))


def audio(seconds: int, **headers: str) -> RawRequest:
    return RawRequest({"Content-Type": "audio/wav", **headers}, wav_bytes(np.zeros(seconds * 16_000)))


def handle(runner: FakeRunner, requests: list[RawRequest]):
    service = service_on(runner)
    try:
        return service.handle(requests)
    finally:
        service.close()


def test_a_djl_batch_goes_to_the_model_as_one_batch():
    runner = FakeRunner(capacity=8)
    responses = handle(runner, [audio(1), audio(3), audio(1)])
    assert [json.loads(r.body)["text"] for r in responses] == [text_of(1), text_of(3), text_of(1)]
    assert runner.windows() == [5]


def test_a_bug_in_the_model_fails_only_the_request_that_caused_it():
    runner = FakeRunner(capacity=8)
    responses = handle(runner, [audio(1), audio(2), audio(3)])
    assert [r.status for r in responses] == [200, 500, 200]
    assert json.loads(responses[0].body)["text"] == text_of(1)
    assert json.loads(responses[2].body)["text"] == text_of(3)
    assert runner.windows() == [6, 1, 2, 3]  # the batch, then each request's windows on their own


def test_out_of_memory_is_507_for_the_request_that_needs_it():
    runner = FakeRunner(capacity=8, error=torch.OutOfMemoryError("CUDA out of memory"))
    responses = handle(runner, [audio(2), audio(1)])
    assert [r.status for r in responses] == [507, 200]


def test_bad_requests_never_reach_the_model():
    runner = FakeRunner(capacity=8)
    responses = handle(runner, [RawRequest({"Content-Type": "audio/wav"}, b"junk" * 30), audio(1)])
    assert [r.status for r in responses] == [415, 200]
    assert runner.batches == [[(1, 0)]]


def test_sync_mode_refuses_to_stream_naming_the_problem():
    runner = FakeRunner()
    (response,) = handle(runner, [audio(1, stream="true")])
    assert response.status == 400
    assert "option.async_mode=true" in json.loads(response.body)["error"]["message"]
    assert runner.batches == []


def test_stage_timings_reach_the_request_log_in_sync_mode(caplog):
    caplog.set_level("INFO", logger="serving.endpoint.request_log")
    handle(FakeRunner(capacity=8), [audio(1, **{"X-Request-Id": "s-1"}), audio(3, **{"X-Request-Id": "s-2"})])
    lines = sorted(record.getMessage() for record in caplog.records)
    assert lines[0].startswith("request s-1: 200, 1.00 s audio, language en (given), parse ")
    # the stand-in's batch of 4 windows took 40 ms to "encode": shared by audio, 1 s of 4 and 3 s of 4
    assert "encode 10.0 ms" in lines[0] and "encode 30.0 ms" in lines[1]
    assert all("plan " in line and "segments " in line for line in lines)


@pytest.mark.usefixtures("one_torch_thread")
def test_a_bad_request_in_a_djl_batch_is_refused_before_the_batch_and_no_window_runs_twice(tiny_random_dir, caplog):
    """The real runner (tiny random model): a language the model lacks is refused when its request is planned, so
    the good requests' windows go to the model once, in one batch, and are not retried alone."""
    caplog.set_level("DEBUG", logger="serving.batching.scheduler")
    service = TranscriptionService.start(
        {"model_id": str(tiny_random_dir), "device_id": "-1", "max_new_tokens": "4", "vad": "off",
         # the random model's output always fails Whisper's quality rules: no temperature fallback, one pass
         "logprob_threshold": "-1000000", "compression_ratio_threshold": "1000000"}, async_mode=False
    )
    try:
        responses = service.handle([audio(1), audio(2, language="yue"), audio(3)])
    finally:
        service.close()
    assert [r.status for r in responses] == [200, 400, 200]
    assert "'yue'" in json.loads(responses[1].body)["error"]["message"]
    joins = [r.getMessage() for r in caplog.records if "joined the running batch" in r.getMessage()]
    assert len(joins) == 1 and joins[0].startswith("2 window(s) from 2 request(s) joined the running batch")
    assert not [r for r in caplog.records if "alone" in r.getMessage()]
