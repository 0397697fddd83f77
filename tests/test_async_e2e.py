"""Async mode end to end through handle_async() on the real whisper-base: concurrent requests of mixed formats, each
with its own content type and exact text, a bad request among them; a streamed request whose deltas arrive while
it is still being decoded and whose final event equals the same request's non-streamed answer."""

from __future__ import annotations

import asyncio
import json
import types

import pytest

from benchmarks.load_test import concatenated_wav
from scripts.djl.async_replies import AsyncReply, async_request
from scripts.djl.engine import EngineContext
from scripts.djl.http import http_request
from scripts.material.clips import REFERENCES, clip_bytes, english_speech_clips
from scripts.paths import PROJECT_ROOT
from scripts.scoring.wer import normalise
from serving import model
from tests.handler import send_async, start_async_handler, stop_async_handler

pytestmark = pytest.mark.real_model

WAV = {"Content-Type": "audio/wav"}
FORMATS = ("json", "text", "srt", "vtt")


@pytest.fixture(scope="module", autouse=True)
def real_async_handler(whisper_base_dir):
    start_async_handler(whisper_base_dir)
    yield
    stop_async_handler()


def test_concurrent_requests_of_mixed_formats_get_their_own_answers():
    names = english_speech_clips()[: len(FORMATS)]

    async def scenario():
        good = [send_async(clip_bytes(name), {**WAV, "response_format": f}) for name, f in zip(names, FORMATS)]
        bad = send_async(clip_bytes(names[0]), {**WAV, "task": "summarize"})
        return await asyncio.gather(*good, bad)

    *replies, bad = asyncio.run(scenario())
    assert [reply.code for reply in replies] == [200] * len(FORMATS)
    assert [reply.content_type for reply in replies] == [
        "application/json", "text/plain; charset=utf-8", "application/x-subrip; charset=utf-8",
        "text/vtt; charset=utf-8"]
    texts = [replies[0].json()["text"], replies[1].body.decode(), *(r.body.decode().split("\n")[-2] for r in replies[2:])]
    assert [normalise(text) for text in texts] == [normalise(REFERENCES[name]["text"]) for name in names]
    assert bad.code == 400 and bad.json()["error"].startswith("bad_parameter: parameter 'task'='summarize'")


async def _streamed(body: bytes, headers: dict[str, str], chunks: list[bytes]) -> None:
    """Collect a streamed answer's chunks as they arrive."""
    inputs = async_request(http_request(body, headers), EngineContext(model_dir=str(PROJECT_ROOT)))
    outputs = await model.handle_async(inputs)
    assert isinstance(outputs, types.AsyncGeneratorType)
    reply = AsyncReply()
    async for output in outputs:
        chunks.append(reply.add(output))
    assert reply.code == 200 and reply.properties["Content-Type"].startswith("text/event-stream")


def test_a_stream_sends_segments_as_they_are_decoded_and_ends_with_the_non_streamed_result():
    body, _ = concatenated_wav(english_speech_clips())  # 37 s: two sequential windows
    params = {**WAV, "response_format": "verbose_json", "long_form": "sequential", "language": "en"}
    chunks: list[bytes] = []

    async def whole():  # the same request, not streamed: its windows share the streamed one's batches
        reply = await send_async(body, params)
        return reply, len(chunks)

    async def scenario():
        _, (reply, streamed_by_then) = await asyncio.gather(_streamed(body, {**params, "stream": "true"}, chunks), whole())
        return reply, streamed_by_then

    whole_reply, streamed_by_then = asyncio.run(scenario())
    *deltas, done = [json.loads(chunk.removeprefix(b"data: ")) for chunk in chunks]
    assert {event["type"] for event in deltas} == {"transcript.text.delta"} and done["type"] == "transcript.text.done"
    assert streamed_by_then >= 1  # the first window's segments went out before the second window was decoded
    # the same result; numbers to float noise only (the two requests' windows may share a batch or not)
    assert _rounded({key: value for key, value in done.items() if key != "type"}) == _rounded(whole_reply.json())
    segments = [segment["text"] for segment in whole_reply.json()["segments"]]
    assert [event["delta"] for event in deltas] == [segments[0].lstrip(), *segments[1:]]


def _rounded(value):
    """A JSON value with its floats rounded to 2 decimals (seconds to 10 ms, log-probabilities to 0.01)."""
    if isinstance(value, float):
        return round(value, 2)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_rounded(item) for item in value]
    return value
