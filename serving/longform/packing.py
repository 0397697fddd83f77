"""Where chunked long-form windows lie in a request's (joined) audio: packed by speech, or at a fixed overlap.

Packed by speech (issue 14 item 2, as faster-whisper's batched pipeline packs its VAD chunks): a window runs from
where the last one ended to the latest pause (:class:`serving.longform.vad.Pause`) within 30 s, and ends in the middle
of it, so the next one starts in silence and no word is heard twice or cut. Where speech runs across the window's
edge instead, the window is a full 30 s and the next one starts ``overlap`` seconds before its end: that seam is
merged word by word (:mod:`serving.longform.chunked`). Without pauses (no VAD) every window is of that kind: the
fixed overlap.

Which of the two a window takes: a pause at least (30 s - overlap) on (the overlapped window's step) is always
taken: it goes as far and leaves no seam to merge. An earlier one (but at least half a window on) is taken when it
costs no extra window over the rest of the audio (followed for at most LOOKAHEAD windows); otherwise the window
overlaps the next. So the windows are never more than the fixed overlap's, and a pause that comes free is used.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from serving.constants import SAMPLE_RATE, WINDOW_SAMPLES, WINDOW_SECONDS
from serving.longform.vad import Pause

MIN_FILL = 0.5  # a window ending at a pause before the overlapped window's step holds at least this share of 30 s
LOOKAHEAD = 8  # windows followed to tell whether an early cut costs a window
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
    across an edge. ``pauses`` in order and apart, in samples of the same audio. Where the audio ends in a pause, the
    last window need only reach that pause's start (the silence after it, beyond the window's 30 s, is left out)."""
    packer = _Packer(samples, pauses, int((WINDOW_SECONDS - overlap_seconds) * SAMPLE_RATE))
    windows, start = [], 0
    while packer.speech_end - start > WINDOW_SAMPLES:
        cut = packer.cut(start, start + round(MIN_FILL * WINDOW_SAMPLES))
        if cut is not None and (cut >= start + packer.step or packer.no_more_windows(cut, start + packer.step)):
            windows.append(Window(start, cut - start, at_pause=True))
            start = cut
        else:
            windows.append(Window(start, WINDOW_SAMPLES))
            start += packer.step
    windows.append(Window(start, min(samples - start, WINDOW_SAMPLES)))
    return windows


def speech_end(pauses: Sequence[Pause], cut: int) -> int:
    """Where the speech before ``cut`` stops: the start of the pause ``cut`` lies in (``cut`` itself in none). With
    ``cut`` the audio's length: where its speech ends (the start of the pause it ends in, if it does)."""
    index = bisect.bisect_right([pause.start for pause in pauses], cut) - 1
    if index >= 0 and pauses[index].start <= cut <= pauses[index].end:
        return pauses[index].start
    return cut


class _Packer:
    def __init__(self, samples: int, pauses: Sequence[Pause], step: int) -> None:
        self.samples = samples
        self.pauses = pauses
        self.ends = [pause.end for pause in pauses]
        self.step = step  # an overlapped window's: 30 s less the overlap
        self.speech_end = speech_end(pauses, samples)  # the last window must reach this far

    def cut(self, start: int, low: int) -> int | None:
        """The latest place inside a pause (by the margin, its middle if it can) in [low, start + 30 s]."""
        margin = round(PAUSE_MARGIN_SECONDS * SAMPLE_RATE)
        high = start + WINDOW_SAMPLES
        first = bisect.bisect_right(self.ends, low + margin)
        best = None
        for pause in self.pauses[first:]:
            if pause.start + margin > high:
                break
            lowest, highest = max(low, pause.start + margin), min(high, pause.end - margin)
            if lowest <= highest:
                cut = min(max((pause.start + pause.end) // 2, lowest), highest)
                best = cut if best is None else max(best, cut)
        return best

    def farthest(self, start: int) -> int:
        """Where the next window starts when this one goes as far as it can (the end: it is the last)."""
        if self.speech_end - start <= WINDOW_SAMPLES:
            return self.samples
        cut = self.cut(start, start + self.step)
        return cut if cut is not None else start + self.step

    def no_more_windows(self, early: int, late: int) -> bool:
        """The rest of the audio takes no more windows from ``early`` than from ``late`` (> early), going as far as
        possible from each: the fewest windows from a place never grow with it, and going as far as possible
        keeps that order, so once ``early``'s path is level with ``late``'s after as many windows, it takes no more.
        Undecided after LOOKAHEAD windows: no."""
        for _ in range(LOOKAHEAD):
            early, late = self.farthest(early), self.farthest(late)
            if early >= late:
                return True
            if late == self.samples:
                return False
        return False
