"""faster-whisper's reference results cached on disk beside the converted model: keyed by the input, the options,
the model and faster-whisper's version, computed by faster-whisper once per machine and never written by hand; a
killed run never leaves half an entry."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from typing import Any

from scripts.conversion.cache import cache_root
from scripts.conversion.embedded_model import ensure_ct2_whisper_base


def cached(kind: str, key: bytes, compute: Callable[[], Any]) -> Any:
    """The JSON value stored for (kind, key), else ``compute()``'s, stored."""
    path = cache_path(kind, key)
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps(value))
    partial.replace(path)
    return value


def cache_path(kind: str, key: bytes):
    from faster_whisper import __version__

    digest = hashlib.sha256(key + f"|{ensure_ct2_whisper_base().name}|{__version__}".encode()).hexdigest()[:32]
    return cache_root() / kind / f"{digest}.json"
