"""Chunked long-form transcription: overlapping 30 s windows, all decoded at once, merged word by word.

Consecutive windows overlap by ``chunk_overlap_seconds``. Every window is decoded with timestamps and aligned to
words. At each seam, the words both windows heard in the overlap are matched by their text (difflib), and the merge
switches from the earlier window to the later one at the matched word nearest the middle of the overlap: each word
is taken once, from a window where it lies away from the edge. Without a match (silence, disagreement) the middle
of the overlap is the cut.
"""

from __future__ import annotations

import difflib
import string
from dataclasses import dataclass

import numpy as np

from serving.constants import SAMPLE_RATE, WINDOW_SAMPLES, WINDOW_SECONDS
from serving.plans import (
    Draft, PlanContext, RequestOptions, WindowOutcome, WindowTask, attach_words, clamp_timeline, window_drafts,
)
from serving.quality import is_silence
from serving.results import Segment, Word

MATCH_AGREEMENT_SECONDS = 1.5  # two windows' timings of one word differ by less than this
_PUNCTUATION = str.maketrans("", "", string.punctuation + "¿¡“”„«»…")


@dataclass(frozen=True)
class _Placed:
    """A word of one window, with its place: (draft index, word index in the draft)."""

    word: Word
    draft: int
    index: int


def window_starts(samples: int, overlap_seconds: float) -> list[int]:
    """First sample of each window: every (30 s - overlap), until a window reaches the end."""
    step = int((WINDOW_SECONDS - overlap_seconds) * SAMPLE_RATE)
    starts = [0]
    while starts[-1] + WINDOW_SAMPLES < samples:
        starts.append(starts[-1] + step)
    return starts


class ChunkedPlan:
    def __init__(self, index: int, waveform: np.ndarray, options: RequestOptions, context: PlanContext) -> None:
        self.index = index
        self.waveform = waveform
        self.options = options
        self.context = context
        self.language = options.language
        samples = waveform.shape[0]
        self.tasks = [
            WindowTask(plan=index, key=key, start=start, length=min(WINDOW_SAMPLES, samples - start),
                       prompt=options.prompt, timestamps=True, words=True, first=key == 0)
            for key, start in enumerate(window_starts(samples, context.chunk_overlap_seconds))
        ]
        self.outcomes: dict[int, WindowOutcome] = {}
        self.issued = False

    @property
    def done(self) -> bool:
        return len(self.outcomes) == len(self.tasks)

    def pending(self) -> list[WindowTask]:
        if self.issued:
            return []
        self.issued = True
        return list(self.tasks)

    def accept(self, task: WindowTask, outcome: WindowOutcome) -> None:
        self.outcomes[task.key] = outcome

    def segments(self) -> list[Segment]:
        return self._timeline(self._merged_windows(len(self.tasks)))

    def final_segments(self) -> list[Segment]:
        """The segments of the windows before the first one not decoded yet, except the last of those: its seam
        with the next window is still open. All of them once every window is decoded."""
        if self.done:
            return self.segments()
        decoded = next(i for i, task in enumerate(self.tasks) if task.key not in self.outcomes)
        return self._timeline(self._merged_windows(decoded)[:-1])

    def _merged_windows(self, count: int) -> list[list[Segment]]:
        """The segments each of the first ``count`` windows keeps after the seam merges between them (a seam
        depends only on its two windows, so a window's share is settled once both its neighbours are decoded)."""
        tasks = self.tasks[:count]
        drafts = [self._drafts(task) for task in tasks]
        placed = [[_Placed(w, d, i) for d, draft in enumerate(ds) for i, w in enumerate(draft.words)] for ds in drafts]
        keep = [[0, len(words)] for words in placed]
        for left in range(len(tasks) - 1):
            keep[left][1], keep[left + 1][0] = _seam(placed[left], placed[left + 1], tasks[left + 1].offset,
                                                     self._end(tasks[left]))
        return [_kept_segments(window_drafts_, words[low:high], self.options.words)
                for window_drafts_, words, (low, high) in zip(drafts, placed, keep)]

    def _timeline(self, windows: list[list[Segment]]) -> list[Segment]:
        return clamp_timeline([s for segments in windows for s in segments], self.waveform.shape[0] / SAMPLE_RATE)

    def _drafts(self, task: WindowTask) -> list[Draft]:
        outcome = self.outcomes[task.key]
        if is_silence(outcome.decoded, self.context.thresholds):
            return []
        drafts, _ = window_drafts(self.context, task, outcome.decoded, keep_tail=True)
        attach_words(drafts, list(outcome.timings), task.offset, task.offset)
        return drafts

    @staticmethod
    def _end(task: WindowTask) -> float:
        return task.offset + task.length / SAMPLE_RATE


def _seam(earlier: list[_Placed], later: list[_Placed], overlap_start: float, overlap_end: float) -> tuple[int, int]:
    """(words kept from the earlier window: its prefix length, first word kept from the later window)."""
    cut = (overlap_start + overlap_end) / 2
    a_from = next((i for i, p in enumerate(earlier) if p.word.end > overlap_start), len(earlier))
    b_to = next((i for i, p in enumerate(later) if p.word.start >= overlap_end), len(later))
    a_words, b_words = earlier[a_from:], later[:b_to]
    if not b_words:
        return len(earlier), b_to
    if not a_words:
        return len(earlier), 0
    pair = _best_match(a_words, b_words, cut)
    if pair is not None:
        i, j = pair
        return a_from + i + 1, j + 1
    return (
        a_from + sum(1 for p in a_words if _middle(p.word) < cut),
        next((j for j, p in enumerate(later) if _middle(p.word) >= cut), len(later)),
    )


def _best_match(a_words: list[_Placed], b_words: list[_Placed], cut: float) -> tuple[int, int] | None:
    """The matched word pair nearest the cut, preferring pairs inside longer runs of agreeing words."""
    matcher = difflib.SequenceMatcher(None, [_norm(p.word) for p in a_words], [_norm(p.word) for p in b_words],
                                      autojunk=False)
    candidates = []
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            a, b = a_words[block.a + k].word, b_words[block.b + k].word
            if _norm(a) and abs(_middle(a) - _middle(b)) < MATCH_AGREEMENT_SECONDS:
                distance = abs((_middle(a) + _middle(b)) / 2 - cut)
                candidates.append((block.size < 2, distance, block.a + k, block.b + k))
    if not candidates:
        return None
    _, _, i, j = min(candidates)
    return i, j


def _kept_segments(drafts: list[Draft], kept: list[_Placed], with_words: bool) -> list[Segment]:
    by_draft: dict[int, list[_Placed]] = {}
    for placed in kept:
        by_draft.setdefault(placed.draft, []).append(placed)
    segments = []
    for d, words in by_draft.items():
        draft = drafts[d]
        whole = len(words) == len(draft.words)
        if not whole:
            draft = Draft(
                start=words[0].word.start if words[0].index > 0 else draft.start,
                end=words[-1].word.end if words[-1].index < len(draft.words) - 1 else draft.end,
                tokens=tuple(t for p in words for t in draft.word_tokens[p.index]),
                text="".join(p.word.word for p in words),
                text_tokens=tuple(t for p in words for t in draft.word_tokens[p.index]),
                decoded=draft.decoded, words=[p.word for p in words],
            )
        segments.append(draft.freeze(with_words))
    return segments


def _norm(word: Word) -> str:
    return word.word.lower().translate(_PUNCTUATION).strip()


def _middle(word: Word) -> float:
    return (word.start + word.end) / 2
