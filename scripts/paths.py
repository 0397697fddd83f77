"""Where things are in the repository checkout, defined once for every part of ``scripts``."""

from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
