"""Bounded work per window and fairness between requests, through the real runner and scheduler.

On the tiny random model every window fails the quality tests: each comes back from its batch as a retry at the next
temperature (its attempts attached) instead of being decoded again inside the batch, every attempt stays within the
window's token cap, and all attempts together within its budget. On the real whisper-base, a request forced into a
wrong language (``jw`` on English speech: before, 73 s of garbage through six temperatures of 440 tokens) beside
normal requests: the normal ones get their exact text and are answered before it, whose windows stay bounded.
"""

from __future__ import annotations

import numpy as np
import pytest

from scripts.material.clips import REFERENCES, clip_bytes
from serving.api.params import parse_params
from serving.audio.decode import AudioLimits, decode_audio
from serving.batching.runner import Runner
from serving.batching.scheduler import Scheduler, SchedulerOptions
from serving.batching.sessions import Job
from serving.constants import SAMPLE_RATE
from serving.endpoint.service import runner_options
from serving.engine.degeneration import window_token_cap
from serving.engine.loading import load_model
from serving.engine.placement import resolve_placement
from serving.longform.quality import FALLBACK_TOKEN_FACTOR, temperatures
from serving.settings import load_settings

WAIT_S = 600
SECONDS = 3


def runner_on(model_dir) -> Runner:
    settings = load_settings({"model_id": str(model_dir), "vad": "off"}, environ={})
    return Runner(load_model(settings, None, resolve_placement(settings, "-1")), runner_options(settings))


@pytest.fixture(scope="module")
def tiny_runner(tiny_random_dir, one_torch_thread):
    return runner_on(tiny_random_dir)


def noise(seconds: float) -> np.ndarray:
    return np.random.default_rng(0).normal(0, 0.1, int(seconds * SAMPLE_RATE)).astype(np.float32)


def test_a_failing_window_comes_back_as_a_retry_until_its_temperatures_or_tokens_run_out(tiny_runner):
    session = tiny_runner.open(Job.new(noise(SECONDS), parse_params({"language": "en"})))
    (task,) = session.pending()
    cap = window_token_cap(task.length, SAMPLE_RATE)
    rounds = 0
    while True:
        result = tiny_runner.run([task], {session.request: session})
        rounds += 1
        (outcome,) = result.outcomes
        if outcome is not None:
            break
        assert (result.stages_ms["encode"] > 0) == (rounds == 1)  # a retry's encoder states were kept
        (task,) = result.retries
        assert task.key == 0 and len(task.attempts) == rounds
        assert [a.temperature for a in task.attempts] == list(temperatures(0.0)[:rounds])
    assert 1 < rounds <= len(temperatures(0.0))
    assert all(len(attempt.tokens) <= cap for attempt in task.attempts)
    assert sum(len(attempt.tokens) + 1 for attempt in task.attempts) <= cap * FALLBACK_TOKEN_FACTOR
    assert len(outcome.decoded.tokens) <= cap


def test_a_retry_decodes_the_same_from_kept_states_as_from_the_audio(tiny_runner):
    session = tiny_runner.open(Job.new(noise(SECONDS), parse_params({"language": "en"})))
    (task,) = session.pending()
    (retry,) = tiny_runner.run([task], {session.request: session}).retries
    kept = tiny_runner.run([retry], {session.request: session})
    tiny_runner._kept.clear()
    encoded = tiny_runner.run([retry], {session.request: session})
    assert kept.stages_ms["encode"] == 0 < encoded.stages_ms["encode"]
    assert [r.attempts for r in kept.retries] == [r.attempts for r in encoded.retries]
    assert kept.outcomes == encoded.outcomes


def test_the_scheduler_queues_retries_and_answers_with_the_bounded_result(tiny_runner):
    scheduler = Scheduler(tiny_runner, SchedulerOptions(max_batch_wait_ms=0))
    result = scheduler.submit(Job.new(noise(SECONDS), parse_params({"language": "en"}))).result(timeout=WAIT_S)
    assert result.duration == pytest.approx(SECONDS)
    scheduler.close()


# ---- the real model ---------------------------------------------------------------------------------------------


@pytest.mark.real_model
def test_a_wrong_language_request_does_not_hold_back_normal_ones(whisper_base_dir, caplog):
    """``language=jw`` on this English clip fails Whisper's quality rules at every temperature (measured: five
    retries, here of two samples each, rows of the running batch); the retries go back to the queue, so the normal
    requests beside it are answered first."""
    caplog.set_level("DEBUG", logger="serving.batching.runner")
    runner = runner_on(whisper_base_dir)
    scheduler = Scheduler(runner, SchedulerOptions(max_batch_wait_ms=50))
    names = ["en_slt_lights.wav", "en_kal_dog.wav", "en_awb_train.wav"]
    hostile_clip = "en_rms_garden.wav"

    def waveform(name: str) -> np.ndarray:
        return decode_audio(clip_bytes(name), AudioLimits(10**8, 60))

    order: list[str] = []
    hostile = scheduler.submit(Job.new(waveform(hostile_clip), parse_params({"language": "jw", "best_of": 2})))
    hostile.add_done_callback(lambda _: order.append("jw"))
    normal = [scheduler.submit(Job.new(waveform(name), parse_params({}))) for name in names]
    for name, future in zip(names, normal):
        future.add_done_callback(lambda _, name=name: order.append(name))
    texts = [future.result(timeout=WAIT_S).text for future in normal]
    bounded = hostile.result(timeout=WAIT_S)
    scheduler.close()
    assert texts == [REFERENCES[name]["text"] for name in names]
    assert any("again at temperature" in record.getMessage() for record in caplog.records)  # it was retried
    assert order[-1] == "jw"  # its retries ran in later batches, after the normal requests were answered
    cap = window_token_cap(len(waveform(hostile_clip)), SAMPLE_RATE)
    assert sum(len(segment.tokens) for segment in bounded.segments) <= cap
