"""Peak memory while a block runs: resident set size (CPU) or torch's max allocated bytes (GPU)."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache

import torch

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
SAMPLE_SECONDS = 0.002
MIB = 1024 * 1024


def resident_bytes() -> int:
    """This process's resident set size, from /proc/self/statm (second field, in pages)."""
    with open("/proc/self/statm", "rb") as statm:
        return int(statm.read().split()[1]) * PAGE_BYTES


@dataclass
class Peak:
    """Filled in when the block ends: the peak in bytes and what it measures."""

    bytes: int = 0
    kind: str = ""

    @property
    def mib(self) -> float:
        return self.bytes / MIB


class _RssSampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.peak = resident_bytes()
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(SAMPLE_SECONDS):
            self.peak = max(self.peak, resident_bytes())


@lru_cache(maxsize=1)
def _libc():
    name = ctypes.util.find_library("c")
    return ctypes.CDLL(name) if name else None


def release_freed_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc ``malloc_trim``), so that memory a previous
    scenario freed but the allocator kept does not hide the next scenario's peak."""
    gc.collect()
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


@contextmanager
def peak_rss_above_start():
    """Peak RSS during the block above the RSS just before it (the working memory, weights excluded)."""
    peak = Peak(kind="peak RSS above the pre-run RSS")
    release_freed_memory()
    start = resident_bytes()
    sampler = _RssSampler()
    sampler.start()
    try:
        yield peak
    finally:
        sampler.stopped.set()
        sampler.join()
        peak.bytes = max(sampler.peak, resident_bytes()) - start


@contextmanager
def peak_cuda_allocated():
    """torch.cuda.max_memory_allocated during the block, reset at its start (weights included)."""
    peak = Peak(kind="torch.cuda.max_memory_allocated (weights included)")
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    try:
        yield peak
    finally:
        torch.cuda.synchronize()
        peak.bytes = torch.cuda.max_memory_allocated()


def peak_memory(gpu: bool):
    return peak_cuda_allocated() if gpu else peak_rss_above_start()
