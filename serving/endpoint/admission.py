"""Admission: a bound on the decoded audio held in memory across the requests in flight
(``option.max_audio_seconds_in_flight``).

Each request reserves its audio's seconds before it is decoded (:func:`serving.audio.probe.expected_seconds`: a WAV's
exact length, a container's declared one, the per-request limit where a file declares none), corrects the reservation
to what it decoded, and returns it once it is answered. A request that does not fit:

* in async mode waits, first come first served (a long request is not overtaken forever by short ones), at most
  ``option.admission_wait_seconds``, then gets a 503;
* in sync mode (a DJL batch is answered all at once: nothing frees while it waits) gets a 503 at once.

The 503 carries ``Retry-After`` (:class:`~serving.errors.Overloaded`). Why 503 and not 429: the server as a whole is
out of room, whoever sends; 429 says that this client sent too many requests (RFC 9110 15.6.4 and RFC 6585 4), and
the shutting-down answer is a 503 already. On SageMaker neither reaches a boto3 client as such: InvokeEndpoint wraps
any container error in ``ModelError`` (HTTP 424, ``OriginalStatusCode`` 503), which botocore's retry modes do not
retry (they retry 500/502/503/504 and 429 from the service itself); the client sees ``OriginalStatusCode`` and
retries on its own.

A request that needs more than the whole bound (possible only if the bound is below ``option.max_audio_seconds``,
which the settings refuse) is admitted when nothing else is in flight.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from dataclasses import dataclass, field

from serving.errors import Overloaded

logger = logging.getLogger(__name__)

UNDERSTATED_SECONDS = 1.0  # a file that decodes to this much more than it declared is logged (codec padding is less)


@dataclass(frozen=True)
class AdmissionOptions:
    max_seconds: float  # audio seconds in flight, all requests together
    wait_seconds: float  # async mode: the most a request waits for room (0: refused at once)
    retry_after_seconds: int  # what a refused request is told


@dataclass(eq=False)
class _Waiter:
    seconds: float
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future
    granted: bool = False  # set under the budget's lock: the room is this waiter's


class AudioBudget:
    """Audio seconds reserved by the requests in flight, against :attr:`AdmissionOptions.max_seconds`. Thread-safe;
    :meth:`reserve` is awaited on an event loop, the rest may be called from any thread."""

    def __init__(self, options: AdmissionOptions) -> None:
        self.options = options
        self._lock = threading.Lock()
        self._used = 0.0
        self._waiters: deque[_Waiter] = deque()

    @property
    def used(self) -> float:
        with self._lock:
            return self._used

    @property
    def waiting(self) -> int:
        with self._lock:
            return len(self._waiters)

    def try_reserve(self, seconds: float) -> Reservation:
        """Room for ``seconds`` now, or :class:`Overloaded`."""
        with self._lock:
            if self._waiters or not self._fits(seconds):
                raise self._overloaded(seconds)
            self._used += seconds
        return Reservation(self, seconds)

    async def reserve(self, seconds: float) -> Reservation:
        """Room for ``seconds``, waiting behind earlier requests for at most the options' ``wait_seconds``."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if not self._waiters and self._fits(seconds):
                self._used += seconds
                return Reservation(self, seconds)
            if self.options.wait_seconds <= 0:
                raise self._overloaded(seconds)
            waiter = _Waiter(seconds, loop, loop.create_future())
            self._waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter.future, self.options.wait_seconds)
        except (TimeoutError, asyncio.CancelledError) as exc:
            with self._lock:
                if not waiter.granted:  # granted meanwhile: the room is ours after all
                    self._waiters.remove(waiter)
                    self._grant()  # a large request leaving the head of the line lets smaller ones in
                    if isinstance(exc, TimeoutError):
                        raise self._overloaded(seconds) from None
                    raise
            if isinstance(exc, asyncio.CancelledError):
                self._release(seconds)
                raise
        return Reservation(self, seconds)

    def _fits(self, seconds: float) -> bool:
        """Caller holds the lock."""
        return self._used + seconds <= self.options.max_seconds or self._used == 0

    def _grant(self) -> None:
        """Caller holds the lock: the waiters at the head of the line that fit now get their room."""
        while self._waiters and self._fits(self._waiters[0].seconds):
            waiter = self._waiters.popleft()
            try:
                waiter.loop.call_soon_threadsafe(_wake, waiter.future)
            except RuntimeError:  # its event loop is closed: nobody waits there any more
                continue
            waiter.granted = True
            self._used += waiter.seconds

    def _resize(self, before: float, after: float) -> None:
        with self._lock:
            self._used += after - before
            self._grant()

    def _release(self, seconds: float) -> None:
        self._resize(seconds, 0.0)

    def _overloaded(self, seconds: float) -> Overloaded:
        return Overloaded(
            f"the server holds {self._used:.0f} s of audio in flight (the limit is {self.options.max_seconds:g} s, "
            f"option.max_audio_seconds_in_flight) and this request needs {seconds:.0f} s more; retry later",
            retry_after_seconds=self.options.retry_after_seconds,
        )


@dataclass(eq=False)
class Reservation:
    """One request's room in the budget: corrected once its audio is decoded, returned once it is answered."""

    budget: AudioBudget
    seconds: float
    released: bool = field(default=False)

    def resize(self, seconds: float) -> None:
        """The decoded length: less frees room at once; more (a file that declared less than it held, within the
        per-request limit) is counted as it is."""
        if self.released or seconds == self.seconds:
            return
        if seconds > self.seconds + UNDERSTATED_SECONDS:
            logger.info("a request decoded to %.1f s of audio after reserving %.1f s", seconds, self.seconds)
        self.budget._resize(self.seconds, seconds)
        self.seconds = seconds

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.budget._release(self.seconds)


def _wake(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(None)
