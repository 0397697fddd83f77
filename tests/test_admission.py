"""Admission (serving/endpoint/admission.py): the audio seconds in flight are bounded; a request beyond the bound
waits (async mode) or gets a 503 with Retry-After (sync mode, or once its wait is over), and its room is given back
whatever becomes of it. Budget rules on their own, then through the services with the stand-in runner
(tests/scheduling.py), then the header through DJL's Output."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from scripts.djl.async_replies import AsyncReply
from serving import model
from serving.api.requests import RawRequest
from serving.batching.scheduler import Scheduler, SchedulerOptions
from serving.endpoint.admission import AdmissionOptions, AudioBudget
from serving.endpoint.async_service import AsyncTranscriptionService
from serving.endpoint.service import TranscriptionService
from serving.errors import Overloaded, error_response
from serving.settings import load_settings
from tests.scheduling import FakeRunner, text_of, wait_until
from tests.test_audio import wav_bytes

RETRY_AFTER = 7
LIMIT = 10  # seconds of audio in flight (and the longest request) in these tests


def budget(max_seconds: float = LIMIT, wait_seconds: float = 30.0) -> AudioBudget:
    return AudioBudget(AdmissionOptions(max_seconds, wait_seconds, RETRY_AFTER))


# ---- the budget ------------------------------------------------------------------------------------------------


def test_requests_are_admitted_up_to_the_bound_and_the_next_is_refused_with_retry_after():
    audio = budget()
    first, second = audio.try_reserve(4), audio.try_reserve(6)
    with pytest.raises(Overloaded) as refused:
        audio.try_reserve(1)
    assert refused.value.status == 503 and refused.value.retry_after_seconds == RETRY_AFTER
    assert "option.max_audio_seconds_in_flight" in str(refused.value)
    first.release()
    audio.try_reserve(4)
    assert audio.used == 10
    second.release()
    second.release()  # twice: given back once
    assert audio.used == 4


def test_a_request_longer_than_the_bound_runs_alone():
    audio = budget()
    alone = audio.try_reserve(25)
    with pytest.raises(Overloaded):
        audio.try_reserve(1)
    alone.release()
    assert audio.used == 0


def test_a_reservation_is_corrected_to_the_decoded_length_and_frees_room():
    audio = budget()
    unknown = audio.try_reserve(10)  # a file that declares no length reserves the per-request limit
    with pytest.raises(Overloaded):
        audio.try_reserve(3)
    unknown.resize(2)
    audio.try_reserve(3)
    assert audio.used == 5


def test_a_waiting_request_proceeds_when_room_frees_first_come_first_served():
    audio = budget()
    order = []

    async def scenario():
        held = await audio.reserve(8)

        async def wait_for(seconds: float, name: str):
            reservation = await audio.reserve(seconds)
            order.append(name)
            return reservation

        big = asyncio.create_task(wait_for(9, "big"))
        await asyncio.sleep(0)
        small = asyncio.create_task(wait_for(1, "small"))  # would fit now, but waits behind the earlier request
        await asyncio.sleep(0.01)
        assert order == [] and audio.waiting == 2
        held.release()
        (await big).release()
        (await small).release()

    asyncio.run(scenario())
    assert order == ["big", "small"] and audio.used == 0


def test_a_request_that_waits_too_long_is_refused_and_leaves_the_line():
    audio = budget(wait_seconds=0.01)

    async def scenario():
        held = await audio.reserve(10)
        with pytest.raises(Overloaded):
            await audio.reserve(5)
        assert audio.waiting == 0
        held.release()

    asyncio.run(scenario())
    assert audio.used == 0


def test_without_a_wait_async_requests_are_refused_at_once():
    audio = budget(wait_seconds=0)

    async def scenario():
        await audio.reserve(10)
        with pytest.raises(Overloaded):
            await audio.reserve(1)

    asyncio.run(scenario())


def test_a_cancelled_waiter_gives_nothing_away():
    audio = budget()

    async def scenario():
        held = await audio.reserve(10)
        waiting = asyncio.create_task(audio.reserve(5))
        await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert audio.waiting == 0
        held.release()

    asyncio.run(scenario())
    assert audio.used == 0


# ---- through the services --------------------------------------------------------------------------------------


def options(**extra: str) -> dict[str, str]:
    return {"max_audio_seconds": str(LIMIT), "max_audio_seconds_in_flight": str(LIMIT),
            "admission_retry_after_seconds": str(RETRY_AFTER), **extra}


def audio_request(seconds: int) -> RawRequest:
    return RawRequest({"Content-Type": "audio/wav"}, wav_bytes(np.zeros(seconds * 16_000)))


def test_sync_mode_refuses_what_does_not_fit_with_503_and_retry_after():
    runner = FakeRunner(capacity=8)
    service = TranscriptionService(load_settings(options(), {}), Scheduler(runner, SchedulerOptions(0)))
    try:
        responses = service.handle([audio_request(6), audio_request(3), audio_request(3)])
        assert [r.status for r in responses] == [200, 200, 503]
        assert responses[2].headers == {"Retry-After": str(RETRY_AFTER)}
        error = json.loads(responses[2].body)["error"]
        assert error["type"] == "overloaded" and "max_audio_seconds_in_flight" in error["message"]
        assert service.budget.used == 0  # all given back once answered
        assert [r.status for r in service.handle([audio_request(1)])] == [200]
    finally:
        service.close()


def async_service(runner: FakeRunner, **extra: str) -> AsyncTranscriptionService:
    scheduler = Scheduler(runner, SchedulerOptions(max_batch_wait_ms=1))
    return AsyncTranscriptionService(TranscriptionService(load_settings(options(**extra), {}), scheduler))


async def hold_first(service: AsyncTranscriptionService, runner: FakeRunner, seconds: int = 8) -> asyncio.Task:
    """A first request that holds the model (its ``seconds`` of audio in flight) until ``runner.release()``."""
    runner.hold()
    first = asyncio.create_task(service.answer(audio_request(seconds)))
    await asyncio.to_thread(wait_until, runner.held.is_set)
    return first


def test_async_mode_waits_for_room_and_proceeds_when_it_frees():
    runner = FakeRunner(capacity=8)
    service = async_service(runner)

    async def scenario():
        first = await hold_first(service, runner)  # the first holds 8 s in the model
        second = asyncio.create_task(service.answer(audio_request(4)))
        await asyncio.to_thread(wait_until, lambda: service.service.budget.waiting == 1)
        assert runner.windows() == [8]  # the second was not decoded nor planned while it waited
        runner.release()
        return await first, await second

    try:
        first, second = asyncio.run(scenario())
    finally:
        service.close()
    assert [first.status, second.status] == [200, 200]
    assert json.loads(second.body)["text"] == text_of(4)
    assert service.service.budget.used == 0


def test_async_mode_answers_503_with_retry_after_when_the_wait_is_over():
    runner = FakeRunner(capacity=8)
    service = async_service(runner, admission_wait_seconds="0")

    async def scenario():
        first = await hold_first(service, runner)
        refused = await service.answer(audio_request(4))
        runner.release()
        return await first, refused

    try:
        first, refused = asyncio.run(scenario())
    finally:
        service.close()
    assert (first.status, refused.status) == (200, 503)
    assert refused.headers == {"Retry-After": str(RETRY_AFTER)}


def test_a_request_whose_caller_goes_away_gives_its_room_back():
    runner = FakeRunner(capacity=8)
    service = async_service(runner)

    async def scenario():
        gone = await hold_first(service, runner)
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
        assert service.service.budget.used == 0
        runner.release()
        return await service.answer(audio_request(9))

    try:
        after = asyncio.run(scenario())
    finally:
        service.close()
    assert after.status == 200


def test_failed_requests_give_their_room_back():
    runner = FakeRunner(capacity=8)
    service = async_service(runner)

    async def scenario():
        return await asyncio.gather(service.answer(audio_request(2)),  # the stand-in model fails on 2 s requests
                                    service.answer(RawRequest({"Content-Type": "audio/wav"}, b"junk" * 40)))

    try:
        statuses = [r.status for r in asyncio.run(scenario())]
    finally:
        service.close()
    assert statuses == [500, 415]
    assert service.service.budget.used == 0


def test_the_option_must_let_the_longest_request_fit_alone():
    with pytest.raises(ValueError, match="max_audio_seconds_in_flight .* must be at least max_audio_seconds"):
        load_settings({"max_audio_seconds": "600", "max_audio_seconds_in_flight": "300"}, {})


# ---- the header through DJL's Output ---------------------------------------------------------------------------


def overloaded_response():
    return TranscriptionService.fail(
        _exchange(), Overloaded("the server holds too much audio; retry later", retry_after_seconds=RETRY_AFTER)
    )


def _exchange():
    from serving.endpoint.service import Exchange
    from serving.identity import RequestId
    from serving.timing import StageTimer

    return Exchange(RequestId.new("r"), StageTimer())


def test_retry_after_is_an_output_property_in_sync_mode():
    output = model._single_output(overloaded_response())
    assert output.code == 503
    assert output.get_property("Retry-After") == str(RETRY_AFTER)


def test_retry_after_becomes_a_header_of_djl_async_reply():
    reply = AsyncReply()
    body = reply.add(model._async_output(overloaded_response()))
    assert reply.code == 503 and reply.last
    assert reply.properties["Retry-After"] == str(RETRY_AFTER)
    assert json.loads(body)["code"] == 503


def test_error_response_carries_retry_after_only_when_overloaded():
    assert error_response(Overloaded("full", retry_after_seconds=3)).headers() == {"Retry-After": "3"}
    assert error_response(ValueError("bug")).headers() == {}
