"""The local server's bounded shutdown, with a stand-in handler module: the handler's ``shutdown()`` (drain, then
503 for what is left) starts at the signal (``app.state.drain_soon``, which ``scripts.serve`` calls from uvicorn's
signal handler), once, and at the latest when the app shuts down; a request in flight gets the handler's answer."""

from __future__ import annotations

import signal
import threading
import types

import uvicorn
from starlette.testclient import TestClient

from scripts.djl.engine import EngineContext
from scripts.paths import PROJECT_ROOT
from scripts.serve import DrainingServer
from scripts.server.app import create_app
from scripts.server.config import build_config
from scripts.server.engine import EngineSettings, LoadedEngine
from serving.djl_compat import Input, Output

WAIT_S = 20


class StandIn:
    """A handler module: each request waits until ``shutdown()``, which answers it with a 503 as the real one does
    once its drain runs out."""

    def __init__(self) -> None:
        self.shutdowns = 0
        self.released = threading.Event()

    async def handle_async(self, inputs: Input) -> Output:
        import asyncio

        await asyncio.to_thread(self.released.wait, WAIT_S)
        return Output().add_property("Content-Type", "application/json").add(Output.binary_encode(
            {"data": "", "last": True, "code": 503, "error": "shutting_down: drained"}))

    def shutdown(self) -> None:
        self.shutdowns += 1
        self.released.set()


def app_on(module: StandIn):
    settings = EngineSettings("model.py", 1, 100, async_mode=True)
    context = EngineContext(model_dir=str(PROJECT_ROOT), handler="handle_async")
    engine = LoadedEngine(types.SimpleNamespace(handle_async=module.handle_async, shutdown=module.shutdown),
                          settings, context)
    return create_app(build_config(PROJECT_ROOT, "unused"), lambda: None, lambda _: engine)


def wait_ready(client: TestClient) -> None:
    for _ in range(400):
        if client.get("/ping").status_code == 200:
            return
        threading.Event().wait(0.05)
    raise AssertionError("the stand-in never became ready")


def test_the_drain_starts_at_the_signal_and_answers_the_request_in_flight():
    module = StandIn()
    app = app_on(module)
    with TestClient(app) as client:
        wait_ready(client)
        answers = []
        request = threading.Thread(target=lambda: answers.append(client.post("/invocations", content=b"x")))
        request.start()
        threading.Event().wait(0.2)
        assert answers == []  # in flight, waiting for the drain
        app.state.drain_soon()  # what DrainingServer.handle_exit calls
        request.join(WAIT_S)
        assert [a.status_code for a in answers] == [503]
    assert module.shutdowns == 1  # not again at the app's shutdown


def test_without_a_signal_the_app_shutdown_drains():
    module = StandIn()
    with TestClient(app_on(module)) as client:
        wait_ready(client)
    assert module.shutdowns == 1


def test_the_server_tells_the_app_at_the_signal():
    called = []
    app = types.SimpleNamespace(state=types.SimpleNamespace(drain_soon=lambda: called.append(True)))
    server = DrainingServer(uvicorn.Config(app))
    server.handle_exit(signal.SIGTERM, None)
    assert server.should_exit and called == [True]
