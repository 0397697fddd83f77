"""Where chunked long-form windows lie in a request's (joined) audio: packed by speech, or at a fixed overlap.

Packed by speech (issue 14 item 2, as faster-whisper's batched pipeline packs its VAD chunks): each window runs from
where the last one ended to the latest pause (:class:`serving.longform.vad.Pause`) that lets it fill at least half a
window, and ends in the middle of that pause, so the next one starts in silence and no word is heard twice or cut.
Only where no such pause exists (speech runs across the window's edge) is the window a full 30 s, and the next one
starts ``overlap`` seconds before its end: that seam is merged word by word (:mod:`serving.longform.chunked`).
Without pauses (no VAD) every window is of that kind: the fixed overlap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from serving.constants import SAMPLE_RATE, WINDOW_SAMPLES, WINDOW_SECONDS
from serving.longform.vad import Pause

MIN_FILL = 0.5  # a window ending at a pause holds at least this share of 30 s of audio
PAUSE_MARGIN_SECONDS = 0.1  # a cut lies at least this far inside its pause (the VAD's frames are 32 ms)


@dataclass(frozen=True)
class Window:
    """Samples ``start`` to ``start + length`` of the joined audio; ``at_pause``: it ends in a pause (its seam with
    the next window is a plain cut), else the next window overlaps it (or it is the last)."""

    start: int
    length: int
    at_pause: bool = False

    @property
    def end(self) -> int:
        return self.start + self.length


def fixed_windows(samples: int, overlap_seconds: float) -> list[Window]:
    """Every (30 s - overlap) a window, until one reaches the end."""
    return packed_windows(samples, (), overlap_seconds)


def packed_windows(samples: int, pauses: Sequence[Pause], overlap_seconds: float) -> list[Window]:
    """Windows covering ``samples`` of audio: cut in the pauses where they can be, overlapping where speech runs
    across an edge. ``pauses`` in order, in samples of the same audio."""
    step = int((WINDOW_SECONDS - overlap_seconds) * SAMPLE_RATE)
    windows, start = [], 0
    while True:
        if samples - start <= WINDOW_SAMPLES:
            windows.append(Window(start, samples - start))
            return windows
        cut = _cut(start, pauses)
        if cut is None:
            windows.append(Window(start, WINDOW_SAMPLES))
            start += step
        else:
            windows.append(Window(start, cut - start, at_pause=True))
            start = cut


def _cut(start: int, pauses: Sequence[Pause]) -> int | None:
    """The latest place inside a pause where a window from ``start`` may end (at least half full, at most 30 s)."""
    margin = round(PAUSE_MARGIN_SECONDS * SAMPLE_RATE)
    low, high = start + round(MIN_FILL * WINDOW_SAMPLES), start + WINDOW_SAMPLES
    best = None
    for pause in pauses:
        lowest, highest = max(low, pause.start + margin), min(high, pause.end - margin)
        if lowest <= highest:
            cut = min(max((pause.start + pause.end) // 2, lowest), highest)
            best = cut if best is None else max(best, cut)
    return best
