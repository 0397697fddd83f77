"""How DJL's Java side fails a request: an HTTP error it answers itself, or a dead worker thread."""

from __future__ import annotations


class DjlHttpError(Exception):
    """DJL answers the client itself with ``code``; ``handle()`` output is not used."""

    def __init__(self, code: int, message: str):
        super().__init__(f"HTTP {code}: {message}")
        self.code = code
        self.message = message


class DjlWorkerError(RuntimeError):
    """An unchecked Java exception in PyPredictor (NPE, index out of range): the worker
    thread dies and waiting clients get a WlmException (503 by default)."""
