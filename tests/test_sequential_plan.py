"""Specification of ``serving.longform.sequential.SequentialPlan``, openai/whisper's ``transcribe()`` seek loop for one
request (whisper/transcribe.py), driven window by window with hand-made outcomes: no model.

The seek advances to the end of the window's last complete segment (the unfinished text after it is decoded again
in the next window), or past the whole window when it ends with a single timestamp or holds no timestamp pair; a
silent window is skipped whole. The next window is prompted with the text decoded so far (its last
MAX_PROMPT_TOKENS), unless a window was decoded hotter than PROMPT_RESET_TEMPERATURE or the request does not
condition on previous text. With word timings, the seek resumes after the last word. One window is out at a time.
"""

from __future__ import annotations

import pytest

from serving.constants import FRAMES_PER_WINDOW, HOP_LENGTH, MAX_PROMPT_TOKENS, SAMPLE_RATE, WINDOW_SAMPLES
from serving.longform.plans import WindowTask
from serving.longform.quality import PROMPT_RESET_TEMPERATURE, Thresholds
from serving.longform.sequential import SequentialPlan
from tests.handmade import audio, context, options, outcome, request, silent, timing, ts, words


def plan(seconds: float, thresholds: Thresholds = Thresholds(), timestamps: bool = True, **changes) -> SequentialPlan:
    return SequentialPlan(request(), audio(seconds), options(**changes), context(thresholds=thresholds),
                          timestamps=timestamps)


def next_task(p: SequentialPlan) -> WindowTask:
    (task,) = p.pending()
    return task


def step(p: SequentialPlan, tokens, timings=(), **scores) -> WindowTask:
    """Take the plan's window, hand it an outcome; returns the window."""
    task = next_task(p)
    p.accept(task, outcome(tokens, timings, **scores))
    return task


def spans(p: SequentialPlan) -> list[tuple[float, float, str]]:
    return [(s.start, s.end, s.text) for s in p.segments()]


# ---- the seek -------------------------------------------------------------------------------------------------


def test_the_first_window_starts_at_zero_and_covers_thirty_seconds():
    p = plan(70.0)
    task = next_task(p)
    assert (task.key, task.start, task.length, task.frames, task.first) == (0, 0, WINDOW_SAMPLES, 3000, True)
    assert (task.timestamps, task.words, task.prompt, task.offset) == (True, False, (), 0.0)
    assert task.options == p.options and task.request == p.request


def test_the_seek_stops_at_the_end_of_the_last_complete_segment_and_the_unfinished_text_is_dropped():
    p = plan(70.0)
    step(p, [ts(0), 1, 2, ts(4.0), ts(4.0), 3, ts(9.5), ts(9.5), 4, 5])  # " w4 w5" has no closing timestamp
    assert p.seek == 950  # 9.5 s: openai's `seek += last_timestamp_pos * input_stride`
    task = next_task(p)
    assert (task.key, task.start, task.length, task.offset, task.first) == (1, 152_000, WINDOW_SAMPLES, 9.5, False)
    assert spans(p) == [(0.0, 4.0, words(1, 2)), (4.0, 9.5, words(3))]


def test_segments_of_later_windows_are_timed_from_the_window_start():
    p = plan(70.0)
    step(p, [ts(0), 1, ts(4.0), ts(4.0), 2, 3])
    step(p, [ts(0.5), 2, 3, ts(3.0), ts(3.0), 4, ts(6.0)])  # from 4 s: the cut sentence again, whole
    assert spans(p) == [(0.0, 4.0, words(1)), (4.5, 7.0, words(2, 3)), (7.0, 10.0, words(4))]
    assert next_task(p).start == 34 * SAMPLE_RATE  # a single final timestamp: the whole window (4 + 30 s)


@pytest.mark.parametrize(
    "tokens, expected",
    [
        ([ts(0), 1, ts(4.0), ts(4.0), 2, ts(7.0)], [(0.0, 4.0, words(1)), (4.0, 7.0, words(2))]),  # single ending
        ([ts(0), 1, 2, ts(5.0)], [(0.0, 5.0, words(1, 2))]),  # one unpaired segment, ended by its timestamp
        ([ts(0), 1, 2], [(0.0, 30.0, words(1, 2))]),  # only <|0.00|>: the segment runs to the window's end
        ([1, 2, 3], [(0.0, 30.0, words(1, 2, 3))]),  # no timestamp at all
        ([], []),  # nothing decoded
    ],
    ids=["single-timestamp-ending", "unpaired", "zero-timestamp-only", "no-timestamps", "empty"],
)
def test_a_window_without_an_unfinished_segment_is_consumed_whole(tokens, expected):
    p = plan(70.0)
    step(p, tokens)
    assert p.seek == FRAMES_PER_WINDOW
    assert spans(p) == expected
    assert next_task(p).start == WINDOW_SAMPLES


