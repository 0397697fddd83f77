"""The scheduler's time budgets, cancellation and bounded shutdown, with the stand-in runner (tests/scheduling.py):
a request over its budget is answered with a 504 naming the option while the others finish; a cancelled request's
windows leave the queue; close(drain) answers what is left with a 503 naming the drain."""

from __future__ import annotations

import threading

import pytest

from serving.batching.scheduler import Scheduler, SchedulerOptions
from serving.errors import RequestTimedOut, ShuttingDown, error_response
from tests.scheduling import WAIT_SECONDS, FakeRunner, job, text_of, wait_until

BUDGET_S = 0.3  # 2-second jobs fail in the stand-in runner: the tests use other lengths


def scheduler_on(runner: FakeRunner, budget: float | None = None) -> Scheduler:
    return Scheduler(runner, SchedulerOptions(max_batch_wait_ms=0.0, request_timeout_s=budget))


def error_of(future) -> BaseException:
    return future.exception(timeout=WAIT_SECONDS)


def test_a_request_over_its_budget_gets_a_504_naming_the_option_at_its_deadline():
    """The batch holding its window is still on the model (held at the gate): the answer comes at the deadline
    anyway, and its later windows never reach the model."""
    runner = FakeRunner(capacity=1)
    runner.hold()
    scheduler = scheduler_on(runner, BUDGET_S)
    slow = scheduler.submit(job(5, long_form="sequential"))
    error = error_of(slow)
    assert runner.held.is_set() and len(runner.batches) == 1  # answered while its first batch is still held
    assert isinstance(error, RequestTimedOut)
    response = error_response(error)
    assert (response.status, response.kind) == (504, "request_timeout")
    assert "0.3 s" in response.message and "option.request_timeout_seconds" in response.message
    runner.release()
    wait_until(lambda: scheduler.in_flight == 0)
    assert len(runner.batches) == 1
    scheduler.close()


def test_the_other_requests_carry_on_beside_one_over_its_budget():
    runner = FakeRunner(capacity=4)
    runner.hold()
    scheduler = scheduler_on(runner, 1.0)
    stuck = scheduler.submit(job(1))
    assert runner.held.wait(WAIT_SECONDS)
    assert isinstance(error_of(stuck), RequestTimedOut)
    runner.release()
    later = [scheduler.submit(job(seconds)) for seconds in (1, 3, 4)]  # each has its own, fresh budget
    assert [future.result(timeout=WAIT_SECONDS).text for future in later] == [text_of(1), text_of(3), text_of(4)]
    scheduler.close()


def test_without_a_budget_a_request_takes_as_long_as_it_needs():
    runner = FakeRunner(capacity=1)
    runner.hold()
    scheduler = scheduler_on(runner, None)
    request = scheduler.submit(job(3))
    assert runner.held.wait(WAIT_SECONDS)
    assert not request.done()
    runner.release()
    assert request.result(timeout=WAIT_SECONDS).text == text_of(3)
    scheduler.close()


def test_cancel_drops_a_request_by_its_id_or_label_and_its_waiting_windows():
    runner = FakeRunner(capacity=1)
    runner.hold()
    scheduler = scheduler_on(runner)
    gone = job(6)
    left = scheduler.submit(gone)
    other = scheduler.submit(job(1))
    assert runner.held.wait(WAIT_SECONDS)  # window 0 of the first request is on the model
    assert scheduler.cancel(gone.request.label) == 1
    assert left.cancelled()
    assert scheduler.cancel(gone.request) == 0  # already gone
    runner.release()
    assert other.result(timeout=WAIT_SECONDS).text == text_of(1)
    wait_until(lambda: scheduler.in_flight == 0)
    assert [seconds for batch in runner.batches for seconds, _ in batch].count(6) == 1  # no window after the cancel
    scheduler.close()


def test_close_with_a_drain_answers_what_is_left_with_a_503_naming_it():
    runner = FakeRunner(capacity=1)
    runner.hold()
    scheduler = scheduler_on(runner)
    stuck = scheduler.submit(job(3, long_form="sequential"))
    assert runner.held.wait(WAIT_SECONDS)
    threading.Timer(1.0, runner.release).start()  # the batch stays on the model past the drain
    scheduler.close(drain_s=0.2)
    assert not scheduler._worker.is_alive()  # close waited for the batch (within its grace), then stopped
    error = error_of(stuck)
    assert isinstance(error, ShuttingDown)
    response = error_response(error)
    assert response.status == 503 and "0.2 s" in response.message and "option.drain_timeout_seconds" in response.message
    with pytest.raises(ShuttingDown):
        scheduler.submit(job(1))
    assert len(runner.batches) == 1  # the request's later windows never ran


def test_close_with_a_drain_lets_requests_that_finish_in_time_finish():
    runner = FakeRunner(capacity=2)
    scheduler = scheduler_on(runner)
    futures = [scheduler.submit(job(seconds, long_form="sequential")) for seconds in (3, 4)]
    scheduler.close(drain_s=WAIT_SECONDS)
    assert [future.result(timeout=0).text for future in futures] == [text_of(3), text_of(4)]
    assert not scheduler._worker.is_alive()


def test_the_defaults_come_from_sagemakers_limits_and_reach_the_service_scheduler():
    from serving.endpoint.service import scheduler_options
    from serving.errors import ConfigurationError
    from serving.settings import ANSWER_MARGIN_S, ASYNC_INFERENCE_LIMIT_S, REALTIME_INVOCATION_LIMIT_S, load_settings

    settings = load_settings({}, environ={})
    assert settings.request_timeout_seconds == REALTIME_INVOCATION_LIMIT_S - ANSWER_MARGIN_S == 55
    assert settings.drain_timeout_seconds <= 30
    longest = load_settings({"request_timeout_seconds": "3600"}, environ={})
    assert longest.request_timeout_seconds == ASYNC_INFERENCE_LIMIT_S
    with pytest.raises(ConfigurationError, match="request_timeout_seconds"):
        load_settings({"request_timeout_seconds": "3601"}, environ={})
    assert scheduler_options(settings, async_mode=True).request_timeout_s == 55
    assert scheduler_options(settings, async_mode=True, budgets=False).request_timeout_s is None  # tools
