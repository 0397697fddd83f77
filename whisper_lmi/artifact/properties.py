"""serving.properties as DJL reads it: ``key=value`` lines, ``#``/``!`` comments and blank lines."""

from __future__ import annotations

import logging
from pathlib import Path

from whisper_lmi.errors import WhisperLmiError

logger = logging.getLogger(__name__)
OPTION_PREFIX = "option."


def parse_properties(text: str, source: str) -> dict[str, str]:
    """The entries of a serving.properties text, keys as written; anything but the subset above is an error."""
    entries: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", "!")):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise WhisperLmiError(f"{source}:{number}: not a key=value line: {raw!r}")
        entries[key.strip()] = value.strip()
    return entries


def read_properties(path: Path) -> dict[str, str]:
    return parse_properties(path.read_text(), str(path))


def option_names(properties: dict[str, str]) -> set[str]:
    """The options a file sets, ``option.`` stripped (what an ``OPTION_<NAME>`` variable would name)."""
    return {key[len(OPTION_PREFIX):] for key in properties if key.startswith(OPTION_PREFIX)}


def set_property(path: Path, key: str, value: str) -> None:
    """Rewrite (or add) ``key`` in a serving.properties file, keeping its comments."""
    lines = path.read_text().splitlines()
    replaced = False
    for index, line in enumerate(lines):
        if line.strip().partition("=")[0].strip() == key:
            lines[index] = f"{key}={value}"
            replaced = True
    if not replaced:
        lines.append(f"{key}={value}")
    path.write_text("\n".join(lines) + "\n")
    logger.info("%s: %s=%s", path, key, value)
