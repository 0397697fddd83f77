"""Async mode: one request at a time, each answered on its own, while the scheduler batches the windows of all
requests in flight on the model.

A request is parsed and fetched in a worker thread, so the event loop keeps taking requests; it then waits on the
loop for room in the audio budget (:mod:`serving.endpoint.admission`: at most ``option.admission_wait_seconds``, then
a 503 with Retry-After), is decoded in a worker thread, and its job goes to the service's :class:`~serving.batching.scheduler.Scheduler` (the same path as sync mode); its result is
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
from serving.errors import Overloaded, error_response
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
        """Drain (``option.drain_timeout_seconds``; then 503 for what is left) and stop."""
        self.service.close()

    def cancel(self, request_id: str) -> int:
        """Stop the work of the requests in flight with this id (DJL's ``requestId``, or the client's
        ``X-Amzn-SageMaker-Inference-Id`` / ``X-Request-Id``): their client has gone. How many were stopped. (Cancelling
        the task that awaits :meth:`answer` does the same for its own request.)"""
        return self.scheduler.cancel(request_id)

    async def answer(self, raw: RawRequest) -> Response | EventStream:
        exchange = await self._prepare(raw)
        if exchange.response is not None:
            exchange.finish()
            return exchange.response
        if exchange.job.params.stream:
            return await self._stream(exchange)
        try:
            result = await self.scheduler.transcribe(exchange.job, exchange.timer)
            response = await asyncio.to_thread(self.service.answer, exchange, result)
        except Exception as exc:  # noqa: BLE001 - the request's own failure, mapped at the one boundary
            response = self.service.fail(exchange, exc)
        finally:
            exchange.release()  # also when the caller went away (cancelled): the audio's room is free again
        exchange.finish()
        return response

    async def _prepare(self, raw: RawRequest) -> Exchange:
        """Parse and fetch (a worker thread), wait for room for the audio (the loop), decode (a worker thread)."""
        exchange, arrival = await asyncio.to_thread(self.service.receive, raw, True)
        if arrival is None:
            return exchange
        try:
            exchange.reservation = await self.service.budget.reserve(arrival.seconds)
        except Overloaded as exc:
            self.service.fail(exchange, exc)
            return exchange
        try:
            await asyncio.to_thread(self.service.decode, exchange, arrival)
        except BaseException:  # the caller went away while it decoded: give the room back
            exchange.release()
            raise
        return exchange

    async def _stream(self, exchange: Exchange) -> Response | EventStream:
        """Wait for the first update: a request that fails before it still gets its own status code."""
        updates = self.scheduler.stream(exchange.job, exchange.timer)
        try:
            first = await anext(updates)
        except BaseException as exc:
            exchange.release()
            if not isinstance(exc, Exception):  # cancelled: the caller went away
                raise
            response = self.service.fail(exchange, exc)  # the request's own failure, mapped at the one boundary
            exchange.finish()
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
            exchange.finish()
