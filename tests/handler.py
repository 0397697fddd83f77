"""Drive ``serving.model.handle`` (sync mode) and ``serving.model.handle_async`` (async mode) exactly as DJL does:
options once in an empty Input, then requests; async Outputs are applied as DJL's Java side applies them."""

from __future__ import annotations

import asyncio
import json
import types
from dataclasses import dataclass

from scripts.djl.async_replies import AsyncReply, async_request
from scripts.djl.batching import batch_input
from scripts.djl.engine import EngineContext
from scripts.djl.http import http_request
from scripts.djl.model_load import initial_input
from scripts.djl.outputs import outputs_of
from scripts.djl.properties import handler_options, sync_handler_options
from scripts.djl.requests import request_input
from scripts.paths import PROJECT_ROOT
from serving import model


@dataclass
class Reply:
    code: int
    content_type: str
    body: bytes
    chunks: tuple[bytes, ...] = ()  # async mode: the body as DJL received it, Output by Output

    def json(self) -> dict:
        return json.loads(self.body)

    def events(self) -> list[dict]:
        """The server-sent events of a streamed body, one ``data: <JSON>`` line each."""
        events = []
        for block in self.body.decode("utf-8").split("\n\n")[:-1]:
            assert block.startswith("data: ") and "\n" not in block, block
            events.append(json.loads(block.removeprefix("data: ")))
        return events


# whisper-base on a shared CPU runs far slower than an endpoint's GPU: the tests' requests get this budget instead
# of option.request_timeout_seconds' default (SageMaker's real-time limit), unless a test sets it.
CPU_BUDGET = {"request_timeout_seconds": "600"}


def start_handler(model_id: str, batch_size: int = 8, **options: str) -> None:
    """Load the handler afresh from serving.properties with ``model_id`` and option overrides."""
    stop_handler()
    entries = sync_handler_options(model_id=str(model_id), **{**CPU_BUDGET, **options})
    entries["batch_size"] = str(batch_size)
    assert model.handle(initial_input(entries, model_dir=str(PROJECT_ROOT), device_id="-1")) is None


def stop_handler() -> None:
    """Close the sync handler's service: its scheduler thread would otherwise hold the model (hundreds of MB) for the
    rest of the worker's life, one more for every module that starts a handler."""
    if model._service is not None:
        model._service.close()
    model._service = None


def start_async_handler(model_id: str, **options: str) -> None:
    """Load the async handler afresh: ``option.async_mode=true``, ``option.handler=handle_async``, ``batch_size=1``."""
    stop_async_handler()
    entries = handler_options(model_id=str(model_id), async_mode="true", handler=model.ASYNC_HANDLER,
                              **{**CPU_BUDGET, **options})
    entries["batch_size"] = "1"
    first = initial_input(entries, model_dir=str(PROJECT_ROOT), device_id="-1")
    assert asyncio.run(model.handle_async(first)) is None


def stop_async_handler() -> None:
    if model._async_service is not None:
        model._async_service.close()
    model._async_service = None


async def send_async(body: bytes, headers: dict[str, str] | None = None) -> Reply:
    """One request through ``handle_async``; its Outputs applied in order as DJL does (a generator to its end)."""
    return await send_java_async(http_request(body, headers or {}))


async def send_java_async(java) -> Reply:
    """A request as DJL's Java side holds it (``scripts.djl.http``) through ``handle_async``."""
    outputs = await model.handle_async(async_request(java, EngineContext(model_dir=str(PROJECT_ROOT))))
    if not isinstance(outputs, types.AsyncGeneratorType):
        outputs = _one(outputs)
    reply, chunks = AsyncReply(), []
    async for output in outputs:
        appended = reply.add(output)
        if appended is not None:
            chunks.append(appended)
    assert reply.last
    return Reply(reply.code, _content_type(reply.properties), b"".join(chunks), tuple(chunks))


async def _one(output):
    yield output


def send(body: bytes, headers: dict[str, str] | None = None) -> Reply:
    output = model.handle(request_input(body, headers or {}, model_dir=str(PROJECT_ROOT)))
    (response,) = outputs_of(output)
    return Reply(response.code, _content_type(response.properties), response.body)


def send_batch(requests: list[tuple[bytes, dict[str, str]]]) -> list[Reply]:
    items = [request_input(body, headers, model_dir=str(PROJECT_ROOT)) for body, headers in requests]
    batch = batch_input(items)
    output = model.handle(batch)
    return [Reply(r.code, _content_type(r.properties), r.body) for r in outputs_of(output, batch)]


def _content_type(properties: dict) -> str:
    return next((value for key, value in properties.items() if key.lower() == "content-type"), "")
