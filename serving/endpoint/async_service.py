"""Async mode: one request at a time, each answered on its own, while the scheduler batches the windows of all
requests in flight on the model.

A request is prepared (parsed, fetched, decoded) in a worker thread, so the event loop keeps taking requests; its
job goes to the service's :class:`~serving.batching.scheduler.Scheduler` (the same path as sync mode); its result is
rendered in its own format with its own status. With ``stream=true`` the answer is an :class:`EventStream` instead
(:mod:`serving.api.streaming`). The steps and the log line per request are the service's
(:class:`~serving.endpoint.service.TranscriptionService`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from serving.api.requests import RawRequest
from serving.api.streaming import EVENT_STREAM, Event, TranscriptEvents
from serving.endpoint.service import Exchange, Response, TranscriptionService
from serving.errors import error_response
from serving.results import Segment, Transcription

logger = logging.getLogger(__name__)

Update = Segment | Transcription
CLIENT_GONE = 499  # logged for a stream whose client closed it before the end (nginx's code; nothing is sent)


@dataclass(frozen=True)
class EventStream:
    """A streaming answer: its events, the last one marked; status 200."""

    events: AsyncIterator[Event]
    content_type: str = EVENT_STREAM


class AsyncTranscriptionService:
    def __init__(self, service: TranscriptionService) -> None:
        self.service = service
        self.scheduler = service.scheduler

    @classmethod
    def start(cls, properties: Mapping[str, str]) -> AsyncTranscriptionService:
        """Load the model and start the scheduler as the sync service does, batches waiting for company."""
        return cls(TranscriptionService.start(properties, async_mode=True))

    def close(self) -> None:
        self.service.close()

    async def answer(self, raw: RawRequest) -> Response | EventStream:
        exchange = await asyncio.to_thread(self.service.prepare, raw, True)
        if exchange.response is not None:
            exchange.log()
            return exchange.response
        if exchange.job.params.stream:
            return await self._stream(exchange)
        try:
            result = await self.scheduler.transcribe(exchange.job, exchange.timer)
        except Exception as exc:  # noqa: BLE001 - the request's own failure, mapped at the one boundary
            response = self.service.fail(exchange, exc)
        else:
            response = await asyncio.to_thread(self.service.answer, exchange, result)
        exchange.log()
        return response

    async def _stream(self, exchange: Exchange) -> Response | EventStream:
        """Wait for the first update: a request that fails before it still gets its own status code."""
        updates = self.scheduler.stream(exchange.job, exchange.timer)
        try:
            first = await anext(updates)
        except Exception as exc:  # noqa: BLE001 - the request's own failure, mapped at the one boundary
            response = self.service.fail(exchange, exc)
            exchange.log()
            return response
        return EventStream(self._events(exchange, first, updates))

    async def _events(self, exchange: Exchange, first: Update, updates: AsyncIterator[Update]) -> AsyncIterator[Event]:
        events = TranscriptEvents(exchange.job.params)
        update = first
        try:
            while isinstance(update, Segment):
                for event in events.deltas([update]):
                    yield event
                update = await anext(updates)
            exchange.result = update
            with exchange.timer("render"):
                done = events.done(update)
            exchange.response = Response(200, EVENT_STREAM, b"")
            yield done
        except Exception as exc:  # noqa: BLE001 - the request's own failure, after events went out: an error event
            error = error_response(exc, str(exchange.request))
            exchange.response = Response(error.status, EVENT_STREAM, b"", error)
            yield events.error(error)
        finally:
            await updates.aclose()  # drops the request if the client went away before the end
            if exchange.response is None:
                exchange.response = Response(CLIENT_GONE, EVENT_STREAM, b"")
            exchange.log()
