"""Per-stage wall-clock timings for the log."""

from __future__ import annotations

import time
from contextlib import contextmanager


class StageTimer:
    """Accumulates milliseconds per named stage: ``with timer("encode"): ...``; ``str(timer)`` for the log."""

    def __init__(self) -> None:
        self.milliseconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, (time.perf_counter() - started) * 1000)

    def add(self, stage: str, milliseconds: float) -> None:
        self.milliseconds[stage] = self.milliseconds.get(stage, 0.0) + milliseconds

    def __str__(self) -> str:
        return ", ".join(f"{stage} {ms:.0f} ms" for stage, ms in self.milliseconds.items())
