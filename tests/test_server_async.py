"""The local server in DJL's async mode: each request its own handle_async() call and its own status, headers and
body; a streamed answer sent chunk by chunk as server-sent events. First with a stand-in handler (in process),
then over real HTTP on the real whisper-base."""

from __future__ import annotations

import asyncio
import json
import threading
import types

import httpx
import pytest
from starlette.testclient import TestClient

from benchmarks.load_test import HOST, MODE_OPTIONS, free_port, server_process
from scripts.djl.engine import EngineContext
from scripts.material.clips import REFERENCES, clip_bytes, english_speech_clips
from scripts.paths import PROJECT_ROOT
from scripts.scoring.wer import normalise
from scripts.server.app import create_app
from scripts.server.config import build_config
from scripts.server.engine import EngineSettings, LoadedEngine
from serving.djl_compat import Input, Output

EVENT_STREAM = "text/event-stream"


def _item(data: str, last: bool, **extra) -> Output:
    return Output().add_property("Content-Type", extra.pop("content_type", "text/plain")).add(
        Output.binary_encode({"data": data, "last": last, **extra}))


async def _stand_in(inputs: Input):
    """Echoes the body; ``fail`` is a 418 with its own error, ``stream`` three events as a generator."""
    body = inputs.get_as_bytes()
    if body == b"fail":
        return _item("", True, code=418, error="teapot: no audio", content_type="application/json")
    if body == b"stream":
        return _events()
    return _item(body.decode().upper(), True)


async def _events():
    for index in range(3):
        await asyncio.sleep(0)
        yield _item(f"data: {index}\n\n", index == 2, content_type=EVENT_STREAM)


@pytest.fixture
def client():
    settings = EngineSettings("model.py", 1, 100, async_mode=True)
    context = EngineContext(model_dir=str(PROJECT_ROOT), handler="handle_async")
    engine = LoadedEngine(types.SimpleNamespace(handle_async=_stand_in), settings, context)
    app = create_app(build_config(PROJECT_ROOT, "unused"), lambda: None, lambda _: engine)
    with TestClient(app) as test_client:
        for _ in range(100):
            if test_client.get("/ping").status_code == 200:
                break
            threading.Event().wait(0.05)
        yield test_client


def test_each_request_is_answered_with_its_own_output(client):
    ok = client.post("/invocations", content=b"abc")
    failed = client.post("/invocations", content=b"fail")
    assert (ok.status_code, ok.headers["content-type"], ok.text) == (200, "text/plain", "ABC")
    assert "request_tracking_id" in ok.headers  # DJL's async engine adds it; every property becomes a header
    assert failed.status_code == 418 and failed.json() == {"code": 418, "error": "teapot: no audio"}


def test_a_generator_of_outputs_is_a_chunked_event_stream(client):
    with client.stream("POST", "/invocations", content=b"stream") as response:
        assert response.status_code == 200 and response.headers["content-type"] == EVENT_STREAM
        assert "content-length" not in response.headers
        chunks = list(response.iter_bytes())
    assert b"".join(chunks) == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"


# ------------------------------------------------------------------------------------- real HTTP, real model
@pytest.mark.real_model
def test_the_server_in_async_mode_answers_concurrent_requests_and_streams(whisper_base_dir):
    name = english_speech_clips()[0]
    wav = {"Content-Type": "audio/wav"}
    port = free_port()

    async def scenario(url: str):
        async with httpx.AsyncClient(base_url=url, timeout=120) as http:
            async def streamed():
                events = []
                async with http.stream("POST", "/invocations", content=clip_bytes(name),
                                       headers={**wav, "stream": "true"}) as response:
                    assert response.status_code == 200
                    assert response.headers["content-type"].startswith(EVENT_STREAM)
                    async for line in response.aiter_lines():
                        if line:
                            events.append(json.loads(line.removeprefix("data: ")))
                return events

            return await asyncio.gather(
                http.post("/invocations", content=clip_bytes(name), headers=wav),
                http.post("/predictions/whisper", content=clip_bytes(name), headers={**wav, "response_format": "text"}),
                http.post("/invocations", content=clip_bytes(name), headers={**wav, "language": "klingon"}),
                streamed(),
            )

    with server_process(port, MODE_OPTIONS["async"]):
        as_json, as_text, bad, events = asyncio.run(scenario(f"http://{HOST}:{port}"))
    assert (as_json.status_code, as_json.headers["content-type"]) == (200, "application/json")
    assert normalise(as_json.json()["text"]) == normalise(REFERENCES[name]["text"])
    assert (as_text.status_code, as_text.headers["content-type"]) == (200, "text/plain; charset=utf-8")
    assert as_text.text == as_json.json()["text"]
    assert bad.status_code == 400 and bad.json()["error"].startswith("bad_parameter: language 'klingon'")
    *deltas, done = events
    assert deltas and {event["type"] for event in deltas} == {"transcript.text.delta"}
    assert done == {"type": "transcript.text.done", **as_json.json()}
    assert "".join(event["delta"] for event in deltas) == done["text"]
