"""Word error rate after Whisper's English normaliser, the way every English score in this project is computed."""

from __future__ import annotations

import jiwer
from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

# The wheels carry no British->American spelling map; the reference sentences use American spelling already.
_normalise = EnglishTextNormalizer({})


def normalise(text: str) -> str:
    return _normalise(text)


def wer(references: list[str], hypotheses: list[str]) -> float:
    return jiwer.wer([normalise(r) for r in references], [normalise(h) for h in hypotheses])
