"""Read serving.properties the way DJL hands it to the handler: ``option.`` stripped, other keys as written."""

from __future__ import annotations

from pathlib import Path

from scripts.paths import PROJECT_ROOT

SERVING_PROPERTIES = PROJECT_ROOT / "serving.properties"


def read_properties(path: Path = SERVING_PROPERTIES) -> dict[str, str]:
    """Java-properties subset: ``key=value`` lines, ``#``/``!`` comments, blank lines; anything else is an error."""
    entries: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", "!")):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{path}:{number}: not a key=value line: {raw!r}")
        entries[key.strip()] = value.strip()
    return entries


SYNC_MODE = {"option.async_mode": "false", "option.handler": "handle", "batch_size": "8", "max_batch_delay": "50"}


def sync_handler_options(**overrides: str) -> dict[str, str]:
    """serving.properties switched to DJL's sync mode (dynamic batching, ``handle``), with ``option.`` overrides."""
    return {**handler_options(), **SYNC_MODE, **{f"option.{key}": value for key, value in overrides.items()}}


def handler_options(path: Path = SERVING_PROPERTIES, **overrides: str) -> dict[str, str]:
    """serving.properties as written (``option.`` kept), with ``option.<key>`` overrides applied."""
    entries = read_properties(path)
    entries.update({f"option.{key}": value for key, value in overrides.items()})
    return entries
