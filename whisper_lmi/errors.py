"""The one error type whisper-lmi raises on purpose; the CLI prints it (and AWS errors) as one line."""

from __future__ import annotations


class WhisperLmiError(Exception):
    """A problem the user can fix; the message says how."""
