"""Limits shared by the fetchers: the most bytes and seconds a fetch may take, and a reader that enforces both."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from serving.errors import AudioTooLarge, SourceTimeout

CHUNK_BYTES = 256 * 1024


@dataclass(frozen=True)
class FetchLimits:
    max_bytes: int
    timeout_seconds: float


@dataclass(frozen=True)
class Deadline:
    """A point in time (monotonic clock) after which a fetch is abandoned."""

    seconds: float
    started: float = field(default_factory=time.monotonic)

    def remaining(self) -> float:
        return self.seconds - (time.monotonic() - self.started)

    def expired(self) -> bool:
        return self.remaining() <= 0

    def check(self, source: object) -> None:
        if self.expired():
            raise SourceTimeout(f"{source} did not arrive within {self.seconds:g} s")


def read_capped(read: Callable[[int], bytes], limits: FetchLimits, deadline: Deadline, source: object) -> bytes:
    """Call ``read(n)`` until it returns b""; refuse once more than ``max_bytes`` arrived or the deadline passed
    (also at the end: a connection cut at the deadline ends like a complete body)."""
    chunks: list[bytes] = []
    total = 0
    while True:
        deadline.check(source)
        chunk = read(CHUNK_BYTES)
        if not chunk:
            deadline.check(source)
            return b"".join(chunks)
        total += len(chunk)
        if total > limits.max_bytes:
            raise AudioTooLarge(f"{source} is larger than the limit of {limits.max_bytes} bytes")
        chunks.append(chunk)
