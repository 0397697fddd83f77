"""WER and language detection of ours (through handle()) and of faster-whisper on the same weights, bundled clips.

    python -m scripts.evaluate
"""

from __future__ import annotations

import json
import os
import sys
import time

import jiwer
from transformers.models.whisper.english_normalizer import BasicTextNormalizer

from scripts.conversion.embedded_model import ensure_whisper_base
from scripts.djl.batching import batch_input
from scripts.djl.model_load import initial_input
from scripts.djl.outputs import outputs_of
from scripts.djl.properties import sync_handler_options
from scripts.djl.requests import request_input
from scripts.material.clips import REFERENCES, clip_bytes, clips, english_speech_clips
from scripts.paths import PROJECT_ROOT
from scripts.scoring.reference import faster_whisper_transcribe, wer


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from serving import model

    model.handle(initial_input(sync_handler_options(model_id=str(ensure_whisper_base())), model_dir=str(PROJECT_ROOT)))
    names = clips()
    started = time.perf_counter()
    batch = batch_input([request_input(clip_bytes(n), {"Content-Type": "audio/wav"}) for n in names])
    ours = [response.body for response in outputs_of(model.handle(batch), batch)]
    ours_seconds = time.perf_counter() - started
    started = time.perf_counter()
    theirs = [faster_whisper_transcribe(clip_bytes(n)) for n in names]
    theirs_seconds = time.perf_counter() - started
    _report(names, [json.loads(body) for body in ours], theirs)
    print(f"wall time for all {len(names)} clips: ours {ours_seconds:.1f} s (one batch), faster-whisper "
          f"{theirs_seconds:.1f} s (one by one)")
    return 0


def _report(names, ours, theirs) -> None:
    english = set(english_speech_clips())
    basic = BasicTextNormalizer()
    for name, mine, (text, language) in zip(names, ours, theirs):
        print(f"{name:20s} ours [{mine['language']}] {mine['text']}\n{'':20s} f-w  [{language}] {text}")
    subset = [n for n in names if n in english]
    refs = [REFERENCES[n]["text"] for n in subset]
    print(f"English WER over {len(subset)} clips: ours {wer(refs, [ours[names.index(n)]['text'] for n in subset]):.2%}"
          f", faster-whisper {wer(refs, [theirs[names.index(n)][0] for n in subset]):.2%}")
    for language in ("de", "fr", "es"):
        subset = [n for n in names if REFERENCES[n]["language"] == language]
        refs = [basic(REFERENCES[n]["text"]) for n in subset]
        mine = jiwer.wer(refs, [basic(ours[names.index(n)]["text"]) for n in subset])
        other = jiwer.wer(refs, [basic(theirs[names.index(n)][0]) for n in subset])
        detected = [ours[names.index(n)]["language"] for n in subset]
        print(f"{language}: detected {detected}; WER ours {mine:.1%}, faster-whisper {other:.1%}")


if __name__ == "__main__":
    sys.exit(main())
