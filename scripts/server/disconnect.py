"""Dropping the work of a client that left: the request's model call races the client's disconnect (the ASGI
``http.disconnect`` that uvicorn delivers once the body is read and the connection closes); when the client goes
first, the call is cancelled (DJL's async mode: the handler's coroutine, whose scheduler drops a cancelled request;
sync mode: the request is skipped before it joins a batch) and :class:`scripts.server.edge.ClientLeft` is raised."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from starlette.types import Receive

from scripts.server.edge import ClientLeft

T = TypeVar("T")


async def unless_client_leaves(receive: Receive, work: Awaitable[T]) -> T:
    """``work``'s result, unless the client disconnects first (then ``work`` is cancelled)."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        watcher.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    raise ClientLeft()


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
