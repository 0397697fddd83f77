"""Word error rate of a scenario's transcripts: Whisper's English normaliser for English, the basic one otherwise."""

from __future__ import annotations

from collections.abc import Sequence

import jiwer
from transformers.models.whisper.english_normalizer import BasicTextNormalizer

from benchmarks.workload import Request
from scripts.scoring.wer import normalise

_basic = BasicTextNormalizer()


def normalise_for(language: str, text: str) -> str:
    return normalise(text) if language == "en" else _basic(text)


def scenario_wer(requests: Sequence[Request], texts: Sequence[str]) -> float:
    """Corpus WER over all requests (each normalised for its own language)."""
    references = [normalise_for(request.language, request.reference) for request in requests]
    hypotheses = [normalise_for(request.language, text) for request, text in zip(requests, texts)]
    return jiwer.wer(references, hypotheses)
