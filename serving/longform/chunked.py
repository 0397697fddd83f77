"""Chunked long-form transcription: windows of up to 30 s, all decoded at once, merged word by word where they overlap.

Windows end in the pauses the VAD found where they can, and the next one starts there; where speech runs across a
window's edge, the next one overlaps it by ``chunk_overlap_seconds`` (:mod:`serving.longform.packing`; without
pauses, every seam overlaps). A seam at a pause is a plain cut: each window keeps its segments as decoded. Every
window is decoded with timestamps; a window with an overlapping seam is aligned to words too (all of them when the
request asks for word timestamps). At each overlapping seam, the words both windows heard in the overlap are matched
by their text (difflib), and the merge switches from the earlier window to the later one at the matched word nearest
the middle of the overlap: each word is taken once, from a window where it lies away from the edge. Without a match
(silence, disagreement) the middle of the overlap is the cut.

A window that starts inside a sentence can make Whisper skip speech (it jumps to the next sentence start it trusts):
the two windows of that seam then disagree on the words they both heard. Such a seam is repaired once: the later
window is decoded again from the start of the earlier window's segment that runs into the overlap (a sentence start),
and replaces it. Likewise Whisper often leaves out a sentence cut by the end of its window, which for the last
window is the end of the audio: when the last window's words stop short of the end, one more window is decoded from
where they stop (Whisper's own seek), and silence there gives no words. It does so too with the last sentence
before a pause a window ends at (8 of the 10 windows of the compare benchmark's 300 s file), so such a window is told
where its speech stops (``WindowTask.speech_until``: the pause's start, less TAIL_GAP_SECONDS), and Whisper may not
end before a timestamp there (:mod:`serving.engine.logit_rules`). Where its text still stops short of the pause, the
audio from there to the pause is decoded once more, as a window between the two (a gap window)."""

from __future__ import annotations

import difflib
import string
from collections.abc import Sequence
from dataclasses import dataclass

from serving.constants import SAMPLE_RATE, WINDOW_SAMPLES, WINDOW_SECONDS
from serving.identity import RequestId
from serving.longform.drafts import Draft, window_drafts
from serving.longform.packing import Window, fixed_windows, packed_windows, speech_end
from serving.longform.plans import PlanContext, RequestOptions, Samples, WindowOutcome, WindowTask, adopt_language
from serving.longform.quality import is_silence
from serving.longform.timeline import clamp_timeline
from serving.longform.vad import Pause
from serving.longform.words import attach_words
from serving.results import Segment, Word

MATCH_AGREEMENT_SECONDS = 1.5  # two windows' timings of one word differ by less than this
AGREEING_RUN = 2  # consecutive matched words that show two windows heard the same speech at a seam
DISAGREEMENT_MIN_WORDS = 3  # words each window must have in the overlap before a disagreement counts
REPAIR_MARGIN_SECONDS = 2.0  # a repair window keeps at least this much overlap with its neighbours
TAIL_GAP_SECONDS = 1.5  # the last window's words end this long before the audio does: decode the rest again
_PUNCTUATION = str.maketrans("", "", string.punctuation + "¿¡“”„«»…")


@dataclass(frozen=True)
class _Placed:
    """A word of one window, with its place: (draft index, word index in the draft)."""

    word: Word
    draft: int
    index: int


def window_starts(samples: int, overlap_seconds: float) -> list[int]:
    """First sample of each window at the fixed overlap: every (30 s - overlap), until a window reaches the end."""
    return [window.start for window in fixed_windows(samples, overlap_seconds)]


