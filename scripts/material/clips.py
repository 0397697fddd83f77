"""The committed test clips of ``tests/data/audio/`` and their reference texts (made by ``python -m scripts.make_speech``;
``tests/data/references.json`` lists them)."""

from __future__ import annotations

import json

from scripts.material.data import AUDIO_DIR, REFERENCES_FILE

REFERENCES: dict[str, dict] = json.loads(REFERENCES_FILE.read_text(encoding="utf-8"))


def clip_bytes(name: str) -> bytes:
    return (AUDIO_DIR / name).read_bytes()


def clips(language: str | None = None, codec: str | None = None) -> list[str]:
    return sorted(
        name
        for name, info in REFERENCES.items()
        if (language is None or info["language"] == language) and (codec is None or info["codec"] == codec)
    )


def english_speech_clips() -> list[str]:
    """English clips with distinct sentences (the codec clips repeat one sentence and are tested on their own)."""
    return [name for name in clips("en") if not name.startswith("codec_")]