def test_a_window_whose_last_complete_segment_ends_at_zero_still_advances_by_the_whole_window():
    """Guard against a stuck seek (openai would decode the same window again): consumed nothing -> whole window."""
    p = plan(70.0)
    step(p, [ts(0), ts(0), 1, 2])
    assert p.seek == FRAMES_PER_WINDOW and next_task(p).start == WINDOW_SAMPLES
    assert spans(p) == []  # the instantaneous segment is dropped


def test_instantaneous_and_empty_segments_are_dropped_from_the_result_and_the_prompt():
    """faster-whisper's rule (openai keeps them, emptied, in its segment list)."""
    p = plan(70.0)
    step(p, [ts(1.0), 1, ts(1.0), ts(1.0), ts(2.0), ts(2.0), 2, ts(3.0), ts(3.0), 3])
    assert spans(p) == [(2.0, 3.0, words(2))]
    assert next_task(p).prompt == (ts(2.0), 2, ts(3.0))


def test_a_segment_end_beyond_the_audio_is_clamped_to_the_audio():
    p = plan(10.0)
    step(p, [ts(0), 1, ts(12.0)])
    assert spans(p) == [(0.0, 10.0, words(1))]
    assert p.done


# ---- the last window and done ----------------------------------------------------------------------------------


def test_the_last_window_holds_only_the_rest_of_the_audio_and_the_plan_is_done_once_the_seek_passes_the_end():
    p = plan(45.0)
    step(p, [ts(0), 1, ts(20.0), ts(20.0), 2])  # seek to 20 s
    assert not p.done
    task = next_task(p)
    assert (task.start, task.length, task.frames) == (20 * SAMPLE_RATE, 25 * SAMPLE_RATE, 2500)
    p.accept(task, outcome([ts(0), 3, ts(10.0), ts(10.0), 4]))  # seek to 30 s: 15 s left
    task = next_task(p)
    assert (task.start, task.length) == (30 * SAMPLE_RATE, 15 * SAMPLE_RATE)
    p.accept(task, outcome([ts(0), 5, ts(2.0)]))
    assert p.done and p.pending() == []
    assert p.seek == 4500 and p.rounds == 3


def test_the_plan_is_done_exactly_when_the_seek_reaches_the_last_frame():
    p = plan(40.0)
    step(p, [ts(0), 1, ts(9.98), ts(9.98), 2])
    assert not p.done  # 998 of 4000 frames
    step(p, [ts(0), 2, ts(29.98), ts(29.98), 3])  # seek 3996: 4 frames (0.04 s) left
    assert not p.done
    task = next_task(p)
    assert (task.start, task.length, task.frames) == (3996 * HOP_LENGTH, 640, 4)
    p.accept(task, outcome([]))
    assert p.done and p.seek == 4000


def test_audio_not_a_whole_number_of_frames_ends_with_a_partial_frame():
    p = SequentialPlan(request(), audio(30.0)[: WINDOW_SAMPLES - 1].copy(), options(), context())
    assert p.frames == FRAMES_PER_WINDOW
    task = next_task(p)
    assert (task.length, task.frames) == (WINDOW_SAMPLES - 1, FRAMES_PER_WINDOW)
    p.accept(task, outcome([ts(0), 1, ts(29.0), ts(29.0), 2]))  # stops at 29 s: 1 s left
    task = next_task(p)
    assert (task.start, task.length, task.frames) == (29 * SAMPLE_RATE, SAMPLE_RATE - 1, 100)


def test_one_window_is_out_at_a_time():
    p = plan(70.0)
    task = next_task(p)
    assert p.pending() == [] and p.pending() == []  # waiting for the outcome
    assert not p.done
    p.accept(task, outcome([ts(0), 1, ts(5.0), ts(5.0), 2]))
    assert [t.key for t in p.pending()] == [1]
    assert p.pending() == []


def test_the_plan_is_not_done_while_its_last_window_is_out():
    p = plan(5.0)
    task = next_task(p)
    assert not p.done
    p.accept(task, outcome([ts(0), 1, ts(2.0)]))
    assert p.done and p.pending() == []


# ---- silence -----------------------------------------------------------------------------------------------------


def test_a_silent_window_is_skipped_whole_without_segments_or_prompt():
    p = plan(70.0, prompt=(5, 6))
    step(p, [ts(0), 1, ts(5.0), ts(5.0), 2])  # seek to 5 s
    task = next_task(p)
    p.accept(task, silent([ts(0), 9, ts(3.0), ts(3.0), 9]))  # it would have consumed 3 s
    assert p.seek == 500 + 3000
    assert spans(p) == [(0.0, 5.0, words(1))]
    after = next_task(p)
    assert after.start == 35 * SAMPLE_RATE
    assert after.prompt == task.prompt == (5, 6, ts(0), 1, ts(5.0))  # the silent window added nothing


