"""The async-mode scheduler with a stand-in transcriber (tests/scheduling.py): batching, waiting, order, failures,
streaming and shutdown."""

from __future__ import annotations

import asyncio
import time

import pytest
import torch

from serving.batching.scheduler import Scheduler, SchedulerOptions
from serving.errors import ShuttingDown, error_response
from serving.results import Segment, Transcription
from tests.scheduling import FakeRunner, job, text_of, wait_until

FOREVER_MS = 3_600_000.0


@pytest.fixture
def runner():
    return FakeRunner(capacity=4)


def scheduler_on(runner: FakeRunner, wait_ms: float = 0.0, clock=time.monotonic) -> Scheduler:
    return Scheduler(runner, SchedulerOptions(max_batch_wait_ms=wait_ms), clock=clock)


def results(futures) -> list[str]:
    return [future.result(timeout=20).text for future in futures]


def test_windows_of_concurrent_requests_share_batches_of_at_most_capacity(runner):
    scheduler = scheduler_on(runner, wait_ms=50)
    runner.hold()
    first = scheduler.submit(job(1))
    assert runner.held.wait(20)  # the model thread is busy with the first request
    rest = [scheduler.submit(job(1)) for _ in range(9)]
    wait_until(lambda: scheduler.waiting == 9)
    runner.release()
    assert results([first, *rest]) == ["w0"] * 10
    assert runner.windows() == [1, 4, 4, 1]
    scheduler.close()


def test_a_batch_under_capacity_waits_until_its_oldest_window_has_waited_long_enough(runner):
    now = [100.0]
    scheduler = scheduler_on(runner, wait_ms=1000, clock=lambda: now[0])
    a = scheduler.submit(job(1))
    wait_until(lambda: scheduler.waiting == 1)
    now[0] += 0.5  # half the wait: another request joins, the batch is not due yet
    b = scheduler.submit(job(1))
    wait_until(lambda: scheduler.waiting == 2)
    time.sleep(0.1)
    assert runner.batches == []
    now[0] += 0.6  # the oldest window is overdue: the next wake-up (a third request) launches all three
    c = scheduler.submit(job(1))
    assert results([a, b, c]) == ["w0"] * 3
    assert runner.windows() == [3]
    scheduler.close()


def test_a_full_batch_does_not_wait(runner):
    scheduler = scheduler_on(FakeRunner(capacity=2), wait_ms=FOREVER_MS)
    a = scheduler.submit(job(1))
    wait_until(lambda: scheduler.waiting == 1)
    time.sleep(0.1)
    assert not a.done()  # alone, it waits for company
    b = scheduler.submit(job(1))
    assert results([a, b]) == ["w0", "w0"]
    scheduler.close()


def test_the_oldest_request_goes_first_so_that_none_starves(runner):
    scheduler = scheduler_on(FakeRunner(capacity=2))
    runner = scheduler._runner
    runner.hold()
    busy = scheduler.submit(job(1))
    assert runner.held.wait(20)
    chunked = scheduler.submit(job(3))  # three windows offered at once
    wait_until(lambda: scheduler.waiting == 3)
    shorts = [scheduler.submit(job(5, long_form="sequential")), scheduler.submit(job(4, long_form="sequential"))]
    wait_until(lambda: scheduler.waiting == 5)
    runner.release()
    assert results([busy, chunked]) == [text_of(1), text_of(3)]
    # the chunked request's later windows are not overtaken by the first windows of requests that came after it;
    # the 5 s request's second window goes before the younger 4 s request's first
    assert runner.batches[1:4] == [[(3, 0), (3, 1)], [(3, 2), (5, 0)], [(5, 1), (4, 0)]]
    assert results(shorts) == [text_of(5), text_of(4)]
    scheduler.close()


def test_a_long_sequential_request_does_not_hold_short_ones_back(runner):
    scheduler = scheduler_on(runner)
    runner.hold()
    long = scheduler.submit(job(4, long_form="sequential"))
    assert runner.held.wait(20)  # its first window is in the model
    shorts = [scheduler.submit(job(1)) for _ in range(2)]
    wait_until(lambda: scheduler.waiting == 2)
    runner.release()
    assert results(shorts) == ["w0", "w0"]
    assert results([long]) == [text_of(4)]
    # its next window joined the queue as soon as the previous one was accepted, beside the new requests
    assert runner.batches[:2] == [[(4, 0)], [(4, 1), (1, 0), (1, 0)]]
    assert runner.batches[2:] == [[(4, 2)], [(4, 3)]]
    scheduler.close()


