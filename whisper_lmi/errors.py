"""The one error type the tool raises on purpose; ``cli.main`` turns it (and AWS errors) into a message."""

from __future__ import annotations


class CliError(Exception):
    """A problem the user can fix; the message says how."""
