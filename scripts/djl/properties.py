"""serving.properties entries as DJL hands them to the handler (the file itself ships with ``whisper_lmi.artifact``,
which reads it), switched to sync mode or with options overridden for tests and tools."""

from __future__ import annotations

from pathlib import Path

from whisper_lmi.artifact.layout import SERVING_PROPERTIES
from whisper_lmi.artifact.properties import read_properties

__all__ = ["SERVING_PROPERTIES", "handler_options", "read_properties", "sync_handler_options"]


SYNC_MODE = {"option.async_mode": "false", "option.handler": "handle", "batch_size": "8", "max_batch_delay": "50"}


def sync_handler_options(**overrides: str) -> dict[str, str]:
    """serving.properties switched to DJL's sync mode (dynamic batching, ``handle``), with ``option.`` overrides."""
    return {**handler_options(), **SYNC_MODE, **{f"option.{key}": value for key, value in overrides.items()}}


def handler_options(path: Path = SERVING_PROPERTIES, **overrides: str) -> dict[str, str]:
    """serving.properties as written (``option.`` kept), with ``option.<key>`` overrides applied."""
    entries = read_properties(path)
    entries.update({f"option.{key}": value for key, value in overrides.items()})
    return entries
