"""Step-level scheduling with a stand-in runner (tests/scheduling.py: a window of an N-second job decodes in N x 8
steps): windows join the running batch between steps and leave when they end, so a short request is answered while
a long one decodes; requests that go leave the running batch; a window of several samples joins once its rows are
free; windows that need a whole batch wait until it is empty; a failure reaches only the request that causes it."""

from __future__ import annotations

import time

import pytest

from serving.batching.scheduler import STEPS_PER_TURN, Scheduler, SchedulerOptions
from serving.errors import RequestTimedOut
from tests.scheduling import FAILING_SECONDS, STEPS_PER_SECOND, FakeStepRunner, job, text_of, wait_until


@pytest.fixture
def runner():
    return FakeStepRunner(capacity=4)


def scheduler_on(runner: FakeStepRunner, **options) -> Scheduler:
    return Scheduler(runner, SchedulerOptions(max_batch_wait_ms=0.0, **options))


def test_a_short_request_joins_a_running_long_one_and_is_answered_first(runner):
    scheduler = scheduler_on(runner)
    runner.hold()
    long = scheduler.submit(job(6, long_form="sequential"))  # one window of 48 steps at a time
    assert runner.held.wait(20)  # the long window is in the running batch, its steps held at the gate
    short = scheduler.submit(job(1))
    wait_until(lambda: scheduler.waiting == 1)
    runner.release()
    assert short.result(timeout=20).text == "w0"
    assert long.result(timeout=20).text == text_of(6)
    # the short window joined after one turn, beside the long one's first window (which ends at step 48)
    assert runner.joins[:3] == [[(6, 0)], [(1, 0)], [(6, 1)]]
    assert runner.joined_at[:3] == [0, STEPS_PER_TURN, 6 * STEPS_PER_SECOND]
    assert runner.batches == []  # no whole batch: everything decoded in the running batch
    scheduler.close()


def test_a_row_that_ends_early_is_taken_by_a_waiting_window_at_once(runner):
    scheduler = scheduler_on(runner)
    runner.hold()
    first = scheduler.submit_all([job(1), *[job(3, long_form="sequential") for _ in range(3)]])  # all 4 rows
    assert runner.held.wait(20)
    later = scheduler.submit(job(1))
    wait_until(lambda: scheduler.waiting == 1)
    runner.release()
    assert [f.result(timeout=20).text for f in (*first, later)] == [text_of(1), *[text_of(3)] * 3, text_of(1)]
    assert runner.joins[:2] == [[(1, 0), (3, 0), (3, 0), (3, 0)], [(1, 0)]]
    assert runner.joined_at[:2] == [0, STEPS_PER_SECOND]  # when the 1-second window left, not after 24 steps
    scheduler.close()


def test_a_request_whose_client_goes_leaves_the_running_batch(runner):
    scheduler = scheduler_on(runner)
    runner.hold()
    gone = job(30)
    scheduler.submit(gone)
    assert runner.held.wait(20)
    assert scheduler.cancel(gone.request) == 1
    runner.release()
    wait_until(lambda: not runner.busy)
    assert runner.left == [(30, window) for window in range(4)]
    assert runner.steps == STEPS_PER_TURN  # the turn that was on the model when it went, no more
    stays = scheduler.submit(job(1))
    assert stays.result(timeout=20).text == "w0"
    scheduler.close()


def test_a_request_over_its_budget_is_answered_and_its_windows_stop(runner):
    scheduler = scheduler_on(runner, request_timeout_s=0.3)
    runner.hold()
    slow = scheduler.submit(job(30))
    assert runner.held.wait(20)
    with pytest.raises(RequestTimedOut):
        slow.result(timeout=20)
    runner.release()
    wait_until(lambda: not runner.busy)
    assert runner.left
    scheduler.close()


def test_a_window_that_needs_a_whole_batch_waits_for_the_running_batch_to_empty(runner):
    scheduler = scheduler_on(runner)
    runner.hold()
    greedy = scheduler.submit(job(3))
    assert runner.held.wait(20)
    beams = scheduler.submit(job(1, beam_size="5"))
    later = scheduler.submit(job(1))  # behind the beam window: it waits too (oldest first)
    wait_until(lambda: scheduler.waiting == 2)
    runner.release()
    assert [f.result(timeout=20).text for f in (greedy, beams, later)] == [text_of(3), "w0", "w0"]
    assert runner.joins[0] == [(3, 0), (3, 1), (3, 2)]
    assert runner.batches[0] == [(1, 0), (1, 0)]  # the beam window's whole batch (with the window behind it)
    scheduler.close()


def test_a_window_of_several_samples_joins_once_its_rows_are_free(runner):
    scheduler = scheduler_on(runner)
    runner.hold()
    greedy = scheduler.submit(job(3))  # three windows, one row each, of the four
    assert runner.held.wait(20)
    sampled = scheduler.submit(job(1, best_of="3"))  # one window, three rows: one is free
    wait_until(lambda: scheduler.waiting == 1)
    runner.release()
    assert [f.result(timeout=20).text for f in (greedy, sampled)] == [text_of(3), "w0"]
    assert runner.joins == [[(3, 0), (3, 1), (3, 2)], [(1, 0)]]
    assert runner.joined_at == [0, 3 * STEPS_PER_SECOND]  # it joined when the three rows were free, not before
    assert runner.batches == []  # in the running batch: no whole batch was needed
    scheduler.close()


def test_steps_that_fail_reach_only_the_request_that_causes_them(runner):
    scheduler = scheduler_on(runner)
    runner.hold()
    good = scheduler.submit(job(3))
    assert runner.held.wait(20)
    bad = scheduler.submit(job(FAILING_SECONDS))
    wait_until(lambda: scheduler.waiting == 2)
    runner.release()
    with pytest.raises(RuntimeError, match="index out of range"):
        bad.result(timeout=20)
    assert good.result(timeout=20).text == text_of(3)
    scheduler.close()


def test_a_join_that_fails_reaches_only_the_request_that_causes_it():
    runner = FakeStepRunner(capacity=4, fail_join=True)
    scheduler = scheduler_on(runner)
    runner.hold()
    first = scheduler.submit(job(3))
    assert runner.held.wait(20)
    bad, good = scheduler.submit(job(FAILING_SECONDS)), scheduler.submit(job(1))
    wait_until(lambda: scheduler.waiting == 3)
    runner.release()
    with pytest.raises(RuntimeError):
        bad.result(timeout=20)
    assert [first.result(timeout=20).text, good.result(timeout=20).text] == [text_of(3), "w0"]
    scheduler.close()


def test_close_drains_the_running_batch(runner):
    scheduler = scheduler_on(runner)
    futures = [scheduler.submit(job(seconds)) for seconds in (1, 5)]
    started = time.monotonic()
    scheduler.close(drain_s=20)
    assert time.monotonic() - started < 20
    assert [f.result(timeout=0).text for f in futures] == [text_of(1), text_of(5)]
