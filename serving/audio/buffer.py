"""The one float32 16 kHz buffer a request's audio is decoded into, chunk by chunk.

Sized from the file's declared length up front, so that the chunks converted from the source rate are written into
it where they belong and the whole waveform is never held twice (a list of chunks joined at the end was: two copies at
the peak). A file that holds more than it declared grows the buffer in place (``ndarray.resize``: ``realloc``, which
moves pages rather than copying them for an allocation this large); the spare room is cut off at the end the same way.
"""

from __future__ import annotations

import numpy as np

from serving.constants import SAMPLE_RATE

GROWTH = 1.5  # a buffer that fills grows by this factor (at least by the chunk being written)
MIN_SAMPLES = SAMPLE_RATE  # the smallest buffer allocated
SLACK_SAMPLES = SAMPLE_RATE  # room beyond the declared length: resampling may give a few samples more


class WaveformBuffer:
    """Appends 16 kHz float32 chunks; :meth:`finish` returns the samples written, in the same memory."""

    def __init__(self, expected_seconds: float | None = None) -> None:
        expected = 0 if expected_seconds is None else int(expected_seconds * SAMPLE_RATE) + SLACK_SAMPLES
        self._samples = np.empty(max(MIN_SAMPLES, expected), dtype=np.float32)
        self._used = 0
        self.allocations = 1  # the buffer's allocations and resizes (each a possible copy): for tests and logs

    @property
    def seconds(self) -> float:
        return self._used / SAMPLE_RATE

    def append(self, chunk: np.ndarray) -> None:
        end = self._used + chunk.shape[0]
        if end > self._samples.shape[0]:
            self._resize(max(end, int(self._samples.shape[0] * GROWTH)))
        self._samples[self._used : end] = chunk
        self._used = end

    def finish(self) -> np.ndarray:
        """The waveform: the buffer itself, cut to what was written (no copy)."""
        if self._used != self._samples.shape[0]:
            self._resize(self._used)
        return self._samples

    def _resize(self, samples: int) -> None:
        self._samples.resize(samples, refcheck=False)  # no view of it has been handed out
        self.allocations += 1
