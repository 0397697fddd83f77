"""The HTTP edge of the app, as ASGI middleware, where uvicorn and Starlette differ from DJL's Netty:

* ``Expect`` other than ``100-continue`` is answered ``417 Expectation Failed`` (Netty's HttpObjectAggregator);
  ``100-continue`` itself gets its 100 when the app first reads the body, then the final status (as Netty does),
  and none when the app answers from the head alone (413 by Content-Length, 404, 503);
* the body must arrive whole within ``body_timeout`` seconds of the head (a Content-Length larger than what is
  sent, a stalled upload): else ``408 Request Timeout`` and the connection is closed;
* a client that leaves (during its upload, or while waiting for its answer: :class:`ClientLeft`) is logged in one
  line, not as an "Exception in ASGI application" traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

CONTINUE = b"100-continue"
EXPECTATION_FAILED = 417
REQUEST_TIMEOUT = 408


class ClientLeft(ClientDisconnect):
    """The client closed its connection while its request waited for the model; the request's work was dropped."""


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, body_timeout: float) -> None:
        self.app = app
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        expect = dict(scope["headers"]).get(b"expect")
        if expect is not None and expect.strip().lower() != CONTINUE:
            await _answer(send, EXPECTATION_FAILED, f"unsupported expectation: {expect.decode('latin-1')!r}")
            return
        exchange = _Exchange(receive, send, asyncio.get_running_loop().time() + self.body_timeout)
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except ClientLeft:
            logger.info("%s left while %s %s waited for the model: its work was dropped", _peer(scope),
                        scope["method"], scope["path"])
        except ClientDisconnect:
            if exchange.timed_out:
                logger.info("%s: %s %s sent no whole body within %g s: 408, connection closed", _peer(scope),
                            scope["method"], scope["path"], self.body_timeout)
            else:
                logger.info("%s left during %s %s, before its answer", _peer(scope), scope["method"],
                            scope["path"])


class _Exchange:
    """One request's receive and send: body reads bounded by the deadline; the app's sends dropped once the edge
    has answered in its place."""

    def __init__(self, receive: Receive, send: Send, deadline: float) -> None:
        self._receive = receive
        self._send = send
        self._deadline = deadline
        self.body_done = False
        self.timed_out = False
        self.started = False

    async def receive(self) -> Message:
        if self.timed_out:
            return {"type": "http.disconnect"}
        if self.body_done:  # waiting for the client to leave (StreamingResponse, ClientLeft's watcher)
            return await self._receive()
        remaining = self._deadline - asyncio.get_running_loop().time()
        try:
            message = await asyncio.wait_for(self._receive(), max(remaining, 0))
        except asyncio.TimeoutError:
            self.timed_out = True
            if not self.started:
                self.started = True
                await _answer(self._send, REQUEST_TIMEOUT, "the request body did not arrive in time")
            return {"type": "http.disconnect"}
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.body_done = True
        return message

    async def send(self, message: Message) -> None:
        if self.timed_out:
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


async def _answer(send: Send, status: int, message: str) -> None:
    """DJL's error body, and the connection closed after it."""
    body = json.dumps({"code": status, "type": "BadRequestException", "message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _peer(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "a client"
