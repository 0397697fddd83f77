"""Async mode's continuous batcher: the 30 s windows of many concurrent requests share the model's batches.

Requests arrive one at a time (:meth:`Scheduler.transcribe` / :meth:`Scheduler.stream`, awaited on the event loop,
or :meth:`Scheduler.submit` from any thread). A small pool of opener threads finds each request's speech and plans
its windows (VAD is CPU work: it overlaps the model's batches); one model thread owns the accelerator:

1. windows wait in one queue, the oldest request's first (then each request's windows in order): a request's first
   window goes before every later request's windows, and no window waits behind requests that came after it. (Taking
   every request's first window before all other windows starved long requests under sustained load: in the load
   test, 56 of 200 requests timed out after 600 s while new first windows kept jumping the queue.);
2. a batch of at most ``capacity`` windows is launched as soon as ``capacity`` windows wait, or once the oldest has
   waited ``max_batch_wait_ms``;
3. each outcome goes to its request's plan; a sequential plan's next window joins the queue at once (a long request
   does not hold short ones back); a finished request's future resolves, and a streaming request hears of each
   segment as soon as no window still to come can change it.

A batch that fails costs only the requests whose windows were in it: when it held several, each of them is
transcribed again alone, from the start, as the sync service does, and keeps its own outcome. Every error reaches
its own request's future (:mod:`serving.errors` maps it to a status; out of memory is 507); no future is left
unresolved, and the model thread survives every failure. :meth:`Scheduler.close` takes no new request, answers
every one in flight, then stops the threads.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, InvalidStateError, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from serving.batching.runner import Job, Session
from serving.errors import ShuttingDown
from serving.longform.plans import WindowTask
from serving.results import Segment, Transcription
from serving.timing import StageTimer

logger = logging.getLogger(__name__)

TRANSCRIBE_STAGE = "transcribe"  # the request log's stage: planning, its share of each batch, the result
OPENER_THREADS = 2

SegmentListener = Callable[[list[Segment]], None]


class WindowRunner(Protocol):
    """What the scheduler needs of a :class:`~serving.batching.runner.Transcriber`."""

    capacity: int

    def open(self, key: int, job: Job) -> Session: ...

    def pending(self, sessions: Iterable[Session]) -> list[WindowTask]: ...

    def run_batch(self, batch: list[WindowTask], sessions: Mapping[int, Session], timer: StageTimer) -> None: ...

    def result(self, session: Session) -> Transcription: ...

    def final_segments(self, session: Session) -> list[Segment]: ...

    def transcribe(self, jobs: Sequence[Job]) -> list[Transcription]: ...


class StalledPlan(RuntimeError):
    """A plan offered no window although it is not done (a bug): its request fails instead of waiting forever."""


@dataclass(frozen=True)
class SchedulerOptions:
    max_batch_wait_ms: float = 10.0
    opener_threads: int = OPENER_THREADS


@dataclass(eq=False)
class _Request:
    key: int
    job: Job
    future: Future
    timer: StageTimer
    listener: SegmentListener | None
    arrived: float  # the scheduler's clock when it was submitted: older requests' windows go first
    session: Session | None = None
    sent: int = 0  # segments already handed to the listener


@dataclass(frozen=True)
class _Waiting:
    task: WindowTask
    since: float  # when it joined the queue (the scheduler's clock)
    arrived: float  # when its request was submitted
    order: int  # ties: the order windows joined


class Scheduler:
    def __init__(self, runner: WindowRunner, options: SchedulerOptions = SchedulerOptions(),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._runner = runner
        self._capacity = runner.capacity
        self._max_wait = options.max_batch_wait_ms / 1000
        self._clock = clock
        self._changed = threading.Condition()
        self._queue: list[_Waiting] = []
        self._active: dict[int, _Request] = {}  # opened and not answered yet
        self._opening = 0
        self._closing = False
        self._keys = itertools.count()
        self._order = itertools.count()
        self._openers = ThreadPoolExecutor(options.opener_threads, thread_name_prefix="scheduler-open")
        self._worker = threading.Thread(target=self._run, name="scheduler-model", daemon=True)
        self._worker.start()

    # ---- requests ---------------------------------------------------------------------------------------------

    async def transcribe(self, job: Job, timer: StageTimer | None = None) -> Transcription:
        """The request's transcription; its own error is raised here. Cancelling drops the request."""
        return await asyncio.wrap_future(self.submit(job, timer))

    async def stream(self, job: Job, timer: StageTimer | None = None) -> AsyncIterator[Segment | Transcription]:
        """Each segment as soon as it is final, in order, then the whole transcription (or the request's error).
        Closing the iterator early drops the request."""
        loop = asyncio.get_running_loop()
        updates: asyncio.Queue[list[Segment] | None] = asyncio.Queue()

        def deliver(item: list[Segment] | None) -> None:
            loop.call_soon_threadsafe(updates.put_nowait, item)

        future = self.submit(job, timer, deliver)
        future.add_done_callback(lambda _: deliver(None))
        try:
            while (segments := await updates.get()) is not None:
                for segment in segments:
                    yield segment
            yield future.result()
        finally:
            future.cancel()  # no-op once answered; otherwise the consumer went away

    def submit(self, job: Job, timer: StageTimer | None = None,
               listener: SegmentListener | None = None) -> Future:
        """Thread-safe: a future of the request's :class:`Transcription`. ``listener`` gets lists of new final
        segments, in order, from the model thread (it must not block)."""
        with self._changed:
            if self._closing:
                raise ShuttingDown("the server is shutting down; send the request again")
            request = _Request(next(self._keys), job, Future(), timer or StageTimer(), listener, self._clock())
            self._opening += 1
        self._openers.submit(self._open, request)
        return request.future

    @property
    def waiting(self) -> int:
        """Windows in the queue."""
        with self._changed:
            return len(self._queue)

    @property
    def in_flight(self) -> int:
        """Requests being opened or with windows in the scheduler (not those being retried alone)."""
        with self._changed:
            return self._opening + len(self._active)

    def close(self) -> None:
        """Take no new request, answer every one in flight, then stop the threads."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._worker.join()
        self._openers.shutdown(wait=True)

    # ---- opener threads ---------------------------------------------------------------------------------------

    def _open(self, request: _Request) -> None:
        tasks: list[WindowTask] = []
        try:
            tasks = self._first_windows(request)
        except Exception as exc:  # noqa: BLE001 - the request's own failure: its future carries it
            _settle(request.future, error=exc)
        finally:
            with self._changed:
                if tasks:
                    self._active[request.key] = request
                    self._enqueue(tasks, request.arrived)
                self._opening -= 1
                self._changed.notify_all()

    def _first_windows(self, request: _Request) -> list[WindowTask]:
        """Find the speech, plan the windows and take the first ones; a request without any is answered here."""
        if request.future.cancelled():
            return []
        started = time.perf_counter()
        request.session = self._runner.open(request.key, request.job)
        tasks = self._runner.pending([request.session])
        _add_time(request, time.perf_counter() - started)
        if not tasks:
            self._conclude(request)
        return tasks

    # ---- the model thread -------------------------------------------------------------------------------------

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            try:
                self._execute(batch)
            except Exception as exc:  # noqa: BLE001 - a scheduler bug: answer the batch's requests, keep serving
                logger.exception("scheduler: handling a batch failed")
                keys = {waiting.task.plan for waiting in batch}
                for request in self._forget(keys):
                    _settle(request.future, error=exc)
        logger.info("scheduler stopped: every request was answered")

    def _next_batch(self) -> list[WindowTask] | None:
        """Block until a batch is due (None once closing and nothing is left)."""
        with self._changed:
            while True:
                self._drop_cancelled()
                if self._queue:
                    left = self._wait_left()
                    if len(self._queue) >= self._capacity or left <= 0 or self._closing:
                        return self._take()
                    self._changed.wait(left)
                elif self._closing and not self._opening and not self._active:
                    return None
                else:
                    self._changed.wait()

    def _wait_left(self) -> float:
        oldest = min(waiting.since for waiting in self._queue)
        return oldest + self._max_wait - self._clock()

    def _take(self) -> list[WindowTask]:
        self._queue.sort(key=lambda w: (w.arrived, w.order))
        batch, self._queue = self._queue[: self._capacity], self._queue[self._capacity :]
        return [waiting.task for waiting in batch]

    def _execute(self, batch: list[WindowTask]) -> None:
        with self._changed:
            requests = {key: self._active[key] for key in dict.fromkeys(task.plan for task in batch)}
        started = time.perf_counter()
        try:
            self._runner.run_batch(batch, {key: r.session for key, r in requests.items()}, StageTimer())
        except Exception as exc:  # noqa: BLE001 - isolated below: only these requests are affected
            _share_time(batch, requests, time.perf_counter() - started)
            self._recover(requests, exc)
            return
        seconds = time.perf_counter() - started
        _share_time(batch, requests, seconds)
        logger.debug("batch of %d window(s) from %d request(s) in %.3f s; %d waiting", len(batch), len(requests),
                     seconds, len(self._queue))
        for request in requests.values():
            self._advance(request)

    def _advance(self, request: _Request) -> None:
        """After a batch: the request's next windows join the queue, its new final segments go to its listener, and
        a finished request is answered."""
        if request.future.cancelled():
            self._forget([request.key])
            return
        try:
            tasks = self._runner.pending([request.session])
            if not tasks and not self._has_waiting(request.key):
                self._forget([request.key])
                self._conclude(request)
                return
            if request.listener is not None:
                self._publish(request, self._runner.final_segments(request.session))
        except Exception as exc:  # noqa: BLE001 - the request's own failure: its future carries it
            self._forget([request.key])
            _settle(request.future, error=exc)
            return
        with self._changed:
            self._enqueue(tasks, request.arrived)

    def _conclude(self, request: _Request) -> None:
        """Answer a request that has no window waiting: its transcription when its plan is done."""
        if not request.session.done:
            raise StalledPlan(f"request {request.key}: its plan offers no window but is not done")
        started = time.perf_counter()
        result = self._runner.result(request.session)
        _add_time(request, time.perf_counter() - started)
        self._publish(request, list(result.segments))
        _settle(request.future, result=result)

    def _recover(self, requests: Mapping[int, _Request], exc: Exception) -> None:
        """A failed batch: its requests' plans are in an unknown state. One request alone gets the error; several
        are each transcribed again alone, so that only the one that causes the failure gets it."""
        self._forget(requests)
        if len(requests) == 1:
            (request,) = requests.values()
            _settle(request.future, error=exc)
            return
        logger.warning("a batch of %d request(s) failed (%s); transcribing each alone", len(requests), exc)
        for request in requests.values():
            self._alone(request)

    def _alone(self, request: _Request) -> None:
        if request.future.cancelled():
            return
        started = time.perf_counter()
        try:
            (result,) = self._runner.transcribe([request.job])
        except Exception as exc:  # noqa: BLE001 - the request's own failure: its future carries it
            _settle(request.future, error=exc)
            return
        finally:
            _add_time(request, time.perf_counter() - started)
        self._publish(request, list(result.segments))
        _settle(request.future, result=result)

    # ---- shared state (callers hold no lock unless noted) -----------------------------------------------------

    def _enqueue(self, tasks: Iterable[WindowTask], arrived: float) -> None:
        """Caller holds the lock."""
        now = self._clock()
        self._queue.extend(_Waiting(task, now, arrived, next(self._order)) for task in tasks)

    def _has_waiting(self, key: int) -> bool:
        with self._changed:
            return any(waiting.task.plan == key for waiting in self._queue)

    def _forget(self, keys: Iterable[int]) -> list[_Request]:
        """Remove requests and their waiting windows; returns those that were active."""
        keys = set(keys)
        with self._changed:
            self._queue = [waiting for waiting in self._queue if waiting.task.plan not in keys]
            return [self._active.pop(key) for key in keys if key in self._active]

    def _drop_cancelled(self) -> None:
        """Caller holds the lock: requests whose caller went away leave with their windows."""
        gone = {key for key, request in self._active.items() if request.future.cancelled()}
        if gone:
            self._queue = [waiting for waiting in self._queue if waiting.task.plan not in gone]
            for key in gone:
                del self._active[key]

    @staticmethod
    def _publish(request: _Request, segments: list[Segment]) -> None:
        new = segments[request.sent :]
        if request.listener is None or not new:
            return
        request.sent = len(segments)
        try:
            request.listener(new)
        except Exception:  # noqa: BLE001 - the consumer is gone (its event loop closed): nothing to tell it
            logger.warning("request %d: its segment listener failed", request.key, exc_info=True)


def _settle(future: Future, *, result: Transcription | None = None, error: BaseException | None = None) -> None:
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except InvalidStateError:  # its caller cancelled it meanwhile
        pass


def _add_time(request: _Request, seconds: float) -> None:
    request.timer.add(TRANSCRIBE_STAGE, seconds * 1000)


def _share_time(batch: list[WindowTask], requests: Mapping[int, _Request], seconds: float) -> None:
    """Each request's share of a batch's time, in proportion to its audio in the batch."""
    samples = Counter()
    for task in batch:
        samples[task.plan] += task.length
    total = sum(samples.values()) or 1
    for key, request in requests.items():
        _add_time(request, seconds * samples[key] / total)
