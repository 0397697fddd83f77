"""Specification of bounded decoding: ``serving.engine.degeneration`` (loops and compressible text caught while a
window decodes, the per-window token cap), its place in the quality rules (``serving.longform.quality``), and the
token search stopping degenerate rows early (tiny random model, which loops on random encoder states)."""

from __future__ import annotations

import pytest
import torch

from serving.constants import SAMPLE_RATE
from serving.engine.decoded import DecodedWindow
from serving.engine.degeneration import (
    CHECK_INTERVAL,
    COMPRESSION_MIN_TOKENS,
    LOOP_MIN_TOKENS,
    MAX_TOKENS_PER_SECOND,
    MIN_WINDOW_TOKENS,
    DegenerationCheck,
    loop_period,
    window_token_cap,
)
from serving.longform.quality import Thresholds, is_trusted_attempt, needs_fallback

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PLAIN = " The quick brown fox jumps over the lazy dog, and then it runs away into the forest."


def words_of(tokens) -> str:
    """A stand-in detokenizer: token i is the word ``w<i>``."""
    return "".join(f" w{token}" for token in tokens)


CHECK = DegenerationCheck(words_of, text_end=50_000)


def varied_phrases(count: int) -> list[int]:
    """The same five words again and again, each time followed by another: compressible, yet never periodic."""
    return [token for k in range(count) for token in (1, 2, 3, 4, 5, 10 + k)]


# ---- loops ----------------------------------------------------------------------------------------------------------


def test_the_same_token_over_and_over_is_a_loop_once_it_spans_the_minimum():
    assert loop_period([7] * (LOOP_MIN_TOKENS - 1)) is None
    assert loop_period([1, 2, 3] + [7] * LOOP_MIN_TOKENS) == 1


def test_a_repeated_phrase_is_a_loop_after_three_repeats_and_its_period_is_found():
    phrase = list(range(100, 110))
    assert loop_period([1, 2] + phrase * 2) is None
    assert loop_period([1, 2] + phrase * 3) == 10


def test_text_that_never_repeats_is_no_loop():
    assert loop_period(list(range(400))) is None
    assert loop_period([1, 2, 1, 2, 3] * 3) is None  # a short stutter is not a loop


def test_the_check_names_a_loop_and_compressible_text():
    assert CHECK.reason([7] * LOOP_MIN_TOKENS) == "a loop of 1 token(s)"
    varied_loop = varied_phrases(16)  # no exact period, but it compresses very well
    assert loop_period(varied_loop) is None
    assert CHECK.reason(varied_loop).startswith("compression ratio")
    assert CHECK.reason(list(range(COMPRESSION_MIN_TOKENS * 2))) is None


def test_compression_is_judged_on_text_tokens_only_and_not_on_short_text():
    timestamps = [50_000 + i for i in range(COMPRESSION_MIN_TOKENS * 2)]  # never text: ignored
    assert CHECK.reason(timestamps) is None
    assert CHECK.reason(varied_phrases(6)) is None  # 36 text tokens: too short to judge


# ---- the token cap --------------------------------------------------------------------------------------------------


def test_a_window_may_decode_a_generous_speech_rate_of_its_audio_and_a_floor():
    assert window_token_cap(30 * SAMPLE_RATE, SAMPLE_RATE) == int(30 * MAX_TOKENS_PER_SECOND)
    assert window_token_cap(3 * SAMPLE_RATE, SAMPLE_RATE) == int(3 * MAX_TOKENS_PER_SECOND)
    assert window_token_cap(SAMPLE_RATE // 10, SAMPLE_RATE) == MIN_WINDOW_TOKENS
    assert window_token_cap(SAMPLE_RATE, SAMPLE_RATE, min_new_tokens=100) == 100  # a forced length wins


# ---- quality rules --------------------------------------------------------------------------------------------------


def degenerate_window(no_speech: float = 0.0, avg_logprob: float = -0.2) -> DecodedWindow:
    return DecodedWindow((1, 2, 3), avg_logprob * 4, no_speech, 0.0, False, degenerate=True)


def test_a_degenerate_window_falls_back_unless_it_is_silence():
    assert needs_fallback(degenerate_window(), PLAIN, Thresholds())
    assert not needs_fallback(degenerate_window(no_speech=0.9, avg_logprob=-2.0), PLAIN, Thresholds())


def test_a_degenerate_attempt_is_not_trusted_when_every_temperature_failed():
    clean = DecodedWindow((1, 2, 3), -0.8, 0.0, 0.0, True)
    assert is_trusted_attempt(clean, PLAIN, Thresholds())
    assert not is_trusted_attempt(degenerate_window(), PLAIN, Thresholds())
    assert not is_trusted_attempt(clean, " I'm sorry." * 20, Thresholds())


# ---- the token search -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def loaded(tiny_random_dir):
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    from serving.engine.loading import LoadedModel
    from serving.engine.placement import Placement

    model = WhisperForConditionalGeneration.from_pretrained(tiny_random_dir, dtype=torch.float32).eval()
    return LoadedModel(model, WhisperProcessor.from_pretrained(tiny_random_dir), Placement(torch.device("cpu"),
                                                                                           torch.float32, 0))


def decode(loaded, max_new_tokens: int, stop: bool, min_new_tokens: int = 0) -> list[DecodedWindow]:
    from serving.engine.decoding import EngineOptions, WhisperDecoder

    options = EngineOptions(capacity=4, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens,
                            cuda_graphs=False, stop_degenerate=stop)
    decoder = WhisperDecoder(loaded, options)
    states = torch.randn(4, 1500, 64, generator=torch.Generator().manual_seed(12))
    prompts = [decoder.window_prompt(language, "transcribe", (), timestamps, 0.0)
               for language, timestamps in zip(["en", "de", "ja", "fr"], [False, True, False, True])]
    return decoder.decode(states, prompts)


def test_looping_rows_stop_early_marked_degenerate_with_the_tokens_they_had(loaded):
    """The random model loops on random states: without the check every row runs to the limit; with it each row stops
    at a check after its loop began, and keeps the tokens it had (the same as the unchecked row's beginning)."""
    unchecked = decode(loaded, 200, stop=False)
    checked = decode(loaded, 200, stop=True)
    assert [(len(w.tokens), w.degenerate) for w in unchecked] == [(200, False)] * 4
    for whole, stopped in zip(unchecked, checked):
        assert stopped.degenerate and not stopped.ended
        assert len(stopped.tokens) < 200 and len(stopped.tokens) % CHECK_INTERVAL == 1  # the first token + steps
        assert stopped.tokens == whole.tokens[: len(stopped.tokens)]


def test_rows_within_their_forced_length_are_not_stopped(loaded):
    forced = decode(loaded, 64, stop=True, min_new_tokens=64)
    assert [(len(w.tokens), w.degenerate) for w in forced] == [(64, False)] * 4


def test_a_window_prompt_takes_a_lower_token_cap_but_never_above_the_option(loaded):
    from serving.engine.decoding import EngineOptions, WhisperDecoder

    decoder = WhisperDecoder(loaded, EngineOptions(capacity=1, max_new_tokens=100, cuda_graphs=False))
    assert decoder.window_prompt("en", "transcribe", (), False, 0.0, max_new_tokens=45).max_new_tokens == 45
    assert decoder.window_prompt("en", "transcribe", (), False, 0.0, max_new_tokens=450).max_new_tokens == 100
    assert decoder.window_prompt("en", "transcribe", (), False, 0.0).max_new_tokens == 100
