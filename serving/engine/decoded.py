"""What the engine hands back, free of torch: a decoded window's tokens and scores, and one word's timing.

Planning code (:mod:`serving.longform`) reads these; it never imports the modules that run the model.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DecodedWindow:
    tokens: tuple[int, ...]  # sampled tokens, without the end of text
    sum_logprob: float
    no_speech_prob: float
    temperature: float
    ended: bool  # reached the end of text (False: stopped by the length limit or as degenerate)
    degenerate: bool = False  # stopped early: its output looped or compressed too well (serving.engine.degeneration)

    @property
    def avg_logprob(self) -> float:
        return self.sum_logprob / (len(self.tokens) + 1)  # openai/whisper counts the end-of-text token


@dataclass
class WordTiming:
    """Mutable while punctuation is merged; times in seconds from the window's start."""

    word: str
    tokens: tuple[int, ...]
    start: float
    end: float
    probability: float
