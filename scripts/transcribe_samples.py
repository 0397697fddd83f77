"""The main job's client: send audio files to a running server (``python -m scripts.serve``) over HTTP, the way a
SageMaker client would, and print each transcript with its language and the round-trip time.

    python -m scripts.transcribe_samples [--url http://127.0.0.1:8080] [FILE ...]
"""

from __future__ import annotations

import argparse
import json
import mimetypes
import sys
import time
from pathlib import Path

import httpx

from scripts.material.data import AUDIO_DIR as SAMPLES

DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT_SECONDS = 600
mimetypes.add_type("audio/mp4", ".m4a")
mimetypes.add_type("audio/webm", ".webm")


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    failures = 0
    with httpx.Client(base_url=arguments.url, timeout=TIMEOUT_SECONDS) as client:
        for path in arguments.files or sorted(SAMPLES.iterdir()):
            failures += not _transcribe(client, path)
    return 1 if failures else 0


def _transcribe(client: httpx.Client, path: Path) -> bool:
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    started = time.perf_counter()
    response = client.post("/invocations", content=path.read_bytes(), headers={"Content-Type": content_type})
    seconds = time.perf_counter() - started
    document = json.loads(response.content)
    if response.status_code != 200:
        print(f"{path.name:22s} HTTP {response.status_code}: {document['error']['message']}", flush=True)
        return False
    print(f"{path.name:22s} [{document['language']}] {seconds:5.2f} s  {document['text']}", flush=True)
    return True


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*", type=Path, help="audio files (default: the bundled samples)")
    parser.add_argument("--url", default=DEFAULT_URL, help=f"the server (default {DEFAULT_URL})")
    return parser


if __name__ == "__main__":
    sys.exit(main())
