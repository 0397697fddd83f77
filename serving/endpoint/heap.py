"""Hand freed heap memory back to the OS (glibc's ``malloc_trim``) after a long request.

Decoding an hour of audio allocates and frees thousands of chunk-sized arrays (tens of MB each at the source rate);
glibc keeps much of that in its arenas after they are freed, so resident memory stays high after the request is
answered (measured in ``benchmarks/hour_memory.py``). ``malloc_trim(0)`` returns the free pages of every arena. Where
the C library is not glibc (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from functools import cache

logger = logging.getLogger(__name__)


@cache
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


def trim_heap() -> bool:
    """Return free heap pages to the OS; whether the C library could."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
