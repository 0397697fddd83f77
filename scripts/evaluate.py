"""WER and language detection of ours (through handle()) and of faster-whisper on the same weights, bundled clips.

    python -m scripts.evaluate

The scores are computed and printed by ``scripts.scoring.clip_comparison``.
"""

from __future__ import annotations

import json
import os
import sys
import time

from scripts.conversion.embedded_model import ensure_whisper_base
from scripts.djl.batching import batch_input
from scripts.djl.model_load import initial_input
from scripts.djl.outputs import outputs_of
from scripts.djl.properties import sync_handler_options
from scripts.djl.requests import request_input
from scripts.material.clips import clip_bytes, clips
from scripts.paths import PROJECT_ROOT
from scripts.scoring.clip_comparison import print_comparison
from scripts.scoring.reference import faster_whisper_transcribe


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
    print_comparison(names, [json.loads(body) for body in ours], theirs)
    print(f"wall time for all {len(names)} clips: ours {ours_seconds:.1f} s (one batch), faster-whisper "
          f"{theirs_seconds:.1f} s (one by one)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
