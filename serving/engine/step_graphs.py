"""CUDA graphs of the decoding step: one per (row bucket, optional-work flags), captured on first use into one
shared memory pool, so that a step costs one graph launch instead of hundreds of kernel launches from Python."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import torch

logger = logging.getLogger(__name__)

WARMUP_RUNS = 2  # eager runs on a side stream before capture (cuBLAS handles, autotuning)

Flags = tuple[bool, bool, bool]
StepFunction = Callable[[int, Flags], None]


def bucket_sizes(capacity: int) -> list[int]:
    """Powers of two below ``capacity``, and ``capacity`` itself."""
    sizes, size = [], 1
    while size < capacity:
        sizes.append(size)
        size *= 2
    return sizes + [capacity]


class StepGraphs:
    def __init__(self, step: StepFunction, buckets: list[int]) -> None:
        self.step = step
        self.buckets = buckets
        self.graphs: dict[tuple[int, Flags], torch.cuda.CUDAGraph] = {}
        self.pool = None

    def bucket(self, rows: int) -> int:
        return next(size for size in self.buckets if size >= rows)

    def has(self, rows: int, flags: Flags) -> bool:
        return (self.bucket(rows), flags) in self.graphs

    def capture(self, rows: int, flags: Flags) -> None:
        key = (self.bucket(rows), flags)
        self.graphs[key] = self._capture(*key)

    def replay(self, rows: int, flags: Flags) -> None:
        self.graphs[(self.bucket(rows), flags)].replay()

    def capture_all(self, flags: list[Flags]) -> None:
        """Capture ahead of traffic (at model load), so that no request pays for it."""
        started = time.perf_counter()
        for size in self.buckets:
            for flag in flags:
                if (size, flag) not in self.graphs:
                    self.graphs[(size, flag)] = self._capture(size, flag)
        logger.info("captured %d decoding-step CUDA graphs in %.1f s", len(self.graphs), time.perf_counter() - started)

    def _capture(self, rows: int, flags: Flags) -> torch.cuda.CUDAGraph:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(WARMUP_RUNS):
                self.step(rows, flags)
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph, pool=self.pool):
            self.step(rows, flags)
        if self.pool is None:
            self.pool = graph.pool()
        return graph
