"""Names: the endpoint's is the user's and stays; each deploy or update gives its model and endpoint config a new,
unique one (``<endpoint>-YYYYmmdd-HHMMSS-xxxx``), so nothing collides and a live endpoint can be switched over."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from whisper_lmi.errors import WhisperLmiError

MAX_NAME = 63  # SageMaker's limit for model, endpoint config and endpoint names
NAME_PATTERN = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*")
STAMP_FORMAT = "%Y%m%d-%H%M%S"
TOKEN_BYTES = 2
SUFFIX = r"\d{8}-\d{6}-[0-9a-f]{4}"
SUFFIX_LENGTH = len("-YYYYmmdd-HHMMSS-xxxx")


@dataclass(frozen=True)
class ResourceNames:
    endpoint: str
    model: str
    config: str


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _token() -> str:
    return secrets.token_hex(TOKEN_BYTES)


@dataclass(frozen=True)
class Naming:
    clock: Callable[[], datetime] = field(default=_now)
    token: Callable[[], str] = field(default=_token)

    def next(self, endpoint: str) -> ResourceNames:
        check_endpoint_name(endpoint)
        name = f"{endpoint}-{self.clock().strftime(STAMP_FORMAT)}-{self.token()}"
        return ResourceNames(endpoint=endpoint, model=name, config=name)


def check_endpoint_name(name: str) -> None:
    longest = MAX_NAME - SUFFIX_LENGTH
    if not NAME_PATTERN.fullmatch(name) or len(name) > longest:
        raise WhisperLmiError(f"endpoint name {name!r}: letters, digits and hyphens, starting and ending with a "
                              f"letter or digit, at most {longest} characters")


def generated_for(endpoint: str, name: str) -> bool:
    """Whether ``name`` is one that ``Naming`` gives for ``endpoint``."""
    return re.fullmatch(rf"{re.escape(endpoint)}-{SUFFIX}", name) is not None
