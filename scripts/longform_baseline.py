"""faster-whisper on the long test file: its WER, wall time and seam errors, the figures a long-form algorithm is
measured against (issue 3); measured by ``scripts.scoring.longform_baseline``.

    python -m scripts.longform_baseline [--min-seconds 300] [--n 3] [--radius-words 8]
"""

from __future__ import annotations

import argparse
import os
import sys

from scripts.scoring.longform_baseline import print_baseline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--min-seconds", type=float, default=300.0)
    parser.add_argument("--n", type=int, default=3, help="n-gram length for the seam errors")
    parser.add_argument("--radius-words", type=int, default=8, help="words either side of a seam")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    print_baseline(args.min_seconds, n=args.n, radius_words=args.radius_words)
    return 0


if __name__ == "__main__":
    sys.exit(main())