def test_a_failed_batch_costs_only_the_request_that_caused_it(runner):
    scheduler = scheduler_on(FakeRunner(capacity=6), wait_ms=FOREVER_MS)  # one batch: all six windows
    runner = scheduler._runner
    futures = [scheduler.submit(job(seconds)) for seconds in (1, 2, 3)]
    assert isinstance(futures[1].exception(timeout=20), RuntimeError)
    assert results([futures[0], futures[2]]) == [text_of(1), text_of(3)]
    # the batch failed and changed nothing: each request's windows of it ran again on their own
    assert sorted(runner.batches[1:]) == [[(1, 0)], [(2, 0), (2, 1)], [(3, 0), (3, 1), (3, 2)]]
    assert error_response(futures[1].exception()).status == 500
    after = [scheduler.submit(job(1)) for _ in range(6)]  # the model thread lives on
    assert results(after) == ["w0"] * 6
    scheduler.close()


def test_out_of_memory_is_507_for_its_own_request_only():
    runner = FakeRunner(capacity=3, error=torch.OutOfMemoryError("CUDA out of memory"))
    scheduler = scheduler_on(runner, wait_ms=FOREVER_MS)
    failing, fine = scheduler.submit(job(2)), scheduler.submit(job(1))
    assert error_response(failing.exception(timeout=20)).status == 507
    assert results([fine]) == ["w0"]
    scheduler.close()


def test_a_request_failing_alone_is_not_retried(runner):
    scheduler = scheduler_on(runner)
    failing = scheduler.submit(job(2))
    assert isinstance(failing.exception(timeout=20), RuntimeError)
    assert runner.batches == [[(2, 0), (2, 1)]]
    scheduler.close()


def test_a_failure_while_planning_answers_that_request(runner):
    def broken_open(job_):
        raise ValueError("no speech map")

    scheduler = scheduler_on(runner)
    runner.open = broken_open
    assert isinstance(scheduler.submit(job(1)).exception(timeout=20), ValueError)
    scheduler.close()


def test_stream_yields_each_final_segment_in_order_then_the_result(runner):
    scheduler = scheduler_on(runner)

    async def collect(seconds: int, **params: str):
        return [update async for update in scheduler.stream(job(seconds, **params))]

    async def both():
        return await asyncio.gather(collect(3, long_form="sequential"), collect(6))

    sequential, chunked = asyncio.run(both())
    for updates, seconds in ((sequential, 3), (chunked, 6)):
        *segments, result = updates
        assert all(isinstance(s, Segment) for s in segments) and isinstance(result, Transcription)
        assert [s.text for s in segments] == [s.text for s in result.segments] == [f" w{i}" for i in range(seconds)]
    scheduler.close()


def test_a_stream_closed_early_drops_its_request(runner):
    scheduler = scheduler_on(FakeRunner(capacity=1))
    runner = scheduler._runner
    runner.hold_from = 2  # the second window waits until the stream is closed: no race with a fast runner

    async def first_only():
        updates = scheduler.stream(job(50, long_form="sequential"))
        first = await anext(updates)
        await updates.aclose()
        runner.release()
        return first

    assert asyncio.run(first_only()).text == " w0"
    wait_until(lambda: scheduler.in_flight == 0)
    assert len(runner.batches) < 50
    scheduler.close()


def test_close_answers_every_request_in_flight_then_refuses_new_ones(runner):
    scheduler = scheduler_on(runner, wait_ms=FOREVER_MS)
    futures = [scheduler.submit(job(seconds, long_form="sequential")) for seconds in (3, 1, 4)]
    scheduler.close()  # nothing was due: closing launches what waits and drains it
    assert results(futures) == [text_of(3), text_of(1), text_of(4)]
    with pytest.raises(ShuttingDown):
        scheduler.submit(job(1))
    assert not scheduler._worker.is_alive()
