"""Specification of ``serving.batching.sessions``: the Planner picks a request's plan from its speech (SilentPlan
without speech, one SequentialPlan window up to 30 s, ChunkedPlan or SequentialPlan beyond by ``long_form``) and its
options from its parameters; a Session decodes the plan's windows from the joined speech (padded to 30 s) and times
its result in the original audio (SpeechMap, serving/longform/vad.py), inside it and monotonic. No model: the VAD is
a stand-in giving hand-made frame probabilities, and plans are driven with hand-made outcomes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from serving.api.params import TranscriptionParams
from serving.batching.sessions import Job, Planner, PlannerOptions, Session
from serving.constants import DEFAULT_BEST_OF, SAMPLE_RATE, WINDOW_SAMPLES
from serving.engine.features import CONTEXT_SAMPLES, CONTEXT_WINDOW_SAMPLES
from serving.errors import BadParameter
from serving.longform.chunked import ChunkedPlan
from serving.longform.plans import RequestOptions, SilentPlan
from serving.longform.sequential import SequentialPlan
from serving.longform.vad import FRAME_SAMPLES, Region, SpeechMap
from serving.results import Segment, Transcription, Word
from tests.handmade import context, options, outcome, timing, ts, words


class Prompts:
    """The planner's prompt tokenizer, recording what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str | None] = []

    def __call__(self, text: str | None) -> tuple[int, ...]:
        self.asked.append(text)
        return () if text is None else (len(text), 7)


