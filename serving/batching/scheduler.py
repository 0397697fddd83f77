"""The scheduler: the one owner of every request's state, for both DJL modes.

Requests arrive one at a time (:meth:`Scheduler.transcribe` / :meth:`Scheduler.stream`, awaited on the event loop)
or as a group (:meth:`Scheduler.submit_all`: a DJL dynamic batch in sync mode, whose windows enter the queue
together). A small pool of opener threads finds each request's speech and plans its windows (VAD is CPU work: it
overlaps the model's batches); one model thread owns the accelerator.

Step-level scheduling (the default, ``SchedulerOptions.step_level`` with a runner that has a running batch): the
decoder's batch is a set of rows. Every ``STEPS_PER_TURN`` decoding steps the model thread takes a turn:

1. windows whose request has gone (answered at its deadline, cancelled, shut down) leave the running batch;
2. ``schedule``: windows wait in one queue, the oldest request's first (then each request's windows in order).
   While rows are decoding, waiting windows join free rows (log-mel, encoder, language detection, prefill) once all
   that wait fit or a quarter of the rows are free, so the encoder runs for a few windows at a time and decoding is
   never starved; an idle model takes a batch as soon as ``capacity`` windows wait or the oldest has waited
   ``max_batch_wait_ms``. A window takes one row, or one per sample (``best_of`` above temperature 0). A window
   with beams decodes as a whole batch: while it is the oldest, no window joins, and it runs once the running batch
   is empty;
3. the runner runs the steps and returns the windows that ended (:class:`~serving.batching.runner.StepResult`);
4. ``update_from_output``: each outcome goes to its request's session; a window that failed the quality tests joins
   the queue again for its next temperature; a sequential plan's next window joins the queue at once; a streaming
   request hears of each segment as soon as no window still to come can change it; a finished request's future
   resolves. Each request's log gets its share of every stage of every turn it was in.

So a short request is answered while long ones decode, and a row that ends early is taken by a waiting window at the
next turn instead of idling until the longest row of its batch ends. With ``step_level`` off (or a runner without a
running batch), batches run whole: a batch of at most ``capacity`` windows runs to its longest window's end.

A batch, a join or steps that raise have changed no session (the runner only reads them): when they held several
requests, each request's windows run again on their own, so only the request that causes the failure gets it. Every
error reaches its own request's future (:mod:`serving.errors` maps it to a status); no future is left unresolved,
and the model thread survives every failure.

Budgets and cancellation: with ``request_timeout_s``, a request not answered that long after it was submitted is
answered at that moment with :class:`~serving.errors.RequestTimedOut` (504, :mod:`serving.batching.deadlines`) and
its windows leave the queue and, at the next turn, the running batch; the others carry on. :meth:`Scheduler.cancel`
(a request whose client has gone) and cancelling a request's future or its awaiting task do the same without an
answer. (A window in a whole batch finishes it: decoding is bounded per window, :mod:`serving.engine.degeneration`;
its outcome is dropped.)
:meth:`Scheduler.close` takes no new request and lets those in flight finish; with a drain time, what is still in
flight when it runs out is answered with :class:`~serving.errors.ShuttingDown` (503), then the threads stop.
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
from dataclasses import dataclass, field
from typing import Protocol

from serving.batching.deadlines import DeadlineWatch
from serving.batching.runner import BatchResult, StepResult
from serving.batching.sessions import Job
from serving.errors import RequestTimedOut, ShuttingDown
from serving.identity import RequestId, safe_label
from serving.longform.plans import WindowOutcome, WindowTask
from serving.results import Segment, Transcription
from serving.timing import StageTimer

logger = logging.getLogger(__name__)

PLAN_STAGE = "plan"  # the request log's stage for VAD and planning (opener threads)
RESULT_STAGE = "segments"  # ... for turning a finished plan into its transcription
OPENER_THREADS = 2
STOP_GRACE_S = 5.0  # after a drain ran out: how long close() waits for the batch on the model before leaving it
STEPS_PER_TURN = 8  # decoding steps of the running batch between two looks at the queue (joins, departures)

SegmentListener = Callable[[list[Segment]], None]
_WHOLE, _JOIN, _STEPS = "whole batch", "join", "steps"  # the model thread's turns in step-level scheduling


class SessionLike(Protocol):
    """What the scheduler needs of a :class:`~serving.batching.sessions.Session`."""

    @property
    def done(self) -> bool: ...

    def pending(self) -> list[WindowTask]: ...

    def accept(self, task: WindowTask, outcome: WindowOutcome) -> None: ...

    def result(self) -> Transcription: ...

    def final_segments(self) -> list[Segment]: ...


class WindowRunner(Protocol):
    """What the scheduler needs of a :class:`~serving.batching.runner.Runner`."""

    capacity: int

    def open(self, job: Job) -> SessionLike: ...

    def run(self, batch: Sequence[WindowTask], sessions: Mapping[RequestId, SessionLike]) -> BatchResult: ...


class StepRunner(WindowRunner, Protocol):
    """What step-level scheduling needs of a :class:`~serving.batching.runner.Runner` besides whole batches."""

    @property
    def free_rows(self) -> int: ...

    @property
    def busy(self) -> bool: ...

    def running_requests(self) -> set[RequestId]: ...

    def joinable(self, task: WindowTask) -> bool: ...

    def rows_of(self, task: WindowTask) -> int: ...

    def join(self, batch: Sequence[WindowTask], sessions: Mapping[RequestId, SessionLike]) -> Mapping[str, float]: ...

    def advance(self, steps: int) -> StepResult: ...

    def leave(self, requests: set[RequestId] | None = None) -> list[WindowTask]: ...


class StalledPlan(RuntimeError):
    """A plan offered no window although it is not done (a bug): its request fails instead of waiting forever."""


@dataclass(frozen=True)
class SchedulerOptions:
    max_batch_wait_ms: float = 10.0
    opener_threads: int = OPENER_THREADS
    request_timeout_s: float | None = None  # each request's budget from submission to answer; None: no budget
    step_level: bool = True  # windows join and leave the decoder's running batch between steps (a step runner)


@dataclass(eq=False)
class _Group:
    """Requests submitted together: their windows join the queue once all of them are planned."""

    left: int
    staged: list[tuple[list[WindowTask], float]] = field(default_factory=list)


@dataclass(eq=False)
class _Request:
    job: Job
    future: Future
    timer: StageTimer
    listener: SegmentListener | None
    arrived: float  # the scheduler's clock when it was submitted: older requests' windows go first
    group: _Group | None = None
    session: SessionLike | None = None
    sent: int = 0  # segments already handed to the listener

    @property
    def key(self) -> RequestId:
        return self.job.request


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
        self._active: dict[RequestId, _Request] = {}  # planned and not answered yet
        self._in_flight: dict[RequestId, _Request] = {}  # submitted and not answered yet (opening or active)
        self._opening = 0
        self._closing = False
        self._order = itertools.count()
        self._openers = ThreadPoolExecutor(options.opener_threads, thread_name_prefix="scheduler-open")
        self._budget = options.request_timeout_s
        self._deadlines = DeadlineWatch(self._expire, clock) if self._budget is not None else None
        self._steps = options.step_level and callable(getattr(runner, "join", None))
        self._join_min = max(1, self._capacity // 4)  # a busy running batch takes new rows this many at a time
        self._worker = threading.Thread(target=self._run_steps if self._steps else self._run, name="scheduler-model",
                                        daemon=True)
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
        (future,) = self._admit([(job, timer or StageTimer(), listener)], group=False)
        return future

    def submit_all(self, jobs: Sequence[Job], timers: Sequence[StageTimer] | None = None) -> list[Future]:
        """Thread-safe: requests that arrived together (a DJL dynamic batch); their windows join the queue
        together, once every one of them is planned."""
        timers = timers if timers is not None else [StageTimer() for _ in jobs]
        return self._admit([(job, timer, None) for job, timer in zip(jobs, timers)], group=True)

    def transcribe_all(self, jobs: Sequence[Job]) -> list[Transcription]:
        """Blocking: every job's transcription, in order (the first failure is raised). For tools and benchmarks."""
        return [future.result() for future in self.submit_all(jobs)]

    @property
    def waiting(self) -> int:
        """Windows in the queue."""
        with self._changed:
            return len(self._queue)

    @property
    def in_flight(self) -> int:
        """Requests being planned or with windows in the scheduler."""
        with self._changed:
            return self._opening + len(self._active)

    def cancel(self, request: RequestId | str) -> int:
        """Thread-safe: drop the requests in flight with this id (or label: the id a client or DJL gave it) whose
        client has gone; their waiting windows leave the queue, their futures are cancelled. The number dropped."""
        label = safe_label(request) if isinstance(request, str) else None
        with self._changed:
            chosen = [r for key, r in self._in_flight.items() if key == request or key.label == label]
            for gone in chosen:
                gone.future.cancel()
                self._drop(gone.key)
            self._changed.notify_all()
        if chosen:
            logger.info("request %s cancelled: its client has gone", request)
        return len(chosen)

    def close(self, drain_s: float | None = None) -> None:
        """Take no new request and let those in flight finish; once ``drain_s`` seconds have passed (None: no limit),
        answer what is left with a 503 and stop the threads."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        self._worker.join(drain_s)
        if self._worker.is_alive():
            self._abandon(drain_s)
            self._worker.join(STOP_GRACE_S)
            if self._worker.is_alive():
                logger.warning("scheduler: the batch on the model did not end within %.0f s; left to finish",
                               STOP_GRACE_S)
        self._openers.shutdown(wait=not self._worker.is_alive(), cancel_futures=True)
        if self._deadlines is not None:
            self._deadlines.close()

    def _abandon(self, drain_s: float) -> None:
        """The drain ran out: every request still in flight gets its 503 now."""
        error = ShuttingDown(f"the server shut down before this request finished (it drains requests for "
                             f"{drain_s:g} s: option.drain_timeout_seconds); send it again")
        with self._changed:
            left = list(self._in_flight.values())
            for request in left:
                _settle(request.future, error=error)
                self._drop(request.key)
            self._changed.notify_all()
        logger.warning("shutdown: %d request(s) still in flight after the %g s drain answered with 503", len(left),
                       drain_s)

    def _expire(self, key: RequestId) -> None:
        """Deadline thread: a request over its budget is answered with a 504 and its windows leave the queue."""
        with self._changed:
            request = self._in_flight.get(key)
            if request is None or request.future.done():
                return
            _settle(request.future, error=RequestTimedOut(
                f"the request was not finished within its time budget of {self._budget:g} s "
                f"(option.request_timeout_seconds); its transcription was stopped"))
            self._drop(key)
            self._changed.notify_all()

    def _admit(self, entries: list[tuple[Job, StageTimer, SegmentListener | None]], group: bool) -> list[Future]:
        with self._changed:
            if self._closing:
                raise ShuttingDown("the server is shutting down; send the request again")
            shared = _Group(len(entries)) if group and entries else None
            now = self._clock()
            requests = [_Request(job, Future(), timer, listener, now, shared) for job, timer, listener in entries]
            self._opening += len(requests)
            for request in requests:
                self._in_flight[request.key] = request
                request.future.add_done_callback(lambda _, key=request.key: self._answered(key))
                if self._deadlines is not None:
                    self._deadlines.add(request.key, now + self._budget)
        for request in requests:
            self._openers.submit(self._open, request)
        return [request.future for request in requests]

    # ---- opener threads ---------------------------------------------------------------------------------------

    def _open(self, request: _Request) -> None:
        tasks: list[WindowTask] = []
        try:
            tasks = self._first_windows(request)
        except Exception as exc:  # noqa: BLE001 - the request's own failure: its future carries it
            _settle(request.future, error=exc)
        finally:
            with self._changed:
                if request.future.done():  # answered meanwhile (over its budget, cancelled, shut down)
                    tasks = []
                if tasks:
                    self._active[request.key] = request
                self._stage(request, tasks)
                self._opening -= 1
                self._changed.notify_all()

    def _first_windows(self, request: _Request) -> list[WindowTask]:
        """Find the speech, plan the windows and take the first ones; a request without any is answered here."""
        if request.future.done():  # cancelled (or answered) before it was opened
            return []
        with request.timer(PLAN_STAGE):
            request.session = self._runner.open(request.job)
            tasks = request.session.pending()
        if not tasks:
            self._conclude(request)
        return tasks

    def _stage(self, request: _Request, tasks: list[WindowTask]) -> None:
        """Caller holds the lock: the request's first windows join the queue (a group's, once all are planned)."""
        group = request.group
        if group is None:
            self._enqueue(tasks, request.arrived)
            return
        group.staged.append((tasks, request.arrived))
        group.left -= 1
        if group.left == 0:
            for staged, arrived in group.staged:
                self._enqueue(staged, arrived)

    # ---- the model thread -------------------------------------------------------------------------------------

    def _run(self) -> None:
        while (batch := self._schedule()) is not None:
            try:
                self._execute(batch)
            except Exception as exc:  # noqa: BLE001 - a scheduler bug: answer the batch's requests, keep serving
                logger.exception("scheduler: handling a batch failed")
                for request in self._forget({task.request for task in batch}):
                    _settle(request.future, error=exc)
        logger.info("scheduler stopped: every request was answered")

    # ---- the model thread: step-level scheduling --------------------------------------------------------------

    def _run_steps(self) -> None:
        """Every ``STEPS_PER_TURN`` decoding steps: windows whose request has gone leave the running batch, waiting
        windows join it (the oldest request's first), and the windows that ended are applied; windows that need a
        whole batch (beams) run once the running batch is empty (it takes no new window while such a window is the
        oldest waiting)."""
        while (turn := self._next_turn()) is not None:
            kind, batch = turn
            try:
                if kind == _WHOLE:
                    self._execute(batch)
                elif kind == _JOIN:
                    self._join(batch)
                if self._runner.busy:
                    self._step()
            except Exception as exc:  # noqa: BLE001 - a scheduler bug: answer the requests concerned, keep serving
                logger.exception("scheduler: a turn of the running batch failed")
                keys = {task.request for task in batch} | {task.request for task in self._runner.leave()}
                for request in self._forget(keys):
                    _settle(request.future, error=exc)
        logger.info("scheduler stopped: every request was answered")

    def _next_turn(self) -> tuple[str, list[WindowTask]] | None:
        """Block until there is work: a whole batch, windows to join (then steps), or steps (None: closed, done)."""
        runner = self._runner
        with self._changed:
            while True:
                self._drop_cancelled()
                self._leave_gone()
                busy = runner.busy
                if self._queue:
                    self._queue.sort(key=lambda w: (w.arrived, w.order))
                    due = len(self._queue) >= self._capacity or self._wait_left() <= 0 or self._closing
                    head = self._joinable_head()
                    if not head and not busy and due:
                        return _WHOLE, self._take()
                    if head and (self._join_due(head) if busy else due):
                        return _JOIN, self._take_joinable(head)
                if busy:
                    return _STEPS, []
                if not self._queue and self._closing and not self._opening and not self._active:
                    return None
                self._changed.wait(max(self._wait_left(), 0.0) if self._queue else None)

    def _joinable_head(self) -> list[_Waiting]:
        """Caller holds the lock, queue in order: the waiting windows before the first that needs a whole batch, at
        most ``capacity`` of them (no turn takes more; a long queue is not walked at every turn)."""
        head = []
        for waiting in self._queue[: self._capacity]:
            if not self._runner.joinable(waiting.task):
                break
            head.append(waiting)
        return head

    def _join_due(self, head: list[_Waiting]) -> bool:
        """A busy running batch takes new windows once the first fits and all that wait fit, or at least a quarter of
        its rows are free (the encoder runs for a few windows at a time, never between every step)."""
        rows, free = [self._runner.rows_of(waiting.task) for waiting in head], self._runner.free_rows
        return rows[0] <= free and free >= min(sum(rows), self._join_min)

    def _take_joinable(self, head: list[_Waiting]) -> list[WindowTask]:
        """The waiting windows, oldest first, whose rows fit the free rows together."""
        count, free = 0, self._runner.free_rows
        for waiting in head:
            free -= self._runner.rows_of(waiting.task)
            if free < 0:
                break
            count += 1
        taken, self._queue = self._queue[:count], self._queue[count:]
        return [waiting.task for waiting in taken]

    def _leave_gone(self) -> None:
        """Caller holds the lock: the windows of requests no longer active (answered at their deadline, cancelled,
        shut down) leave the running batch: their work on the model stops."""
        gone = self._runner.running_requests() - set(self._active)
        if gone:
            left = self._runner.leave(gone)
            logger.info("%d window(s) of %d request(s) no longer waited for left the running batch", len(left),
                        len(gone))

    def _join(self, batch: list[WindowTask]) -> None:
        batch, requests = self._live(batch)
        if not batch:
            return
        try:
            stages = self._runner.join(batch, {key: r.session for key, r in requests.items()})
        except Exception as exc:  # noqa: BLE001 - isolated below: only these requests are affected
            self._isolate_join(batch, requests, exc)
            return
        _share_stages(batch, requests, stages)
        logger.debug("%d window(s) from %d request(s) joined the running batch: %s; %d waiting", len(batch),
                     len(requests), _stages_text(stages), len(self._queue))

    def _isolate_join(self, batch: list[WindowTask], requests: Mapping[RequestId, _Request], exc: Exception) -> None:
        """Joining raised and no window joined: one request gets the error; several join again one by one."""
        if len(requests) == 1:
            self._fail(next(iter(requests.values())), exc)
            return
        logger.warning("%d request(s) failed to join the running batch (%s); joining each alone", len(requests), exc)
        for key, request in requests.items():
            try:
                self._runner.join([task for task in batch if task.request == key], {key: request.session})
            except Exception as own_exc:  # noqa: BLE001 - the request's own failure: its future carries it
                self._fail(request, own_exc)

    def _step(self) -> None:
        try:
            result = self._runner.advance(STEPS_PER_TURN)
        except Exception as exc:  # noqa: BLE001 - isolated below: only the request that causes it is affected
            self._isolate_rows(exc)
            return
        self._apply_steps(result)

    def _apply_steps(self, result: StepResult) -> None:
        """The windows that ended: sessions take them, retries queue, their requests move on or are answered."""
        requests = self._requests_of(result.running)
        _share_stages([task for task in result.running if task.request in requests], requests, result.stages_ms)
        moved = {}
        for task, outcome in zip(result.ended, result.outcomes):
            if task.request in requests:
                moved[task.request] = requests[task.request]
                if outcome is not None:  # else the window is back in result.retries
                    requests[task.request].session.accept(task, outcome)
        with self._changed:
            for retry in result.retries:
                if retry.request in requests:
                    self._enqueue([retry], requests[retry.request].arrived)
        for request in moved.values():
            self._advance(request)

    def _isolate_rows(self, exc: Exception) -> None:
        """Steps raised: every window leaves the running batch; one request gets the error, the windows of several
        decode again each request's alone, so that only the request that causes the failure gets it."""
        tasks = self._runner.leave()
        requests = self._requests_of(tasks)
        if len(requests) == 1:
            self._fail(next(iter(requests.values())), exc)
            return
        logger.warning("steps of %d request(s) failed (%s); decoding each request's windows alone", len(requests), exc)
        for key, request in requests.items():
            try:
                self._runner.join([task for task in tasks if task.request == key], {key: request.session})
                while self._runner.busy:
                    self._apply_steps(self._runner.advance(STEPS_PER_TURN))
            except Exception as own_exc:  # noqa: BLE001 - the request's own failure: its future carries it
                self._runner.leave()
                self._fail(request, own_exc)

    def _live(self, batch: list[WindowTask]) -> tuple[list[WindowTask], dict[RequestId, _Request]]:
        """The windows whose request is still active (one may have left since they were taken), and those requests."""
        requests = self._requests_of(batch)
        return [task for task in batch if task.request in requests], requests

    def _requests_of(self, tasks: Iterable[WindowTask]) -> dict[RequestId, _Request]:
        """The active requests of these windows (one that has left since is not among them)."""
        with self._changed:
            return {key: self._active[key] for key in dict.fromkeys(t.request for t in tasks) if key in self._active}

    # ---- the model thread: whole batches ---------------------------------------------------------------------

    def _schedule(self) -> list[WindowTask] | None:
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
        batch, requests = self._live(batch)
        if not batch:
            return
        try:
            result = self._runner.run(batch, {key: r.session for key, r in requests.items()})
        except Exception as exc:  # noqa: BLE001 - isolated below: only these requests are affected
            self._isolate(batch, requests, exc)
            return
        self._update_from_output(batch, result, requests)

    def _isolate(self, batch: list[WindowTask], requests: Mapping[RequestId, _Request], exc: Exception) -> None:
        """A batch raised and changed nothing. One request gets the error; the windows of several run again, each
        request's on their own, so that only the request that causes the failure gets it."""
        if len(requests) == 1:
            self._fail(next(iter(requests.values())), exc)
            return
        logger.warning("a batch of %d request(s) failed (%s); running each request's windows alone",
                       len(requests), exc)
        for key, request in requests.items():
            own = [task for task in batch if task.request == key]
            try:
                result = self._runner.run(own, {key: request.session})
            except Exception as own_exc:  # noqa: BLE001 - the request's own failure: its future carries it
                self._fail(request, own_exc)
                continue
            self._update_from_output(own, result, {key: request})

    def _update_from_output(self, batch: list[WindowTask], result: BatchResult,
                            requests: Mapping[RequestId, _Request]) -> None:
        """Apply a batch's outcomes: sessions take them, then each request moves on or is answered."""
        _share_stages(batch, requests, result.stages_ms)
        logger.debug("batch of %d window(s) from %d request(s): %s; %d waiting", len(batch), len(requests),
                      _stages_text(result.stages_ms), len(self._queue))
        for task, outcome in zip(batch, result.outcomes):
            if outcome is not None:  # else the window is back in result.retries
                requests[task.request].session.accept(task, outcome)
        with self._changed:
            for retry in result.retries:
                self._enqueue([retry], requests[retry.request].arrived)
        for request in requests.values():
            self._advance(request)

    def _advance(self, request: _Request) -> None:
        """After a batch: the request's next windows join the queue, its new final segments go to its listener, and
        a finished request is answered."""
        if request.future.done():  # cancelled, over its budget or shut down while its windows were on the model
            self._forget([request.key])
            return
        try:
            tasks = request.session.pending()
            if not tasks and not self._has_work(request.key):
                self._forget([request.key])
                self._conclude(request)
                return
            if request.listener is not None:
                self._publish(request, request.session.final_segments())
        except Exception as exc:  # noqa: BLE001 - the request's own failure: its future carries it
            self._fail(request, exc)
            return
        with self._changed:
            self._enqueue(tasks, request.arrived)

    def _conclude(self, request: _Request) -> None:
        """Answer a request that has no window waiting: its transcription when its plan is done."""
        if not request.session.done:
            raise StalledPlan(f"request {request.key}: its plan offers no window but is not done")
        with request.timer(RESULT_STAGE):
            result = request.session.result()
        self._publish(request, list(result.segments))
        _settle(request.future, result=result)

    def _fail(self, request: _Request, exc: BaseException) -> None:
        self._forget([request.key])
        _settle(request.future, error=exc)

    # ---- shared state (callers hold no lock unless noted) -----------------------------------------------------

    def _enqueue(self, tasks: Iterable[WindowTask], arrived: float) -> None:
        """Caller holds the lock."""
        now = self._clock()
        self._queue.extend(_Waiting(task, now, arrived, next(self._order)) for task in tasks)

    def _has_work(self, key: RequestId) -> bool:
        """Model thread: whether the request has windows waiting or in the running batch."""
        with self._changed:
            waiting = any(waiting.task.request == key for waiting in self._queue)
        return waiting or (self._steps and key in self._runner.running_requests())

    def _forget(self, keys: Iterable[RequestId]) -> list[_Request]:
        """Remove requests and their waiting windows; returns those that were active."""
        keys = set(keys)
        with self._changed:
            self._queue = [waiting for waiting in self._queue if waiting.task.request not in keys]
            return [self._active.pop(key) for key in keys if key in self._active]

    def _drop_cancelled(self) -> None:
        """Caller holds the lock: requests whose caller went away (or that were answered early) leave with their
        windows."""
        gone = {key for key, request in self._active.items() if request.future.done()}
        if gone:
            self._queue = [waiting for waiting in self._queue if waiting.task.request not in gone]
            for key in gone:
                del self._active[key]

    def _drop(self, key: RequestId) -> None:
        """Caller holds the lock: the request's waiting windows leave the queue and it is no longer active."""
        self._queue = [waiting for waiting in self._queue if waiting.task.request != key]
        self._active.pop(key, None)

    def _answered(self, key: RequestId) -> None:
        """A request's future is done (answered, failed or cancelled): it is no longer in flight."""
        with self._changed:
            self._in_flight.pop(key, None)

    @staticmethod
    def _publish(request: _Request, segments: list[Segment]) -> None:
        new = segments[request.sent :]
        if request.listener is None or not new:
            return
        request.sent = len(segments)
        try:
            request.listener(new)
        except Exception:  # noqa: BLE001 - the consumer is gone (its event loop closed): nothing to tell it
            logger.warning("request %s: its segment listener failed", request.key, exc_info=True)


def _settle(future: Future, *, result: Transcription | None = None, error: BaseException | None = None) -> None:
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except InvalidStateError:  # its caller cancelled it meanwhile
        pass


def _share_stages(batch: list[WindowTask], requests: Mapping[RequestId, _Request],
                  stages_ms: Mapping[str, float]) -> None:
    """Each request's share of each stage of a batch, in proportion to its audio in the batch."""
    samples = Counter()
    for task in batch:
        samples[task.request] += task.length
    total = sum(samples.values()) or 1
    for key, request in requests.items():
        for stage, ms in stages_ms.items():
            request.timer.add(stage, ms * samples[key] / total)


def _stages_text(stages_ms: Mapping[str, float]) -> str:
    return ", ".join(f"{stage} {ms:.0f} ms" for stage, ms in stages_ms.items())