@pytest.mark.parametrize(
    "no_speech, avg_logprob, skipped",
    [
        (0.9, -1.5, True),
        (0.61, -1.01, True),
        (0.9, -1.0, True),  # exactly at the log-probability threshold: openai's should_skip keeps it skipped
        (0.6, -1.5, False),  # exactly at the no-speech threshold: not silent
        (0.9, -0.99, False),  # the text is likely enough to be speech
        (0.1, -3.0, False),  # unlikely text, but no reason to think it is silence
    ],
)
def test_a_window_is_silent_when_no_speech_is_likely_and_its_text_is_not(no_speech, avg_logprob, skipped):
    p = plan(70.0)
    step(p, [ts(0), 1, ts(4.0), ts(4.0), 2], no_speech=no_speech, avg_logprob=avg_logprob)
    assert p.seek == (3000 if skipped else 400)
    assert spans(p) == ([] if skipped else [(0.0, 4.0, words(1))])


def test_the_silence_thresholds_are_the_contexts():
    strict = Thresholds(no_speech=0.95)
    p = plan(70.0, thresholds=strict)
    step(p, [ts(0), 1, ts(4.0), ts(4.0), 2], no_speech=0.9, avg_logprob=-1.5)
    assert p.seek == 400


# ---- the prompt --------------------------------------------------------------------------------------------------


def test_each_window_is_prompted_with_the_requests_prompt_and_the_text_decoded_so_far():
    p = plan(100.0, prompt=(7, 8))
    assert step(p, [ts(0), 1, 2, ts(4.0), ts(4.0), 3, 4]).prompt == (7, 8)
    second = step(p, [ts(0), 3, 4, ts(2.0), ts(2.0), 5]).prompt
    assert second == (7, 8, ts(0), 1, 2, ts(4.0))  # the dropped tail (" w3 w4") is not in the prompt
    assert next_task(p).prompt == (*second, ts(0), 3, 4, ts(2.0))


def test_the_prompt_is_the_last_max_prompt_tokens_of_the_text():
    assert MAX_PROMPT_TOKENS == 223
    p = plan(100.0, prompt=(7, 8))
    long_text = list(range(1, 301))
    step(p, [ts(0), *long_text, ts(9.0), ts(9.0), 1])
    history = (7, 8, ts(0), *long_text, ts(9.0))
    prompt = next_task(p).prompt
    assert len(prompt) == 223 and prompt == history[-223:]


def test_a_window_decoded_above_the_reset_temperature_does_not_prompt_the_next_one():
    assert PROMPT_RESET_TEMPERATURE == 0.5
    p = plan(200.0, prompt=(7, 8))
    step(p, [ts(0), 1, ts(5.0), ts(5.0), 2])
    hot = step(p, [ts(0), 2, ts(5.0), ts(5.0), 3], temperature=0.6)
    assert hot.prompt == (7, 8, ts(0), 1, ts(5.0))  # the hot window itself was prompted
    task = next_task(p)
    assert task.prompt == ()  # the request's prompt is dropped too (openai's prompt_reset_since)
    p.accept(task, outcome([ts(0), 3, ts(5.0), ts(5.0), 4]))
    assert next_task(p).prompt == (ts(0), 3, ts(5.0))  # text decoded after the reset prompts again


@pytest.mark.parametrize("temperature", [0.0, 0.4, 0.5])
def test_a_window_decoded_at_or_below_the_reset_temperature_prompts_the_next_one(temperature):
    p = plan(100.0)
    step(p, [ts(0), 1, ts(5.0), ts(5.0), 2], temperature=temperature)
    assert next_task(p).prompt == (ts(0), 1, ts(5.0))


def test_without_conditioning_on_previous_text_only_the_first_window_has_the_requests_prompt():
    p = plan(100.0, prompt=(7, 8), condition_on_previous_text=False)
    assert step(p, [ts(0), 1, ts(5.0), ts(5.0), 2]).prompt == (7, 8)
    assert step(p, [ts(0), 2, ts(5.0), ts(5.0), 3]).prompt == ()
    assert next_task(p).prompt == ()


# ---- language ----------------------------------------------------------------------------------------------------


def test_the_language_is_the_first_outcomes_when_the_request_named_none():
    p = plan(70.0, language=None)
    assert p.language is None
    p.accept(next_task(p), outcome([ts(0), 1, ts(5.0), ts(5.0), 2], language="de"))
    assert p.language == "de"
    p.accept(next_task(p), outcome([ts(0), 2, ts(5.0), ts(5.0), 3], language="en"))
    assert p.language == "de"  # the first outcome's stays