class FrameVad:
    """A stand-in for Silero: speech probability 0.9 in the given frame ranges, 0 elsewhere."""

    def __init__(self, *speech: tuple[int, int]) -> None:
        self.speech = speech

    def probabilities(self, waveform: np.ndarray) -> np.ndarray:
        frames = -(-waveform.shape[0] // FRAME_SAMPLES)
        probabilities = np.zeros(frames, dtype=np.float32)
        for first, last in self.speech:
            probabilities[first:last] = 0.9
        return probabilities


def planner(long_form: str = "chunked", vad: FrameVad | None = None, every_format_timed: bool = True) -> Planner:
    options = PlannerOptions(long_form=long_form, vad_model=None, timestamps_in_every_format=every_format_timed)
    p = Planner(context(), Prompts(), options)
    p.vad = vad
    return p


def noise(seconds: float, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.5, 0.5, round(seconds * SAMPLE_RATE)).astype(np.float32)


def open_session(seconds: float, planner_: Planner | None = None, **params) -> Session:
    return (planner_ or planner()).open(Job.new(noise(seconds), TranscriptionParams(**params)))


# ---- which plan ------------------------------------------------------------------------------------------------


def test_audio_without_speech_gets_a_silent_plan_and_an_empty_transcription():
    session = open_session(0.0, language="de", task="translate")
    assert isinstance(session.plan, SilentPlan)
    assert session.speech == SpeechMap((Region(0, 0, 0, 0),))  # no VAD: the whole (empty) audio
    assert session.done and session.pending() == [] and session.final_segments() == []
    assert session.result() == Transcription("de", 0.0, (), "translate")
    assert open_session(0.0).result() == Transcription("", 0.0, (), "transcribe")  # no language: ""


def test_audio_in_which_the_vad_finds_no_speech_gets_a_silent_plan():
    session = open_session(12.0, planner(vad=FrameVad()))
    assert isinstance(session.plan, SilentPlan) and session.speech.regions == ()
    assert session.result() == Transcription("", 12.0, (), "transcribe")


@pytest.mark.parametrize(
    "params, timestamps",
    [
        ({}, False),  # json: text only, one plain window
        ({"response_format": "text"}, False),
        ({"response_format": "verbose_json"}, True),
        ({"response_format": "srt"}, True),
        ({"response_format": "verbose_json", "timestamp_granularities": ["word"]}, True),
        ({"long_form": "sequential"}, False),  # long_form does not matter for one window
    ],
)
def test_up_to_thirty_seconds_is_one_sequential_window_timed_only_when_timestamps_are_asked(params, timestamps):
    """With option timestamps_in_every_format=false; by default every format is timed (the next test)."""
    for seconds in (0.5, 30.0):
        session = open_session(seconds, planner(every_format_timed=False), **params)
        assert isinstance(session.plan, SequentialPlan)
        assert session.plan.timestamps == timestamps
        (task,) = session.pending()
        assert (task.start, task.length, task.timestamps) == (0, round(seconds * SAMPLE_RATE), timestamps)


@pytest.mark.parametrize(
    "default, asked, expected",
    [
        ("chunked", None, ChunkedPlan),
        ("sequential", None, SequentialPlan),
        ("chunked", "sequential", SequentialPlan),
        ("sequential", "chunked", ChunkedPlan),
    ],
)
def test_beyond_thirty_seconds_the_plan_is_the_requests_long_form_else_the_servers(default, asked, expected):
    session = open_session(30.0 + 1 / SAMPLE_RATE, planner(long_form=default), long_form=asked)
    assert type(session.plan) is expected
    assert session.plan.options.long_form == (asked or default)
    if expected is SequentialPlan:
        assert session.plan.timestamps  # the seek needs timestamps, even for a text response
        assert len(session.pending()) == 1
    else:
        assert [t.start for t in session.pending()] == [0, 25 * SAMPLE_RATE]  # the context's 5 s overlap


def test_the_request_options_come_from_the_parameters():
    prompts = Prompts()
    p = Planner(context(), prompts, PlannerOptions(long_form="sequential"))
    session = p.open(Job.new(noise(3.0), TranscriptionParams(
        language="German", task="translate", prompt="Guten Tag", temperature=0.4, response_format="verbose_json",
        timestamp_granularities=["word"], condition_on_previous_text=False)))
    assert prompts.asked == ["Guten Tag"]
    assert session.plan.options == RequestOptions(
        language="de", task="translate", prompt=(9, 7), temperature=0.4, timestamps=True, words=True,
        long_form="sequential", condition_on_previous_text=False, best_of=DEFAULT_BEST_OF)  # the planner's default
    assert session.plan.language == "de"


def test_beams_come_from_the_parameters_or_the_server_default():
    p = Planner(context(), Prompts(), PlannerOptions(long_form="sequential", beam_size=5, best_of=2, max_beam_size=8))
    chosen = p.open(Job.new(noise(3.0), TranscriptionParams(beam_size=3, patience=2.0, length_penalty=0.5,
                                                            best_of=4))).plan.options
    assert (chosen.beam_size, chosen.patience, chosen.length_penalty, chosen.best_of) == (3, 2.0, 0.5, 4)
    default = p.open(Job.new(noise(3.0), TranscriptionParams())).plan.options
    assert (default.beam_size, default.patience, default.length_penalty, default.best_of) == (5, 1.0, None, 2)


def test_more_beams_than_the_batch_holds_is_a_bad_parameter():
    p = Planner(context(), Prompts(), PlannerOptions(long_form="sequential", max_beam_size=8))
    with pytest.raises(BadParameter, match="'beam_size'=9: this server decodes at most 8 beams"):
        p.open(Job.new(noise(3.0), TranscriptionParams(beam_size=9)))


def test_the_plan_decodes_the_speech_regions_joined():
    """Speech in 32 ms frames 300-599 and 1000-1199 of 60 s: regions [9.2, 19.6) s and [31.6, 38.8) s with their
    0.4 s padding; the plan's audio is the two joined (17.6 s: one window)."""
    job = Job.new(noise(60.0), TranscriptionParams(response_format="verbose_json"))
    session = planner(vad=FrameVad((300, 600), (1000, 1200))).open(job)
    assert session.speech.regions == (Region(147_200, 313_600, 153_600, 307_200),
                                      Region(505_600, 620_800, 512_000, 614_400))
    joined = np.concatenate([job.waveform[147_200:313_600], job.waveform[505_600:620_800]])
    assert isinstance(session.plan, SequentialPlan)
    np.testing.assert_array_equal(session.plan.waveform[:], joined)
    assert session.plan.waveform.waveform is job.waveform  # read through the decoded waveform: the speech not copied
    (task,) = session.pending()
    assert (task.start, task.length) == (0, 281_600)
    window = session.window_audio(task)[CONTEXT_SAMPLES:]  # after the context before the window
    np.testing.assert_array_equal(window[:281_600], joined)
    assert not window[281_600:].any()


@pytest.mark.parametrize("params", [{}, {"response_format": "text"}, {"response_format": "srt"}])
def test_by_default_every_format_decodes_one_window_with_timestamps(params):
    for seconds in (0.5, 30.0):
        session = open_session(seconds, **params)
        assert isinstance(session.plan, SequentialPlan) and session.plan.timestamps
        (task,) = session.pending()
        assert task.timestamps


def test_long_audio_is_planned_on_the_length_of_its_speech():
    """45 s of audio whose speech regions (14.4 s of frames each, padded) join to exactly 30 s: one window."""
    job = Job.new(noise(45.0), TranscriptionParams())
    session = planner(vad=FrameVad((0, 450), (800, 1250))).open(job)
    assert session.speech.regions == (Region(0, 236_800, 0, 230_400), Region(403_200, 646_400, 409_600, 640_000))
    assert session.plan.waveform.shape[0] == WINDOW_SAMPLES
    assert isinstance(session.plan, SequentialPlan) and session.plan.timestamps  # every format is timed
    longer = planner(vad=FrameVad((0, 450), (800, 1251))).open(Job.new(noise(45.0), TranscriptionParams()))
    assert longer.plan.waveform.shape[0] == WINDOW_SAMPLES + FRAME_SAMPLES and isinstance(longer.plan, ChunkedPlan)


# ---- the window's audio ------------------------------------------------------------------------------------------


def test_window_audio_is_the_windows_samples_padded_with_zeros_to_thirty_seconds_in_context():
    """Each window comes with the audio its STFT's edge frames see (serving.engine.features.window_in_context):
    the samples before it (reflected at the start), after a whole window the samples after it, after a short one
    zeros."""
    session = open_session(70.0, planner(long_form="sequential"), response_format="verbose_json")
    audio = session.plan.waveform
    first = session.pending()[0]
    window = session.window_audio(first)
    assert window.dtype == np.float32 and window.shape == (CONTEXT_WINDOW_SAMPLES,)
    np.testing.assert_array_equal(window[CONTEXT_SAMPLES:], audio[: WINDOW_SAMPLES + CONTEXT_SAMPLES])
    np.testing.assert_array_equal(window[:CONTEXT_SAMPLES], audio[CONTEXT_SAMPLES:0:-1])
    session.accept(first, outcome([ts(0.0), 1, ts(5.0), ts(5.0), 2]))
    second = session.pending()[0]
    assert (second.start, second.length) == (5 * SAMPLE_RATE, WINDOW_SAMPLES)
    np.testing.assert_array_equal(session.window_audio(second),
                                  audio[80_000 - CONTEXT_SAMPLES : 560_000 + CONTEXT_SAMPLES])
    last = replace(second, start=60 * SAMPLE_RATE, length=10 * SAMPLE_RATE)  # the audio's last 10 s
    window = session.window_audio(last)
    np.testing.assert_array_equal(window[: CONTEXT_SAMPLES + 10 * SAMPLE_RATE],
                                  audio[60 * SAMPLE_RATE - CONTEXT_SAMPLES :])
    assert not window[CONTEXT_SAMPLES + 10 * SAMPLE_RATE :].any()


# ---- the result, timed in the original audio --------------------------------------------------------------------


REGIONS = SpeechMap((Region(2 * SAMPLE_RATE, 6 * SAMPLE_RATE, 38_400, 89_600),  # [2, 6) s, speech 2.4-5.6 s
                     Region(10 * SAMPLE_RATE, 16 * SAMPLE_RATE, 166_400, 249_600)))  # [10, 16) s, speech 10.4-15.6


def mapped_session(words_wanted: bool = True) -> Session:
    """20 s of audio whose speech is [2, 6) and [10, 16) s: the plan decodes those 10 s joined."""
    job = Job.new(noise(20.0), TranscriptionParams(language="en", response_format="verbose_json",
                                                   timestamp_granularities=["word"] if words_wanted else []))
    plan = SequentialPlan(job.request, REGIONS.join(job.waveform), options(words=words_wanted), context())
    return Session(job, REGIONS, plan)


def test_the_result_is_timed_in_the_original_audio():
    """Joined time t is 2 + t in the first region (t < 4 s) and 6 + t in the second. A start in a region's padding
    before its speech moves to the speech onset, an end in the padding after it to the speech offset. A segment
    whose words lie in both regions is split at the stretch between them (the VAD found no speech there: a subtitle
    shown over it would stand over silence), each part with its words' text and tokens."""
    session = mapped_session()
    (task,) = session.pending()
    assert task.length == 10 * SAMPLE_RATE
    session.accept(task, outcome(
        [ts(0.0), 1, ts(1.0), ts(1.6), 2, 3, ts(3.5), ts(3.5), 4, 5, ts(6.0), ts(6.0), 6, 7, ts(10.0)],
        [timing(1, 0.1, 0.9), timing(2, 1.6, 2.4), timing(3, 2.6, 3.5), timing(4, 3.5, 3.9), timing(5, 4.2, 6.0),
         timing(6, 6.2, 7.0), timing(7, 9.2, 9.9)]))
    assert session.done
    joined = [(s.start, s.end) for s in session.plan.segments()]
    assert joined == [(0.1, 0.9), (1.6, 3.5), (3.5, 6.0), (6.2, 9.9)]
    result = session.result()
    assert (result.language, result.duration, result.task) == ("en", 20.0, "transcribe")
    assert [(s.start, s.end, s.text) for s in result.segments] == [
        (2.4, 2.9, words(1)),  # [2.1, 2.9]: starts in the padding before the speech (2.4 s)
        (3.6, 5.5, words(2, 3)),
        (5.5, 5.6, words(4)),  # joined [3.5, 6.0] runs over the joint: split there, not [5.5, 12.0]
        (10.4, 12.0, words(5)),
        (12.2, 15.6, words(6, 7)),  # [12.2, 15.9]: ends in the padding after the speech (15.6 s)
    ]
    assert [s.tokens for s in result.segments[2:4]] == [(4,), (5,)]
    assert [(w.word, w.start, w.end) for w in result.words] == [
        (" w1", 2.4, 2.9), (" w2", 3.6, 4.4), (" w3", 4.6, 5.5), (" w4", 5.5, 5.6),  # w4 ends in the padding
        (" w5", 10.4, 12.0), (" w6", 12.2, 13.0), (" w7", 15.2, 15.6)]  # w5 starts at joined 4.2 s: in the padding before 10.4 s
    assert session.final_segments() == list(result.segments)


def test_a_segment_without_words_over_the_joint_stays_in_the_region_holding_most_of_it():
    """Without word timings a segment cannot be split: it is kept in the region where most of it lies, never
    stretched over the 4.8 s between the two regions' speech (5.6 s to 10.4 s)."""
    session = mapped_session(words_wanted=False)
    (task,) = session.pending()
    session.accept(task, outcome([ts(0.0), 1, ts(1.6), ts(1.6), 2, 3, ts(5.5), ts(5.5), 4, ts(10.0)]))
    assert [(s.start, s.end, s.text) for s in session.result().segments] == [
        (2.4, 3.6, words(1)),
        (3.6, 5.6, words(2, 3)),  # joined [1.6, 5.5]: 2.4 s in the first region, 1.5 s in the second
        (11.5, 15.6, words(4)),
    ]


def test_a_start_on_the_joint_is_in_the_later_region_and_an_end_on_it_in_the_earlier():
    assert REGIONS.original_span(3.0, 4.0) == (5.0, 5.6)  # 6.0 is after the speech offset: 5.6
    assert REGIONS.original_span(4.0, 5.0) == (10.4, 11.0)  # 10.0 is before the speech onset: 10.4


class FixedPlan:
    """A finished plan whose segments are given (times in the joined audio), possibly out of order."""

    done = True

    def __init__(self, segments: list[Segment], final: int) -> None:
        self._segments, self._final = segments, final
        self.language = None
        self.language_probability = None
        self.options = options()
        self.waveform = np.zeros(0, dtype=np.float32)

    def pending(self):
        return []

    def segments(self) -> list[Segment]:
        return self._segments

    def final_segments(self) -> list[Segment]:
        return self._segments[: self._final]


def segment(start: float, end: float, *timed: tuple[str, float, float]) -> Segment:
    return Segment(start, end, "".join(w for w, _, _ in timed), (1,), -0.2, 0.1, 1.0, 0.0,
                   tuple(Word(w, s, e, 0.9) for w, s, e in timed))


def test_the_result_is_clamped_inside_the_audio_and_made_monotonic():
    job = Job.new(noise(20.0), TranscriptionParams())
    plan = FixedPlan([
        segment(1.0, 3.0, (" a", -0.5, 1.0), (" b", 0.5, 3.0)),  # a word before the audio; words overlapping
        segment(0.5, 8.0, (" c", 2.0, 8.0)),  # starts before the previous segment
        segment(18.0, 25.0, (" d", 19.0, 26.0)),  # past the end of the audio
    ], final=2)
    session = Session(job, SpeechMap.whole(job.waveform.shape[0]), plan)
    result = session.result()
    assert result.language == "" and result.duration == 20.0
    assert [(s.start, s.end) for s in result.segments] == [(1.0, 3.0), (3.0, 8.0), (18.0, 20.0)]
    assert [(w.word, w.start, w.end) for w in result.words] == [
        (" a", 0.0, 1.0), (" b", 1.0, 3.0), (" c", 3.0, 8.0), (" d", 19.0, 20.0)]
    assert session.final_segments() == list(result.segments[:2])
