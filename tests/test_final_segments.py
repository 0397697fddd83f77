"""Streaming's building block on the real whisper-base: a plan hands out the segments no window still to come can
change, always a prefix of its final segments. One GPU batch decodes every window; the outcomes are then handed to
the plan one at a time, in and out of order."""

from __future__ import annotations

import pytest

from scripts.material.longform_audio import build_long_audio
from serving.api.params import parse_params
from serving.batching.runner import Runner
from serving.batching.sessions import Job
from serving.endpoint.service import runner_options
from serving.engine.loading import load_model
from serving.engine.placement import resolve_placement
from serving.settings import load_settings

pytestmark = pytest.mark.real_model

SECONDS = 55.0  # three chunked windows (at 0, 24 and 48 s)


@pytest.fixture(scope="module")
def runner(whisper_base_dir):
    settings = load_settings({"model_id": str(whisper_base_dir)}, environ={})
    return Runner(load_model(settings, None, resolve_placement(settings, "-1")), runner_options(settings))


@pytest.fixture(scope="module")
def decoded(runner):
    """A chunked session whose windows are all decoded, their outcomes not yet handed to the session."""
    audio = build_long_audio(SECONDS).waveform
    params = parse_params({"language": "en", "long_form": "chunked", "response_format": "verbose_json"})
    session = runner.open(Job.new(audio, params))
    tasks = session.pending()
    held = list(zip(tasks, runner.run(tasks, {session.request: session}).outcomes))
    assert [task.key for task, _ in held] == [0, 1, 2]
    return session, held


def test_chunked_segments_become_final_when_the_seam_after_them_is_closed(decoded):
    session, held = decoded
    finals = []
    for window in (1, 0, 2):  # out of order
        session.accept(*held[window])
        finals.append(session.final_segments())
    result = session.result()
    assert all(list(result.segments[: len(final)]) == final for final in finals)  # always a prefix
    no_first, first_two, everything = (len(final) for final in finals)
    assert no_first == 0  # window 0 is not decoded: nothing is final
    assert 0 < first_two < everything  # windows 0 and 1: window 0's share (1's seam with 2 is open)
    assert everything == len(result.segments)
