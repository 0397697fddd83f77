"""Console-script entry point ``whisper-lmi`` (see scripts/sagemaker/cli.py)."""

from __future__ import annotations

import sys

from scripts.sagemaker.cli import main

if __name__ == "__main__":
    sys.exit(main())
