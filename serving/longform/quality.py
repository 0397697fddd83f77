"""When a window's decoding is not to be trusted: openai/whisper's compression-ratio, log-probability and
no-speech rules, with its default thresholds; a window stopped as degenerate while it decoded
(:mod:`serving.engine.degeneration`) is not trusted either. The temperature fallback is bounded: all attempts of a
window together decode at most ``FALLBACK_TOKEN_FACTOR`` times its token cap, counted on the sample each attempt kept
(an attempt above temperature 0 draws ``best_of`` samples side by side, each within that cap; in time, the request's
budget bounds them).
"""

from __future__ import annotations

from dataclasses import dataclass

from serving.engine.decoded import DecodedWindow
from serving.engine.degeneration import compression_ratio

TEMPERATURE_STEP = 0.2  # fallback schedule: the request's temperature, then +0.2 up to 1.0
MAX_TEMPERATURE = 1.0
PROMPT_RESET_TEMPERATURE = 0.5  # text decoded hotter than this does not condition the next window
FALLBACK_TOKEN_FACTOR = 3  # all attempts of one window: at most this many times its token cap
MIN_RETRY_TOKENS = 8  # a retry with fewer tokens left than this is not worth running


@dataclass(frozen=True)
class Thresholds:
    compression_ratio: float = 2.4  # gzip ratio above this: repetitive text (a decoding loop)
    logprob: float = -1.0  # average log-probability below this: the model was guessing
    no_speech: float = 0.6  # <|nospeech|> probability above this, with a low log-probability: silence


def temperatures(start: float) -> tuple[float, ...]:
    """The fallback schedule from ``start``: (0.0, 0.2, ..., 1.0) for greedy requests."""
    steps = []
    value = start
    while value <= MAX_TEMPERATURE + 1e-9:
        steps.append(round(value, 6))
        value += TEMPERATURE_STEP
    return tuple(steps) or (start,)


def needs_fallback(window: DecodedWindow, text: str, thresholds: Thresholds) -> bool:
    """openai/whisper's ``decode_with_fallback`` test: too repetitive or too unlikely, unless it is silence."""
    if window.no_speech_prob > thresholds.no_speech and window.avg_logprob < thresholds.logprob:
        return False  # silence (decode_with_fallback's test: strictly below the log-probability threshold)
    if window.degenerate:
        return True
    too_repetitive = compression_ratio(text) > thresholds.compression_ratio
    return too_repetitive or window.avg_logprob < thresholds.logprob


def is_silence(window: DecodedWindow, thresholds: Thresholds) -> bool:
    """The window holds no speech: <|nospeech|> is likely and the decoded text is not (openai's ``should_skip``:
    a log-probability exactly at the threshold does not save the window)."""
    return window.no_speech_prob > thresholds.no_speech and not window.avg_logprob > thresholds.logprob


def is_trusted_attempt(window: DecodedWindow, text: str, thresholds: Thresholds) -> bool:
    """An attempt that may be kept when every temperature failed: neither stopped as degenerate nor a loop."""
    return not window.degenerate and compression_ratio(text) <= thresholds.compression_ratio
