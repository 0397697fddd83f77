"""A stand-in runner for the scheduler (no model): requests whose windows are counted in seconds.

A job of N seconds has N windows (chunked: all offered at once; ``long_form=sequential``: one after the other);
window i becomes the segment `` w<i>``. A batch holding window ``failing_window`` (0) of a 2-second job fails with
the runner's error, whatever else is in it. ``hold()`` makes the next batch wait at a gate until ``release()``. Like
the real runner, ``run`` changes no session: it returns outcomes, which the scheduler hands to the sessions.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from serving.api.params import parse_params
from serving.batching.runner import BatchResult, StepResult
from serving.batching.sessions import Job
from serving.constants import SAMPLE_RATE
from serving.engine.decoded import DecodedWindow
from serving.identity import RequestId
from serving.longform.plans import RequestOptions, WindowOutcome, WindowTask
from serving.results import Segment, Transcription

FAILING_SECONDS = 2
OPTIONS = RequestOptions(language=None, task="transcribe", prompt=(), temperature=0.0, timestamps=True,
                         words=False, long_form="chunked")
WAIT_SECONDS = 20  # the most a test waits for the scheduler's threads


def job(seconds: int, **params: str) -> Job:
    return Job(RequestId.new(), np.zeros(seconds * SAMPLE_RATE, dtype=np.float32), parse_params(params))


def seconds_of(job_: Job) -> int:
    return job_.waveform.size // SAMPLE_RATE


def text_of(seconds: int) -> str:
    return "".join(f" w{i}" for i in range(seconds)).strip()


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the scheduler did not get there")
        time.sleep(0.005)


@dataclass(eq=False)
class FakeSession:
    job: Job
    windows: int
    sequential: bool
    issued: int = 0
    accepted: list[int] = field(default_factory=list)
    beams: int = 1
    samples: int = 1  # rows each window takes in the running batch (best_of)

    @property
    def done(self) -> bool:
        return len(self.accepted) == self.windows

    def pending(self) -> list[WindowTask]:
        waiting = self.issued > len(self.accepted)
        if self.sequential and (waiting or self.issued == self.windows):
            return []
        end = self.issued + 1 if self.sequential else self.windows
        tasks = [_task(self.job.request, window, self.beams, self.samples) for window in range(self.issued, end)]
        self.issued = end
        return tasks

    def accept(self, task: WindowTask, outcome: WindowOutcome) -> None:
        self.accepted.append(task.key)

    def result(self) -> Transcription:
        return _transcription(self.job, range(self.windows))

    def final_segments(self) -> list[Segment]:
        done = sorted(self.accepted)
        prefix = next((i for i, window in enumerate(done) if window != i), len(done))
        return list(_transcription(self.job, range(prefix)).segments)


class FakeRunner:
    def __init__(self, capacity: int = 4, error: Exception | None = None, failing_window: int = 0) -> None:
        self.capacity = capacity
        self.error = error or RuntimeError("index out of range")
        self.failing_window = failing_window
        self.batches: list[list[tuple[int, int]]] = []  # (seconds of the request, window) per batch
        self.opened = 0
        self._gate = threading.Event()
        self._gate.set()
        self.held = threading.Event()  # a batch waits at the gate
        self.hold_from: int | None = None  # the batch (1-based) from which on batches wait at the gate

    def hold(self) -> None:
        self._gate.clear()
        self.held.clear()

    def release(self) -> None:
        self._gate.set()

    # ---- the runner's steps -----------------------------------------------------------------------------------

    def open(self, job_: Job) -> FakeSession:
        self.opened += 1
        return FakeSession(job_, seconds_of(job_), job_.params.long_form == "sequential")

    def run(self, batch: list[WindowTask], sessions) -> BatchResult:
        self.batches.append([(seconds_of(sessions[t.request].job), t.key) for t in batch])
        if self.hold_from is not None and len(self.batches) >= self.hold_from:
            self.hold()
            self.hold_from = None
        if not self._gate.is_set():
            self.held.set()
            assert self._gate.wait(WAIT_SECONDS)
        if any(seconds_of(sessions[t.request].job) == FAILING_SECONDS and t.key == self.failing_window for t in batch):
            raise self.error
        outcome = WindowOutcome(DecodedWindow((), -0.1, 0.0, 0.0, True), (), "en")
        return BatchResult(tuple(outcome for _ in batch), {"encode": 10.0 * len(batch)})

    def windows(self) -> list[int]:
        return [len(batch) for batch in self.batches]


def _task(request: RequestId, window: int, beams: int = 1, samples: int = 1) -> WindowTask:
    options = replace(OPTIONS, beam_size=beams, best_of=samples)
    return WindowTask(request=request, options=options, key=window, start=window * SAMPLE_RATE, length=SAMPLE_RATE, prompt=(),
                      timestamps=True, words=False, first=window == 0)


def _transcription(job_: Job, windows: range) -> Transcription:
    segments = tuple(Segment(float(i), i + 1.0, f" w{i}", (), -0.1, 0.0, 1.0, 0.0) for i in windows)
    return Transcription("en", seconds_of(job_), segments)


STEPS_PER_SECOND = 8  # the step stand-in: a window of an N-second job decodes in N x this many steps


class FakeStepRunner(FakeRunner):
    """:class:`FakeRunner` with a running batch: a window of an N-second job ends ``N * STEPS_PER_SECOND`` steps after
    it joins; steps over a window of the 2-second job (window ``failing_window``) raise, and so does joining it when
    ``fail_join`` is set. Jobs with ``beam_size`` > 1 need a whole batch; a window of a job with ``best_of`` N takes N
