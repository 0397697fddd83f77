"""handle_async() on a tiny random-weight Whisper, as DJL's async engine drives it: the structure of each request's
own Output (status, content type, DJL's error body), streamed events, and the configuration it refuses. The text is
random: shapes, codes and content types are checked."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from scripts.djl.http import form_request
from scripts.djl.model_load import initial_input
from scripts.djl.properties import handler_options
from scripts.material.clips import clip_bytes
from scripts.paths import PROJECT_ROOT
from serving import model
from serving.constants import SAMPLE_RATE
from serving.errors import ConfigurationError
from tests.handler import send_async, send_java_async, start_async_handler, stop_async_handler
from tests.test_audio import wav_bytes

CLIP = clip_bytes("en_slt_lights.wav")
WAV = {"Content-Type": "audio/wav"}


@pytest.fixture(scope="module", autouse=True)
def tiny_async_handler(tiny_random_dir):
    start_async_handler(tiny_random_dir, max_batch_windows="2", max_new_tokens="8", max_audio_seconds="200")
    yield
    stop_async_handler()


def send_all(requests: list[tuple[bytes, dict[str, str]]]):
    async def scenario():
        return await asyncio.gather(*(send_async(body, headers) for body, headers in requests))

    return asyncio.run(scenario())


def test_concurrent_requests_each_get_their_own_status_and_content_type():
    replies = send_all([
        (CLIP, WAV),
        (CLIP, {**WAV, "X-Amzn-SageMaker-Custom-Attributes": "response_format=text"}),
        (CLIP, {**WAV, "response_format": "srt"}),
        (b"x" * 50, WAV),
        (CLIP, {**WAV, "response_format": "vtt"}),
        (CLIP, {**WAV, "language": "klingon"}),
        (CLIP, {**WAV, "response_format": "verbose_json", "timestamp_granularities": "word"}),
    ])
    assert [reply.code for reply in replies] == [200, 200, 200, 415, 200, 400, 200]
    assert [reply.content_type.split(";")[0] for reply in replies] == [
        "application/json", "text/plain", "application/x-subrip", "application/json", "text/vtt", "application/json",
        "application/json"]
    assert set(replies[0].json()) == {"text", "language", "duration"}
    assert replies[4].body.startswith(b"WEBVTT\n\n")
    assert set(replies[6].json()) == {"task", "language", "language_probability", "duration", "text", "words"}
    # DJL writes an error's body itself from the Output's code and error: the problem, named, on one line
    assert replies[3].json() == {"code": 415, "error": replies[3].json()["error"]}
    assert replies[3].json()["error"].startswith("unsupported_media_type: ")
    assert replies[5].json()["error"].startswith("bad_parameter: language 'klingon' is not supported")


def test_a_streamed_answer_is_one_event_per_output_ending_with_the_whole_result():
    long_audio = wav_bytes(np.random.default_rng(0).normal(0, 0.1, 70 * SAMPLE_RATE))
    (reply,) = send_all([(long_audio, {**WAV, "stream": "true", "long_form": "sequential"})])
    assert reply.code == 200 and reply.content_type.startswith("text/event-stream")
    events = reply.events()
    assert len(events) == len(reply.chunks)  # each event its own chunk, sent as it was made
    assert {event["type"] for event in events[:-1]} <= {"transcript.text.delta"}
    assert events[-1]["type"] == "transcript.text.done" and set(events[-1]) == {"type", "text", "language", "duration"}
    assert "".join(event["delta"] for event in events[:-1]).strip() == events[-1]["text"]


def test_a_stream_refused_before_it_starts_gets_its_own_status():
    (reply,) = send_all([(b"", {**WAV, "stream": "true"})])
    assert reply.code == 400 and reply.content_type == "application/json"


def handler_properties(tiny_random_dir, batch_size: str = "1", **options: str):
    entries = handler_options(model_id=str(tiny_random_dir), **options)
    entries["batch_size"] = batch_size
    return initial_input(entries, model_dir=str(PROJECT_ROOT), device_id="-1")


def test_the_handler_must_match_the_mode(tiny_random_dir):
    with pytest.raises(ConfigurationError, match="option.async_mode=true needs option.handler=handle_async"):
        model.handle(handler_properties(tiny_random_dir, async_mode="true"))
    with pytest.raises(ConfigurationError, match="option.async_mode=false needs no option.handler"):
        asyncio.run(model.handle_async(handler_properties(tiny_random_dir, async_mode="false")))


def test_async_mode_refuses_djl_dynamic_batches(tiny_random_dir):
    with pytest.raises(ConfigurationError, match="batch_size=1"):
        asyncio.run(model.handle_async(handler_properties(tiny_random_dir, "8", async_mode="true")))


def test_a_form_without_fields_is_a_request_without_audio_not_a_second_start():
    """DJL gives a form with no fields as an Input without content, like its first (options) Input: once the service
    runs, it gets the 400 naming the missing audio (it used to be taken for the options: a 424)."""
    reply = asyncio.run(send_java_async(form_request({}, None)))
    assert reply.code == 400 and "audio" in reply.json()["error"]