class ChunkedPlan:
    """``pauses``: where the audio has no speech (the VAD's, in samples of ``waveform``); none: fixed overlap."""

    def __init__(self, request: RequestId, waveform: Samples, options: RequestOptions, context: PlanContext,
                 pauses: Sequence[Pause] = ()) -> None:
        self.request = request
        self.waveform = waveform
        self.options = options
        self.context = context
        self.language = options.language
        self.language_probability: float | None = None
        self.pauses = tuple(pauses)
        samples = waveform.shape[0]
        self.speech_end = speech_end(self.pauses, samples)  # the audio's end, or the start of the pause it ends in
        windows = packed_windows(samples, pauses, context.chunk_overlap_seconds)
        self.tasks = [
            WindowTask(request=request, options=options, key=key, start=window.start, length=window.length,
                       prompt=options.prompt, timestamps=True, words=options.words or _overlaps(windows, key),
                       first=key == 0,
                       speech_until=self._speech_until(window.start, window.end)
                       if self._ends_in_pause(window) else None)
            for key, window in enumerate(windows)
        ]
        self.ends_at_pause = {key for key, window in enumerate(windows) if window.at_pause}
        self.outcomes: dict[int, WindowOutcome] = {}
        self.issued = False
        self.repairs: list[WindowTask] = []  # repair windows not handed out yet
        self.repaired: set[int] = set()  # positions of windows already replaced by a repair
        self.tail_added = False
        self.gaps_checked: set[int] = set()  # windows ending at a pause whose words were checked for a gap

    @property
    def done(self) -> bool:
        return all(task.key in self.outcomes for task in self.tasks)

    def pending(self) -> list[WindowTask]:
        if not self.issued:
            self.issued = True
            return list(self.tasks)
        repairs, self.repairs = self.repairs, []
        return repairs

    def accept(self, task: WindowTask, outcome: WindowOutcome) -> None:
        adopt_language(self, outcome)
        self.outcomes[task.key] = outcome
        position = next(i for i, t in enumerate(self.tasks) if t.key == task.key)
        for right in (position, position + 1):
            if 0 < right < len(self.tasks) and right not in self.repaired and self._decoded(right - 1, right):
                self._repair_if_disagreeing(right)
        if position == len(self.tasks) - 1 and not self.tail_added and self._decoded(position) and _cut_at_end(task):
            self._add_tail_if_short(self.tasks[position])
        elif task.key in self.ends_at_pause and task.key not in self.gaps_checked and self.tasks[position] == task:
            self._add_gap_if_short(position)

    def _add_gap_if_short(self, position: int) -> None:
        """A window that ends at a pause and whose words stop more than TAIL_GAP_SECONDS before the pause starts:
        Whisper left out its last sentence (as it often does with one it takes for cut by the window's end). The
        audio from where its words stop to the window's end is decoded once more, as a window of its own placed
        after it. Words that stop where the pause starts left nothing out, however long the pause."""
        window = self.tasks[position]
        self.gaps_checked.add(window.key)
        stop = _text_end(self._drafts(window))
        if stop is None:
            return
        start, end = round(stop * SAMPLE_RATE), window.start + window.length
        if speech_end(self.pauses, end) - start < TAIL_GAP_SECONDS * SAMPLE_RATE or start <= window.start:
            return
        gap = WindowTask(request=self.request, options=self.options, key=self._next_key(), start=start,
                         length=end - start, prompt=self.options.prompt, timestamps=True, words=self.options.words,
                         first=False, speech_until=self._speech_until(start, end))
        self.gaps_checked.add(gap.key)
        self.ends_at_pause.add(gap.key)
        self.tasks.insert(position + 1, gap)
        self.repaired = {p + 1 if p > position else p for p in self.repaired}
        self.repairs.append(gap)

    def _speech_until(self, start: int, end: int) -> float | None:
        """For a window from ``start`` that ends at a pause at ``end``: how far into it (s) its text must reach,
        TAIL_GAP_SECONDS short of where its speech stops (None: its speech is shorter than that)."""
        until = (speech_end(self.pauses, end) - start) / SAMPLE_RATE - TAIL_GAP_SECONDS
        return until if until > 0 else None

    def _ends_in_pause(self, window: Window) -> bool:
        """The window ends at a pause: one it was cut in, or the one the audio ends in (the last window)."""
        return window.at_pause or self.speech_end < self.waveform.shape[0] and window.end >= self.speech_end

    def _add_tail_if_short(self, last: WindowTask) -> None:
        stop = _text_end(self._drafts(last))
        stop = last.offset if stop is None else stop
        start = round(stop * SAMPLE_RATE)
        covers_the_end = last.start + last.length >= self.speech_end  # a repaired last window may end before it
        if (covers_the_end and self.speech_end - start < TAIL_GAP_SECONDS * SAMPLE_RATE) or start <= last.start:
            return
        tail = WindowTask(request=self.request, options=self.options, key=self._next_key(), start=start,
                          length=min(WINDOW_SAMPLES, self.waveform.shape[0] - start), prompt=self.options.prompt,
                          timestamps=True, words=True, first=False)
        self.tail_added = True
        self.tasks.append(tail)
        self.repairs.append(tail)

    def _decoded(self, *positions: int) -> bool:
        return all(self.tasks[p].key in self.outcomes for p in positions)

    def _repair_if_disagreeing(self, right: int) -> None:
        left_task, right_task = self.tasks[right - 1], self.tasks[right]
        left_drafts = self._drafts(left_task)
        earlier, later = _placed(left_drafts), _placed(self._drafts(right_task))
        if not _disagree(earlier, later, right_task.offset, self._end(left_task)):
            return
        start = self._repair_start(right, left_drafts)
        if start is None:
            return
        # A window that ended at a pause is replaced up to that pause: the seam after it stays a plain cut.
        end = right_task.start + right_task.length if right_task.key in self.ends_at_pause else self.waveform.shape[0]
        key = self._next_key()
        repair = WindowTask(request=self.request, options=self.options, key=key, start=start,
                            length=min(WINDOW_SAMPLES, end - start), prompt=self.options.prompt,
                            timestamps=True, words=True, first=False)
        if right_task.key in self.ends_at_pause and start + WINDOW_SAMPLES >= end:
            self.ends_at_pause.add(key)
        self.tasks[right] = repair
        self.repaired.add(right)
        self.repairs.append(repair)

    def _repair_start(self, right: int, left_drafts: list[Draft]) -> int | None:
        """The start of the earlier window's segment that runs into the overlap, if a window from there still
        overlaps both neighbours by REPAIR_MARGIN_SECONDS and differs from the window it replaces."""
        overlap_start = self.tasks[right].offset
        crossing = next((d for d in left_drafts if d.end > overlap_start), None)
        if crossing is None:
            return None
        start = crossing.start
        lowest = self.tasks[right - 1].offset + REPAIR_MARGIN_SECONDS
        if right + 1 < len(self.tasks):
            lowest = max(lowest, self.tasks[right + 1].offset + REPAIR_MARGIN_SECONDS - WINDOW_SECONDS)
        if start < lowest or abs(start - overlap_start) < 0.5:
            return None
        return round(start * SAMPLE_RATE)

    def _next_key(self) -> int:
        return max(max(t.key for t in self.tasks), max(self.outcomes, default=-1)) + 1

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
        placed = [_placed(window) for window in drafts]
        keep = [[0, len(words)] for words in placed]
        for left in range(len(tasks) - 1):
            if tasks[left].words and tasks[left + 1].words:
                keep[left][1], keep[left + 1][0] = _seam(placed[left], placed[left + 1], tasks[left + 1].offset,
                                                         self._end(tasks[left]))
        return [_kept_segments(window_drafts_, words[low:high], self.options.words) if task.words
                else [draft.freeze(with_words=False) for draft in window_drafts_]
                for task, window_drafts_, words, (low, high) in zip(tasks, drafts, placed, keep)]

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


