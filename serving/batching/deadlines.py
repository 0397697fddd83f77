"""Requests' time budgets: a thread that calls back at each request's deadline, so a request over its budget is
answered at that moment, even while the batch holding its windows is still on the model.

The scheduler adds each request with its deadline (its arrival plus ``option.request_timeout_seconds``) and is called
back with the request's id once the deadline has passed; it answers the request with :class:`~serving.errors.
RequestTimedOut` (504) and drops its windows, unless the request was answered meanwhile.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections.abc import Callable

from serving.identity import RequestId

logger = logging.getLogger(__name__)


class DeadlineWatch:
    """Calls ``on_expired(request)`` from its own thread once ``clock()`` has reached the request's deadline."""

    def __init__(self, on_expired: Callable[[RequestId], None], clock: Callable[[], float] = time.monotonic) -> None:
        self._on_expired = on_expired
        self._clock = clock
        self._changed = threading.Condition()
        self._heap: list[tuple[float, RequestId]] = []
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="scheduler-deadlines", daemon=True)
        self._thread.start()

    def add(self, request: RequestId, deadline: float) -> None:
        with self._changed:
            heapq.heappush(self._heap, (deadline, request))
            self._changed.notify()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify()
        self._thread.join()

    def _run(self) -> None:
        while (request := self._next_expired()) is not None:
            try:
                self._on_expired(request)
            except Exception:  # noqa: BLE001 - a scheduler bug must not stop the other deadlines
                logger.exception("request %s: answering it at its deadline failed", request)

    def _next_expired(self) -> RequestId | None:
        """Block until a deadline passes (its request) or the watch is closed (None)."""
        with self._changed:
            while not self._closed:
                if self._heap and self._heap[0][0] <= self._clock():
                    return heapq.heappop(self._heap)[1]
                self._changed.wait(self._heap[0][0] - self._clock() if self._heap else None)
            return None
