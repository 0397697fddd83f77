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
from dataclasses import dataclass, field

import numpy as np

from serving.api.params import parse_params
from serving.batching.runner import BatchResult
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

    @property
    def done(self) -> bool:
        return len(self.accepted) == self.windows

    def pending(self) -> list[WindowTask]:
        waiting = self.issued > len(self.accepted)
        if self.sequential and (waiting or self.issued == self.windows):
            return []
        end = self.issued + 1 if self.sequential else self.windows
        tasks = [_task(self.job.request, window) for window in range(self.issued, end)]
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


def _task(request: RequestId, window: int) -> WindowTask:
    return WindowTask(request=request, options=OPTIONS, key=window, start=window * SAMPLE_RATE, length=SAMPLE_RATE, prompt=(),
                      timestamps=True, words=False, first=window == 0)


def _transcription(job_: Job, windows: range) -> Transcription:
    segments = tuple(Segment(float(i), i + 1.0, f" w{i}", (), -0.1, 0.0, 1.0, 0.0) for i in windows)
    return Transcription("en", seconds_of(job_), segments)
