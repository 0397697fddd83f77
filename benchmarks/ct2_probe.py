"""Can CTranslate2 run a Whisper model on this device? Run in a subprocess: a missing CUDA library can abort it.

    python -m benchmarks.ct2_probe CT2_DIR DEVICE COMPUTE_TYPE    # prints "ok", exit code 0, when it can
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from serving.constants import FRAMES_PER_WINDOW

PROBE_TIMEOUT_SECONDS = 300


def probe(ct2_dir: Path, device: str, compute_type: str) -> str:
    """The empty string when CTranslate2 encodes and generates on ``device``, else the reason it cannot."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.ct2_probe", str(ct2_dir), device, compute_type],
            capture_output=True, text=True, timeout=PROBE_TIMEOUT_SECONDS,
        )
    except subprocess.TimeoutExpired:
        return f"CTranslate2 on {device} did not answer within {PROBE_TIMEOUT_SECONDS} s"
    if done.returncode == 0:
        return ""
    lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
    return f"CTranslate2 on {device} failed (exit code {done.returncode}): {lines[-1] if lines else 'no output'}"


def main(argv: list[str]) -> int:
    import ctranslate2

    ct2_dir, device, compute_type = argv
    if device == "cuda" and ctranslate2.get_cuda_device_count() == 0:
        print("ctranslate2 sees no CUDA device (get_cuda_device_count() == 0)", file=sys.stderr)
        return 1
    model = ctranslate2.models.Whisper(ct2_dir, device=device, compute_type=compute_type)
    mels = json.loads((Path(ct2_dir) / "preprocessor_config.json").read_text())["feature_size"]
    features = ctranslate2.StorageView.from_array(np.zeros((1, mels, FRAMES_PER_WINDOW), dtype=np.float32))
    model.generate(features, [["<|startoftranscript|>"]], max_length=2)
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
