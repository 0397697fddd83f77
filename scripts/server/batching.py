"""DJL's sync-mode dynamic batching: up to ``batch_size`` requests that arrive within ``max_batch_delay`` ms of the
first go to ONE handle() call (a single request goes unbatched), run in a worker thread so the event loop keeps
accepting; the batched Output is split per request exactly as PyPredictor does (code >= 300 fails them all).

A dispatcher has ``submit(request) -> response`` and ``close()``; async mode's is
:class:`scripts.server.async_mode.AsyncDispatcher`.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from scripts.djl.batching import batch_input
from scripts.djl.errors import DjlHttpError, DjlWorkerError
from scripts.djl.java import JavaInput
from scripts.djl.outputs import DjlResponse, outputs_of
from scripts.server.engine import LoadedEngine, call_handler

logger = logging.getLogger(__name__)

WORKER_UNAVAILABLE = 503  # WlmException: the worker thread died


@dataclass
class _Pending:
    request: JavaInput
    future: asyncio.Future


class SyncBatcher:
    def __init__(self, engine: LoadedEngine) -> None:
        self._engine = engine
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="djl-worker")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="batcher")

    async def submit(self, request: JavaInput) -> DjlResponse:
        future = asyncio.get_running_loop().create_future()
        await self._queue.put(_Pending(request, future))
        return await future

    async def close(self) -> None:
        """Finish everything queued, then stop the worker."""
        await self._queue.join()
        self._task.cancel()
        self._executor.shutdown(wait=True)

    async def _run(self) -> None:
        while True:
            batch = await self._collect()
            try:
                await self._predict(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _collect(self) -> list[_Pending]:
        """Up to batch_size live requests; those whose client left while queued are dropped on the way."""
        settings = self._engine.settings
        batch = self._live([await self._queue.get()])
        while not batch:
            batch = self._live([await self._queue.get()])
        deadline = asyncio.get_running_loop().time() + settings.max_batch_delay_ms / 1000
        while len(batch) < settings.batch_size:
            if not self._queue.empty():
                batch += self._live([self._queue.get_nowait()])
                continue
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            try:
                batch += self._live([await asyncio.wait_for(self._queue.get(), remaining)])
            except asyncio.TimeoutError:
                break
        return batch

    def _live(self, taken: list[_Pending]) -> list[_Pending]:
        """``taken`` without the requests whose futures were cancelled (their clients left): done with here."""
        live = [pending for pending in taken if not pending.future.cancelled()]
        for _ in range(len(taken) - len(live)):
            logger.info("a request whose client left was dropped before it was batched")
            self._queue.task_done()
        return live

    async def _predict(self, batch: list[_Pending]) -> None:
        loop = asyncio.get_running_loop()
        try:
            responses = await loop.run_in_executor(self._executor, self._handle, [p.request for p in batch])
        except (DjlHttpError, DjlWorkerError) as exc:
            for pending in batch:
                _resolve(pending.future, exc)
            return
        for pending, response in zip(batch, responses):
            _resolve(pending.future, response)

    def _handle(self, requests: list[JavaInput]) -> list[DjlResponse]:
        """Worker thread: batch Input -> handle() -> one response per request (PyPredictor.batchPredict)."""
        inputs = batch_input(requests, self._engine.context)
        output = call_handler(self._engine, inputs)
        return outputs_of(output, inputs)


def _resolve(future: asyncio.Future, outcome: DjlResponse | Exception) -> None:
    if future.done():  # the client went away
        return
    if isinstance(outcome, Exception):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
