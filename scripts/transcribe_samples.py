"""The main job on a laptop: build the embedded whisper-base on first use, start the handler the way DJL does
(serving.properties options in a first, empty Input), and transcribe the bundled sample files through ``handle()``.

    python -m scripts.transcribe_samples [FILE ...]
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import os
import sys
import time
from pathlib import Path

from scripts.djl_requests import initial_input, outputs_of, request_input
from scripts.embedded_model import ensure_whisper_base
from scripts.properties import PROJECT_ROOT, handler_options

SAMPLES = PROJECT_ROOT / "tests" / "data" / "audio"
mimetypes.add_type("audio/mp4", ".m4a")
mimetypes.add_type("audio/webm", ".webm")


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from serving import model  # imported after HF_HUB_OFFLINE is set

    started = time.perf_counter()
    model_dir = str(arguments.model or ensure_whisper_base())
    options = handler_options(model_id=model_dir)
    assert model.handle(initial_input(options, model_dir=str(PROJECT_ROOT), device_id="-1")) is None
    print(f"model {model_dir} ready in {time.perf_counter() - started:.1f} s", flush=True)
    for path in arguments.files or sorted(SAMPLES.iterdir()):
        _transcribe(model, path)
    return 0


def _transcribe(model, path: Path) -> None:
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    request = request_input(path.read_bytes(), {"Content-Type": content_type}, model_dir=str(PROJECT_ROOT))
    started = time.perf_counter()
    (response,) = outputs_of(model.handle(request))
    seconds = time.perf_counter() - started
    result = json.loads(response.body)
    if response.code != 200:
        print(f"{path.name:22s} HTTP {response.code}: {result['error']['message']}")
        return
    print(f"{path.name:22s} [{result['language']}] {seconds:5.2f} s  {result['text']}", flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path, help="audio files (default: the bundled samples)")
    parser.add_argument("--model", type=Path, help="a transformers Whisper directory (default: embedded whisper-base)")
    return parser


if __name__ == "__main__":
    sys.exit(main())
