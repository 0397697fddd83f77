"""The distribution names a requirements.txt lists (normalized as pip does)."""

from __future__ import annotations

import re
from pathlib import Path

REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def requirement_names(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0]
        match = REQUIREMENT_NAME.match(line)
        if match and not line.lstrip().startswith("-"):
            names.add(re.sub(r"[-_.]+", "-", match.group(1)).lower())
    return names
