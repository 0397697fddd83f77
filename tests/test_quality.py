"""Specification of ``serving.longform.quality``: openai/whisper's fallback and silence rules (whisper/transcribe.py,
release 20250625: ``decode_with_fallback`` and the no-speech skip; whisper/utils.py: ``compression_ratio``), at and
around each threshold, and the temperature schedule."""

from __future__ import annotations

import itertools
import zlib

import pytest

from serving.engine.decoded import DecodedWindow
from serving.longform.quality import (
    MAX_TEMPERATURE,
    TEMPERATURE_STEP,
    Thresholds,
    compression_ratio,
    is_silence,
    needs_fallback,
    temperatures,
)

DEFAULT = Thresholds()
EPS = 1e-6
PLAIN = " The quick brown fox jumps over the lazy dog."
REPEATED = " I'm sorry." * 20


def window(avg_logprob: float, no_speech: float, tokens: int = 3) -> DecodedWindow:
    """A decoded window with exactly this average log-probability (openai counts the end of text: tokens + 1)."""
    return DecodedWindow(tuple(range(tokens)), avg_logprob * (tokens + 1), no_speech, 0.0, True)


def openai_needs_fallback(ratio: float, avg_logprob: float, no_speech: float, t: Thresholds) -> bool:
    """decode_with_fallback's decision, restated."""
    fallback = ratio > t.compression_ratio or avg_logprob < t.logprob
    if no_speech > t.no_speech and avg_logprob < t.logprob:
        fallback = False  # silence
    return fallback


def openai_skips(avg_logprob: float, no_speech: float, t: Thresholds) -> bool:
    """transcribe's no-speech check: skip the window unless the text is likely enough."""
    return no_speech > t.no_speech and not avg_logprob > t.logprob


# ---- compression_ratio -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [PLAIN, REPEATED, "a", " 日本語のテキストです。" * 3, " ¿Qué tal? " * 7])
def test_compression_ratio_is_utf8_bytes_over_zlib_bytes(text):
    raw = text.encode("utf-8")
    assert compression_ratio(text) == len(raw) / len(zlib.compress(raw))


def test_the_compression_ratio_tells_repetition_from_speech():
    assert compression_ratio(PLAIN) < DEFAULT.compression_ratio < compression_ratio(REPEATED)


def test_empty_text_has_a_compression_ratio_of_zero():
    assert compression_ratio("") == 0.0


# ---- temperatures ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "start, expected",
    [
        (0.0, (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)),  # openai's default schedule
        (0.2, (0.2, 0.4, 0.6, 0.8, 1.0)),
        (0.3, (0.3, 0.5, 0.7, 0.9)),
        (0.5, (0.5, 0.7, 0.9)),
        (0.9, (0.9,)),
        (1.0, (1.0,)),
        (1.3, (1.3,)),  # above the schedule's top: just the request's temperature
    ],
)
def test_the_fallback_schedule_climbs_by_a_fixed_step_up_to_one(start, expected):
    assert (TEMPERATURE_STEP, MAX_TEMPERATURE) == (0.2, 1.0)
    assert temperatures(start) == expected


# ---- needs_fallback / is_silence -------------------------------------------------------------------------------


def test_repetitive_text_falls_back():
    assert needs_fallback(window(-0.2, 0.01), REPEATED, DEFAULT)
    assert not needs_fallback(window(-0.2, 0.01), PLAIN, DEFAULT)


def test_an_unlikely_decoding_falls_back():
    assert needs_fallback(window(-1.5, 0.01), PLAIN, DEFAULT)


def test_silence_never_falls_back_even_when_repetitive():
    silent = window(-1.5, 0.9)
    assert is_silence(silent, DEFAULT)
    assert not needs_fallback(silent, REPEATED, DEFAULT)


def test_likely_text_is_not_silence_whatever_the_no_speech_probability():
    assert not is_silence(window(-0.5, 0.99), DEFAULT)
    assert needs_fallback(window(-0.5, 0.99), REPEATED, DEFAULT)  # and repetition still falls back


def test_each_threshold_is_exclusive():
    ratio = compression_ratio(REPEATED)
    assert not needs_fallback(window(-0.2, 0.01), REPEATED, Thresholds(compression_ratio=ratio))
    assert needs_fallback(window(-0.2, 0.01), REPEATED, Thresholds(compression_ratio=ratio - EPS))
    assert not needs_fallback(window(-1.0, 0.01), PLAIN, DEFAULT)  # exactly -1.0 is not below -1.0
    assert needs_fallback(window(-1.0 - EPS, 0.01), PLAIN, DEFAULT)
    assert not is_silence(window(-1.5, 0.6), DEFAULT)  # exactly 0.6 is not above 0.6
    assert is_silence(window(-1.5, 0.6 + EPS), DEFAULT)


def test_the_average_log_probability_counts_the_end_of_text_token():
    assert DecodedWindow((1, 2, 3), -4.0, 0.0, 0.0, True).avg_logprob == -1.0
    assert DecodedWindow((), -0.5, 0.0, 0.0, True).avg_logprob == -0.5


@pytest.mark.parametrize("thresholds", [DEFAULT, Thresholds(compression_ratio=1.8, logprob=-0.6, no_speech=0.3)])
def test_needs_fallback_follows_decode_with_fallback_around_every_threshold(thresholds):
    t = thresholds
    logprobs = [t.logprob - 0.5, t.logprob - EPS, t.logprob, t.logprob + EPS, t.logprob + 0.5]
    no_speech = [0.0, t.no_speech - EPS, t.no_speech, t.no_speech + EPS, 1.0]
    for text, avg, ns in itertools.product([PLAIN, REPEATED, ""], logprobs, no_speech):
        decoded = window(avg, ns)
        expected = openai_needs_fallback(compression_ratio(text), decoded.avg_logprob, ns, t)
        assert needs_fallback(decoded, text, t) == expected, (text, avg, ns)


@pytest.mark.parametrize("thresholds", [DEFAULT, Thresholds(compression_ratio=1.8, logprob=-0.6, no_speech=0.3)])
def test_is_silence_follows_transcribes_no_speech_skip_around_every_threshold(thresholds):
    t = thresholds
    logprobs = [t.logprob - 0.5, t.logprob - EPS, t.logprob + EPS, t.logprob + 0.5]  # equality: see below
    no_speech = [0.0, t.no_speech - EPS, t.no_speech, t.no_speech + EPS, 1.0]
    for avg, ns in itertools.product(logprobs, no_speech):
        decoded = window(avg, ns)
        assert is_silence(decoded, t) == openai_skips(decoded.avg_logprob, ns, t), (avg, ns)


def test_a_window_exactly_at_the_log_probability_threshold_with_likely_no_speech_is_skipped():
    """openai's transcribe keeps such a window only when avg_logprob > logprob_threshold."""
    assert is_silence(window(-1.0, 0.9), DEFAULT)
