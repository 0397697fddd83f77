"""The reference decoder: faster-whisper on the same CTranslate2 whisper-base weights as ours, greedy (beam 1),
temperature 0, no VAD, not conditioned on the previous window; its transcripts cached on disk
(:mod:`scripts.scoring.reference_cache`)."""

from __future__ import annotations

import io
import json
import os
from functools import lru_cache

from scripts.conversion.embedded_model import ensure_ct2_whisper_base
from scripts.scoring.reference_cache import cached

THREADS_VARIABLE = "WHISPER_LMI_REFERENCE_THREADS"
# faster-whisper's own defaults for its fallback (its ``transcribe``): these temperatures, 5 samples above 0
FALLBACK = {"temperature": [0.0, 0.2, 0.4, 0.6, 0.8, 1.0], "best_of": 5}


def faster_whisper_model(threads: int | None = None):
    """The reference model, loaded once per thread count; ``threads`` None: ``$WHISPER_LMI_REFERENCE_THREADS``, else
    2 (1 keeps a crowded machine's CTranslate2 threads from spin-waiting on each other)."""
    return _model(threads or int(os.environ.get(THREADS_VARIABLE, "2")))


@lru_cache(maxsize=2)
def _model(threads: int):
    from faster_whisper import WhisperModel

    return WhisperModel(str(ensure_ct2_whisper_base()), device="cpu", compute_type="float32", cpu_threads=threads)


def faster_whisper_transcribe(audio: bytes, **options) -> tuple[str, str]:
    """(text, language) from faster-whisper, greedy (beam 1), no VAD: the reference decoder on the same weights.

    ``options`` go to faster-whisper's ``transcribe`` over those defaults (``beam_size=5``: its beam search;
    ``**FALLBACK``: its own temperature fallback), but ``random_seed``: CTranslate2's sampling seed, set before each
    clip, so that a fallback's samples are the same on every run."""
    key = audio + json.dumps(options, sort_keys=True).encode()
    text, language = cached("reference-transcripts", key, lambda: _transcribe(audio, options))
    return text, language


def _transcribe(audio: bytes, options: dict) -> list[str]:
    settings = {"beam_size": 1, "temperature": 0.0, "condition_on_previous_text": False, **options}
    seed = settings.pop("random_seed", None)
    if seed is not None:
        import ctranslate2

        ctranslate2.set_random_seed(seed)
    segments, info = faster_whisper_model().transcribe(io.BytesIO(audio), **settings)
    return [" ".join(segment.text.strip() for segment in segments), info.language]
