"""Calling the container from the API stand-ins (SageMaker Runtime, OpenAI): a request to the app's own
``/invocations`` handler, built from an incoming request (only the headers the front end passes on) or from bytes,
and the whole body of its answer, plain or streamed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import Message, Receive

Invoke = Callable[[Request], Awaitable[Response]]

CONTAINER_PATH = "/invocations"
# What the HTTP layer needs to read a forwarded body.
BODY_HEADERS = ("content-length", "transfer-encoding")


def forwarded(request: Request, names: dict[str, str]) -> Request:
    """``request`` as the container receives it: POST /invocations with only the headers named in ``names``
    (lower-case header -> the name the container gets), the body still to be read from the client."""
    headers = [(names[key.decode("latin-1")].encode("latin-1"), value)
               for key, value in request.scope["headers"] if key.decode("latin-1") in names]
    headers += [(key, value) for key, value in request.scope["headers"] if key.decode("latin-1") in BODY_HEADERS]
    scope = {**request.scope, "path": CONTAINER_PATH, "raw_path": CONTAINER_PATH.encode(), "query_string": b"",
             "headers": headers, "path_params": {}}
    return Request(scope, request.receive)


def container_request(headers: Iterable[tuple[str, str]], body: bytes, client: Receive | None = None) -> Request:
    """A POST /invocations carrying ``body`` with ``headers``; after the body, its ``receive`` waits for ``client``'s
    next message (its disconnect: the request's work is then dropped), or forever (the server's own request)."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if client is not None:
            return await client()
        await asyncio.Event().wait()  # this "client" never leaves
        return {"type": "http.disconnect"}

    encoded = [(key.lower().encode("latin-1"), value.encode("latin-1")) for key, value in headers]
    scope = {
        "type": "http", "http_version": "1.1", "method": "POST", "scheme": "http", "path": CONTAINER_PATH,
        "raw_path": CONTAINER_PATH.encode(), "root_path": "", "query_string": b"", "client": None, "server": None,
        "headers": [*encoded, (b"content-length", str(len(body)).encode())],
    }
    return Request(scope, receive)


async def response_body(response: Response) -> bytes:
    """The whole body of a plain or streamed Starlette response."""
    if not isinstance(response, StreamingResponse):
        return bytes(response.body)
    return b"".join([as_bytes(chunk) async for chunk in response.body_iterator])


def as_bytes(chunk: str | bytes | memoryview) -> bytes:
    return chunk.encode() if isinstance(chunk, str) else bytes(chunk)