def test_a_silent_first_window_still_gives_the_language():
    p = plan(70.0, language=None)
    p.accept(next_task(p), silent(language="de"))
    assert p.language == "de"


def test_a_named_language_is_kept():
    p = plan(70.0, language="de")
    p.accept(next_task(p), outcome([ts(0), 1, ts(5.0)], language="en"))
    assert p.language == "de"


# ---- plain single window -----------------------------------------------------------------------------------------


def test_a_short_plain_window_is_one_segment_over_the_whole_audio():
    p = plan(12.5, timestamps=False)
    task = next_task(p)
    assert (task.timestamps, task.length, task.frames) == (False, 200_000, 1250)
    p.accept(task, outcome([1, 2, 3]))
    assert p.done and p.pending() == []
    assert spans(p) == [(0.0, 12.5, words(1, 2, 3))]
    (segment,) = p.segments()
    assert segment.tokens == (1, 2, 3) and segment.words == ()
    assert (segment.avg_logprob, segment.no_speech_prob, segment.temperature) == (pytest.approx(-0.2), 0.05, 0.0)


def test_a_plain_window_ignores_timestamp_tokens_for_timing():
    p = plan(12.5, timestamps=False)
    p.accept(next_task(p), outcome([1, ts(3.0), 2]))
    assert spans(p) == [(0.0, 12.5, words(1, 2))]


# ---- word timings ------------------------------------------------------------------------------------------------


def test_with_word_timings_the_seek_resumes_after_the_last_word():
    p = plan(70.0, words=True)
    task = step(p, [ts(0), 1, 2, ts(2.0), ts(2.0), 3, 4, ts(5.0), ts(5.0), 5],
                [timing(1, 0.0, 0.8), timing(2, 1.0, 1.8), timing(3, 2.2, 3.0), timing(4, 3.4, 4.4),
                 timing(5, 5.2, 5.8)])
    assert task.words
    assert p.seek == 440  # after " w4" (4.4 s), not at the segment's end (5.0 s)
    assert next_task(p).start == 440 * HOP_LENGTH
    segments = p.segments()
    assert [(s.start, s.end, s.text) for s in segments] == [(0.0, 1.8, words(1, 2)), (2.2, 4.4, words(3, 4))]
    assert [[(w.word, w.start, w.end) for w in s.words] for s in segments] == [
        [(" w1", 0.0, 0.8), (" w2", 1.0, 1.8)], [(" w3", 2.2, 3.0), (" w4", 3.4, 4.4)]]


def test_words_of_a_later_window_are_timed_from_its_start_and_the_seek_follows_them():
    p = plan(70.0, words=True)
    step(p, [ts(0), 1, ts(5.0), ts(5.0), 2], [timing(1, 4.2, 5.3), timing(2, 5.6, 6.0)])
    assert p.seek == 530  # " w1" ends at 5.3 s, after its segment's 5.0 s end
    step(p, [ts(0), 2, ts(1.0), ts(1.0), 3, ts(2.0), ts(2.0), 4],
         [timing(2, 0.3, 0.9), timing(3, 1.1, 1.7), timing(4, 2.1, 2.5)])
    assert p.seek == 530 + 170
    assert [(w.word, w.start, w.end) for s in p.segments() for w in s.words] == [
        (" w1", 4.2, 5.3), (" w2", 5.6, 6.2), (" w3", 6.4, 7.0)]


def test_without_word_timings_wanted_the_seek_is_the_segments_end():
    p = plan(70.0, words=False)
    step(p, [ts(0), 1, 2, ts(2.0), ts(2.0), 3, 4, ts(5.0), ts(5.0), 5],
         [timing(1, 0.0, 0.8), timing(2, 1.0, 1.8), timing(3, 2.2, 3.0), timing(4, 3.4, 4.4)])
    assert p.seek == 500
    assert all(s.words == () for s in p.segments())


def test_a_single_timestamp_ending_consumes_the_window_even_with_word_timings():
    p = plan(70.0, words=True)
    step(p, [ts(0), 1, ts(2.0), ts(2.0), 2, ts(4.0)], [timing(1, 0.0, 0.8), timing(2, 2.2, 3.0)])
    assert p.seek == FRAMES_PER_WINDOW  # openai: only `if not single_timestamp_ending`


def test_a_window_without_a_timestamp_pair_resumes_after_its_last_word_as_openai_does():
    """openai's transcribe() resumes after the last word whenever the window does not end with a single timestamp
    (`if not single_timestamp_ending: seek = round(last_word_end * 100)`), '<|0.00|> text...' included."""
    p = plan(70.0, words=True)
    step(p, [ts(0), 1, 2, 3], [timing(1, 0.0, 0.8), timing(2, 1.0, 1.8), timing(3, 5.4, 6.0)])
    assert p.seek == 600
