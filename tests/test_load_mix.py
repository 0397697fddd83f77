"""The load test's hostile mix (``benchmarks/load_test.py --hostile N``, ``scripts/hostile/mix.py``): the normal
mix stays the same, every hostile sort is drawn, each hostile request is judged by its own rule, and the normal
requests' latency is reported apart from the hostile ones'. No server: outcomes are made up."""

from __future__ import annotations

import json

from benchmarks.load_test import Case, Outcome, build_cases, format_summary, problem, scheduler_goal, summarize
from scripts.hostile.mix import ANY_ANSWER, LIMITS, SORTS
from serving.audio.decode import decode_audio
from serving.audio.pcm import MAX_PEAK


def test_hostile_requests_join_the_same_normal_mix_at_random_places():
    plain = build_cases(30, seed=3)
    mixed = build_cases(30, seed=3, hostile=10)
    assert [(c.kind, c.body, c.headers) for c in mixed if not c.hostile] == [(c.kind, c.body, c.headers) for c in plain]
    assert [c.index for c in mixed] == list(range(40))
    assert {c.kind for c in mixed if c.hostile} == {f"hostile {sort}" for sort in SORTS}
    assert not mixed[-10:] == [c for c in mixed if c.hostile]  # not all appended at the end


def test_the_hostile_audio_is_what_it_claims():
    sorts = {c.kind.split()[1]: c for c in build_cases(0, seed=0, hostile=len(SORTS))}
    misscaled = decode_audio(sorts["misscaled"].body, LIMITS)  # brought back into range by the server
    assert misscaled.size and abs(misscaled).max() <= MAX_PEAK
    assert sorts["misscaled"].reference and sorts["cancelling"].reference
    assert sorts["wrong_language"].headers["language"] != "en" and sorts["wrong_language"].status == 200
    assert sorts["missing_language"].status == 400 and sorts["damaged"].status == ANY_ANSWER


def outcome(case: Case, status: int, body: dict | str, seconds: float = 1.0) -> Outcome:
    data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    return Outcome(case, status, data, seconds)


def test_a_damaged_request_may_be_answered_or_refused_but_never_a_5xx():
    damaged = Case(0, "hostile damaged", b"", {}, ANY_ANSWER)
    refused = {"error": {"code": 415, "type": "unsupported_media_type", "message": "no"}}
    assert problem(outcome(damaged, 415, refused), []) is None
    assert problem(outcome(damaged, 200, {"text": "x", "duration": 1.0}), []) is None
    assert "HTTP 500" in problem(outcome(damaged, 500, {"error": {"code": 500}}), [])
    assert "lost" in problem(Outcome(damaged, 0, b"", 1.0, "ReadTimeout"), [])


def test_a_wrong_language_must_be_answered_its_words_unchecked():
    forced = Case(0, "hostile wrong_language", b"", {"language": "jw"}, 200)
    assert problem(outcome(forced, 200, {"text": "anything", "duration": 3.0}), ["a reference"]) is None
    assert problem(outcome(forced, 504, {"error": {"code": 504}}), []) is not None


def test_the_normal_latency_is_reported_apart_from_the_hostile():
    normal = Case(0, "malformed", b"", {}, 415)
    hostile = Case(1, "hostile missing_language", b"", {}, 400)
    refused = {"error": {"code": 415}}
    outcomes = [outcome(normal, 415, refused, 1.0), outcome(normal, 415, refused, 3.0),
                outcome(hostile, 400, {"error": {"code": 400}}, 20.0)]
    summary = summarize(outcomes, 10.0)
    assert (summary.normal.requests, summary.normal.p99) == (2, 3.0)
    assert (summary.hostile.requests, summary.hostile.p50) == (1, 20.0)
    assert "normal requests (2)" in format_summary(summary, 4)
    assert summarize(outcomes[:2], 10.0).normal is None  # no hostile requests: one latency line, as before


def test_the_scheduler_goal_judges_the_transcribed_spread_at_equal_or_better_throughput():
    case = Case(0, "short", b"", {}, 200)
    refused = outcome(Case(1, "malformed", b"", {}, 415), 415, {"error": {"code": 415}}, 0.01)
    answered = {"text": "x", "duration": 1.0}

    def run(seconds: list[float], wall: float):
        return summarize([refused, *(outcome(case, 200, answered, s) for s in seconds)], wall)

    batches = run([10.0, 20.0, 30.0], 40.0)
    assert scheduler_goal(batches, run([10.0, 12.0, 19.0], 30.0)).endswith(", met")  # 19/12 < 2, faster
    assert "1.58" in scheduler_goal(batches, run([10.0, 12.0, 19.0], 30.0))
    assert scheduler_goal(batches, run([5.0, 8.0, 19.0], 30.0)).endswith("NOT met")  # 19/8 over 2
    assert scheduler_goal(batches, run([10.0, 12.0, 19.0], 50.0)).endswith("NOT met")  # slower than whole batches
