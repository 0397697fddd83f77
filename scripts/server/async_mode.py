"""DJL's async mode: every request is its own awaited handle() call on the server's event loop (no dynamic
batching: the handler batches on its own); its Output, or the Outputs its async generator yields, become the HTTP
response as DJL's Java side builds it (:class:`scripts.djl.async_replies.AsyncReply`): status and headers with the
first chunk, a plain response when that chunk is also the last, else a chunked (streamed) one.

Same two methods as :class:`scripts.server.batching.SyncBatcher`: ``submit(request)`` and ``close()``.
"""

from __future__ import annotations

import logging
import types
from collections.abc import AsyncIterator
from dataclasses import dataclass

from scripts.djl.async_replies import REQUEST_TRACKING_ID, AsyncReply, async_request
from scripts.djl.errors import DjlWorkerError
from scripts.djl.java import JavaInput
from scripts.djl.outputs import DjlResponse
from scripts.server.engine import LoadedEngine, call_async_handler
from serving.djl_compat import Output

logger = logging.getLogger(__name__)


@dataclass
class DjlStream:
    """A chunked response: its status and headers (fixed by the first chunk), the first chunk, then the rest."""

    code: int
    properties: dict
    first: bytes
    rest: AsyncIterator[bytes]


class AsyncDispatcher:
    def __init__(self, engine: LoadedEngine) -> None:
        self._engine = engine

    async def submit(self, request: JavaInput) -> DjlResponse | DjlStream:
        inputs = async_request(request, self._engine.context)
        outputs = await call_async_handler(self._engine, inputs)
        reply = AsyncReply()
        chunks = _chunks(reply, outputs, str(inputs.get_property(REQUEST_TRACKING_ID)))
        first = await anext(chunks, None)
        if first is None:
            raise DjlWorkerError("the handler's Outputs ended before the response did: DJL would wait for "
                                 "chunked_read_timeout, then drop the connection")
        if reply.last:
            async for _ in chunks:  # run the handler's generator to its end, as DJL does
                pass
            return DjlResponse(reply.code, dict(reply.properties), first, reply.message)
        return DjlStream(reply.code, dict(reply.properties), first, chunks)

    async def close(self) -> None:
        """Nothing is queued here: uvicorn has answered every request in flight when this is called."""


async def _chunks(reply: AsyncReply, outputs: Output | types.AsyncGeneratorType,
                  tracking_id: str) -> AsyncIterator[bytes]:
    """The bytes each Output appends to the response. Like python_async_engine, each Output gets the request's
    ``request_tracking_id`` and an async generator is run to its end; Outputs after the last chunk are dropped (DJL
    no longer knows their request)."""
    if isinstance(outputs, Output):
        outputs = _one(outputs)
    async for output in outputs:
        if reply.last:
            logger.warning("an Output after the request's last chunk is dropped")
            continue
        appended = reply.add(output.add_property(REQUEST_TRACKING_ID, tracking_id))
        if appended is not None:
            yield appended
    if not reply.last:
        logger.error("the handler's Outputs ended without a last chunk: DJL would keep the client waiting")


async def _one(output: Output) -> AsyncIterator[Output]:
    yield output
