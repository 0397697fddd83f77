"""Where the committed test material lives: ``tests/data/audio/`` (the speech clips, with
``tests/data/references.json``) and ``tests/data/longform/`` (the long-form sentences, with their own
``references.json``)."""

from __future__ import annotations

from scripts.paths import PROJECT_ROOT

DATA_DIR = PROJECT_ROOT / "tests" / "data"
AUDIO_DIR = DATA_DIR / "audio"
REFERENCES_FILE = DATA_DIR / "references.json"
LONGFORM_DIR = DATA_DIR / "longform"
LONGFORM_REFERENCES_FILE = LONGFORM_DIR / "references.json"
