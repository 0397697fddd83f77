"""The local DJL-compatible server without the model: dynamic batching, HTTP -> Input translation, lifecycle."""

from __future__ import annotations

import asyncio
import json
import threading
import types
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from scripts.djl.engine import EngineContext
from scripts.djl.http import http_request
from scripts.paths import PROJECT_ROOT
from scripts.server.app import create_app
from scripts.server.batching import SyncBatcher
from scripts.server.config import build_config
from scripts.server.engine import EngineError, EngineSettings, LoadedEngine, load_engine
from serving.djl_compat import Input, Output


def _echo(item: Input) -> bytes:
    content = item.get_content()
    entries = [[content.key_at(i), bytes(content.value_at(i)).decode("latin-1")] for i in range(content.size())]
    return json.dumps({"properties": {k: str(v) for k, v in item.get_properties().items()}, "content": entries}).encode()


class EchoHandler:
    """A handle() that records its Inputs and answers each request with its own properties and content."""

    def __init__(self, code: int = 200, fail: bool = False) -> None:
        self.calls: list[Input] = []
        self.code = code
        self.fail = fail

    def __call__(self, inputs: Input) -> Output:
        self.calls.append(inputs)
        if self.fail:
            raise RuntimeError("boom")
        output = Output().set_code(self.code).add_property("Content-Type", "application/json")
        if inputs.is_batch():
            for index, item in enumerate(inputs.get_batches()):
                output.add(_echo(item), key="data", batch_index=index)
            return output
        return output.add(_echo(inputs))


def _engine(handler: EchoHandler, batch_size: int = 4, delay_ms: int = 300) -> LoadedEngine:
    settings = EngineSettings("model.py", batch_size, delay_ms, async_mode=False)
    return LoadedEngine(types.SimpleNamespace(handle=handler), settings, EngineContext(model_dir=str(PROJECT_ROOT)))


def _submit_all(engine: LoadedEngine, bodies: list[bytes]):
    async def scenario():
        batcher = SyncBatcher(engine)
        requests = [http_request(body, {"Content-Type": "audio/wav"}, request_id=str(i)) for i, body in enumerate(bodies)]
        responses = await asyncio.gather(*(batcher.submit(request) for request in requests))
        await batcher.close()
        return responses

    return asyncio.run(scenario())


def test_concurrent_requests_share_one_handle_call_and_get_their_own_bodies():
    handler = EchoHandler()
    responses = _submit_all(_engine(handler), [b"a", b"b", b"c", b"d"])
    assert len(handler.calls) == 1
    assert handler.calls[0].is_batch() and handler.calls[0].get_batch_size() == 4
    assert [json.loads(r.body)["content"] for r in responses] == [[["data", x]] for x in "abcd"]
    assert [json.loads(r.body)["properties"]["requestId"] for r in responses] == ["0", "1", "2", "3"]


def test_a_single_request_is_sent_unbatched():
    handler = EchoHandler()
    (response,) = _submit_all(_engine(handler), [b"only"])
    assert not handler.calls[0].is_batch()
    assert handler.calls[0].get_as_bytes() == b"only"
    assert response.code == 200


def test_batches_hold_at_most_batch_size_requests():
    handler = EchoHandler()
    responses = _submit_all(_engine(handler, batch_size=4), [bytes([65 + i]) for i in range(6)])
    sizes = [call.get_batch_size() if call.is_batch() else 1 for call in handler.calls]
    assert sum(sizes) == 6 and max(sizes) == 4
    assert [json.loads(r.body)["content"][0][1] for r in responses] == list("ABCDEF")


def test_a_batched_output_with_an_error_code_fails_every_request():
    responses = _submit_all(_engine(EchoHandler(code=413)), [b"a", b"b"])
    assert [r.code for r in responses] == [413, 413]


def test_a_handler_exception_answers_424_to_the_whole_batch():
    responses = _submit_all(_engine(EchoHandler(fail=True)), [b"a", b"b", b"c"])
    assert [r.code for r in responses] == [424] * 3
    assert json.loads(responses[0].body)["error"] == "boom"


# ------------------------------------------------------------------------------------------------ HTTP layer
@pytest.fixture
def app_parts():
    """The app on an echo handler whose loading waits for ``release``."""
    release = threading.Event()
    handler = EchoHandler()
    config = build_config(PROJECT_ROOT, "unused", max_request_bytes=1000)

    def loader(_):
        assert release.wait(10)
        return _engine(handler, batch_size=1, delay_ms=1)

    fatal = []
    return create_app(config, lambda: fatal.append(True), loader), release, handler


def _wait_ready(client: TestClient) -> None:
    for _ in range(100):
        if client.get("/ping").status_code == 200:
            return
        threading.Event().wait(0.05)
    raise AssertionError("never ready")


def test_ping_is_503_until_the_model_is_loaded(app_parts):
    app, release, _ = app_parts
    with TestClient(app) as client:
        assert client.get("/ping").status_code == 503
        assert client.post("/invocations", content=b"x").status_code == 503
        release.set()
        _wait_ready(client)


def test_http_request_becomes_djl_input(app_parts):
    app, release, handler = app_parts
    release.set()
    with TestClient(app) as client:
        _wait_ready(client)
        response = client.post(
            "/predictions/whisper?x=1",
            content=b"audio",
            headers={"Content-Type": "audio/wav", "X-Amzn-SageMaker-Custom-Attributes": "language=de; task=translate"},
        )
    assert response.status_code == 200
    echoed = response.json()
    assert echoed["properties"]["language"] == "de" and echoed["properties"]["task"] == "translate"
    assert not any(key.lower() == "x-amzn-sagemaker-custom-attributes" for key in echoed["properties"])
    assert echoed["properties"]["content-type"] == "audio/wav"
    assert echoed["content"] == [["x", "1"], ["data", "audio"]]
    assert "batch_size" not in handler.calls[0].get_properties()  # options only in the first Input


def test_multipart_fields_become_content_entries(app_parts):
    app, release, _ = app_parts
    release.set()
    with TestClient(app) as client:
        _wait_ready(client)
        response = client.post("/invocations", files={"file": ("a.wav", b"RIFF")}, data={"language": "de"})
    assert sorted(response.json()["content"]) == [["file", "RIFF"], ["language", "de"]]


def test_unknown_model_name_is_404_and_a_large_body_413(app_parts):
    app, release, _ = app_parts
    release.set()
    with TestClient(app) as client:
        _wait_ready(client)
        assert client.post("/predictions/other", content=b"x").status_code == 404
        assert client.post("/invocations", content=b"x" * 1001).status_code == 413


def test_async_mode_without_an_async_handler_fails_clearly(tmp_path: Path):
    config = build_config(PROJECT_ROOT, str(tmp_path), {"async_mode": "true", "handler": "handle"})
    with pytest.raises(EngineError, match="async_mode=true"):
        load_engine(config)