rows. Records what joined and what left."""

    def __init__(self, capacity: int = 4, error: Exception | None = None, failing_window: int = 0,
                 fail_join: bool = False) -> None:
        super().__init__(capacity, error, failing_window)
        self.fail_join = fail_join
        self.joins: list[list[tuple[int, int]]] = []  # (seconds, window) per join
        self.joined_at: list[int] = []  # the steps taken before each join
        self.left: list[tuple[int, int]] = []
        self.steps = 0
        self._rows: dict[tuple[RequestId, int], tuple[WindowTask, int, int]] = {}  # -> (task, seconds, steps left)

    def open(self, job_: Job) -> FakeSession:
        session = super().open(job_)
        session.beams = job_.params.beam_size or 1
        session.samples = job_.params.best_of or 1
        return session

    @property
    def free_rows(self) -> int:
        return self.capacity - sum(self.rows_of(task) for task, _, _ in self._rows.values())

    @property
    def busy(self) -> bool:
        return bool(self._rows)

    def running_requests(self) -> set[RequestId]:
        return {task.request for task, _, _ in self._rows.values()}

    def joinable(self, task: WindowTask) -> bool:
        return task.options.beam_size == 1

    def rows_of(self, task: WindowTask) -> int:
        return task.options.best_of

    def join(self, batch: list[WindowTask], sessions) -> dict[str, float]:
        seconds = [seconds_of(sessions[t.request].job) for t in batch]
        if self.fail_join and FAILING_SECONDS in seconds:
            raise self.error
        assert sum(map(self.rows_of, batch)) <= self.free_rows and all(self.joinable(t) for t in batch)
        self.joins.append([(s, t.key) for s, t in zip(seconds, batch)])
        self.joined_at.append(self.steps)
        for task, s in zip(batch, seconds):
            self._rows[(task.request, task.key)] = (task, s, s * STEPS_PER_SECOND)
        return {"encode": 10.0 * len(batch)}

    def advance(self, steps: int) -> StepResult:
        if not self._gate.is_set():
            self.held.set()
            assert self._gate.wait(WAIT_SECONDS)
        if any(s == FAILING_SECONDS and t.key == self.failing_window for t, s, _ in self._rows.values()):
            raise self.error
        running = tuple(task for task, _, _ in self._rows.values())
        taken = min(steps, min(left for _, _, left in self._rows.values()))
        self.steps += taken
        ended = []
        for key, (task, s, left) in list(self._rows.items()):
            if left - taken <= 0:
                ended.append(task)
                del self._rows[key]
            else:
                self._rows[key] = (task, s, left - taken)
        outcome = WindowOutcome(DecodedWindow((), -0.1, 0.0, 0.0, True), (), "en")
        return StepResult(tuple(ended), tuple(outcome for _ in ended), {"generate": 1.0 * taken}, (), running)

    def leave(self, requests: set[RequestId] | None = None) -> list[WindowTask]:
        gone = [key for key, (task, _, _) in self._rows.items() if requests is None or task.request in requests]
        tasks = []
        for key in gone:
            task, s, _ = self._rows.pop(key)
            self.left.append((s, task.key))
            tasks.append(task)
        return tasks