def _overlaps(windows: Sequence[Window], key: int) -> bool:
    """Window ``key`` overlaps a neighbour (a seam merged word by word, so its words are aligned): the one before
    did not end at a pause, or it does not and is not the last."""
    after = not windows[key].at_pause and key < len(windows) - 1
    return after or (key > 0 and not windows[key - 1].at_pause)


def _text_end(drafts: list[Draft]) -> float | None:
    """Where a window's text stops (s): its last word's end where its words are aligned, else its last segment's."""
    words = _placed(drafts)
    if words:
        return words[-1].word.end
    return drafts[-1].end if drafts else None


def _placed(drafts: list[Draft]) -> list[_Placed]:
    """A window's words in order, each with its place in the window's drafts."""
    return [_Placed(w, d, i) for d, draft in enumerate(drafts) for i, w in enumerate(draft.words)]


def _cut_at_end(task: WindowTask) -> bool:
    """The audio runs (nearly) to the end of this window: its last sentence may be cut there."""
    return task.length > WINDOW_SAMPLES - TAIL_GAP_SECONDS * SAMPLE_RATE


def _disagree(earlier: list[_Placed], later: list[_Placed], overlap_start: float, overlap_end: float) -> bool:
    """The earlier window heard words in the overlap and the later one none of them: no run of AGREEING_RUN words
    is the same speech in both (the later window heard nothing there, or other words)."""
    a_words = [p for p in earlier if p.word.end > overlap_start and p.word.start < overlap_end]
    b_words = [p for p in later if p.word.start < overlap_end and p.word.end > overlap_start]
    if len(a_words) < DISAGREEMENT_MIN_WORDS:
        return False
    if not b_words:
        return True
    matcher = difflib.SequenceMatcher(None, [_norm(p.word) for p in a_words], [_norm(p.word) for p in b_words],
                                      autojunk=False)
    return not any(
        sum(1 for k in range(block.size)
            if abs(_middle(a_words[block.a + k].word) - _middle(b_words[block.b + k].word)) < MATCH_AGREEMENT_SECONDS)
        >= AGREEING_RUN
        for block in matcher.get_matching_blocks()
    )


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
