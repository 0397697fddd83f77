"""The container environment, the same for a SageMaker model, a transform job and ``local``."""

from __future__ import annotations

from collections.abc import Sequence

from whisper_lmi.errors import CliError


def parse_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings from ``--env``."""
    result = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CliError(f"--env {pair!r}: expected KEY=VALUE")
        result[key] = value
    return result


def container_environment(extra: Sequence[str]) -> dict[str, str]:
    """Environment variables for the container. An ``OPTION_*`` variable only applies to options that
    serving.properties leaves out (the file wins): set packaged options with ``package`` instead."""
    return parse_pairs(extra)
