"""A request's one identity, from the moment it arrives until its log line: the scheduler's queue, the plans'
windows, error bodies and every log line name the request by this value."""

from __future__ import annotations

import itertools
import re
import uuid
from dataclasses import dataclass, field

MAX_LABEL_CHARS = 64  # a client's id is cut here before it reaches a log line
_UNSAFE = re.compile(r"[^A-Za-z0-9._:/+=-]")  # anything else (controls, spaces, quotes) is dropped from labels
_serials = itertools.count(1)


@dataclass(frozen=True, order=True)
class RequestId:
    """``serial`` is unique in the process and orders requests by arrival; ``label`` is the id a client or DJL gave
    the request (``X-Amzn-SageMaker-Inference-Id``, ``X-Request-Id``), or a fresh one: what logs and error bodies
    show. Two clients sending the same id are still two requests."""

    serial: int
    label: str = field(compare=False)

    @classmethod
    def new(cls, label: str | None = None) -> RequestId:
        return cls(next(_serials), safe_label(label))

    def __str__(self) -> str:
        return self.label


def safe_label(value: str | None) -> str:
    """A client-chosen id made fit for a log line: no line breaks or odd characters, bounded; a fresh id when
    nothing is left."""
    cleaned = _UNSAFE.sub("", value or "")[:MAX_LABEL_CHARS]
    return cleaned or uuid.uuid4().hex[:12]
