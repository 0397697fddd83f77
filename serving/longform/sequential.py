"""Sequential long-form transcription: openai/whisper's ``transcribe`` loop for one request, one window per round.

A window starts where the previous one's last complete segment ended (the "seek"), so a sentence cut by a window
edge is decoded again whole in the next window; the previous text conditions the decoder unless it was decoded at a
high temperature; windows that hold no speech are skipped. Many requests advance together: the scheduler batches
the current window of every request.
"""

from __future__ import annotations

from serving.constants import FRAMES_PER_WINDOW, HOP_LENGTH, MAX_PROMPT_TOKENS, SAMPLE_RATE
from serving.identity import RequestId
from serving.longform.drafts import Draft, window_drafts
from serving.longform.plans import PlanContext, RequestOptions, Samples, WindowOutcome, WindowTask, adopt_language
from serving.longform.quality import PROMPT_RESET_TEMPERATURE, is_silence
from serving.longform.segmenting import single_timestamp_ending
from serving.longform.timeline import clamp_timeline
from serving.longform.words import attach_words
from serving.results import Segment


class SequentialPlan:
    def __init__(self, request: RequestId, waveform: Samples, options: RequestOptions, context: PlanContext,
                 timestamps: bool = True) -> None:
        self.request = request
        self.waveform = waveform
        self.options = options
        self.context = context
        self.language = options.language
        self.language_probability: float | None = None
        self.timestamps = timestamps  # False: a single window decoded as plain text (short audio, no timings)
        self.frames = -(-waveform.shape[0] // HOP_LENGTH)
        self.seek = 0  # mel frames consumed
        self.history: list[int] = list(options.prompt)  # tokens that may condition the next window
        self.prompt_from = 0
        self.last_speech = 0.0
        self.drafts: list[Draft] = []
        self.rounds = 0
        self.waiting = False

    @property
    def done(self) -> bool:
        return not self.waiting and self.seek >= self.frames

    def pending(self) -> list[WindowTask]:
        if self.waiting or self.seek >= self.frames:
            return []
        self.waiting = True
        start = self.seek * HOP_LENGTH
        length = min(FRAMES_PER_WINDOW * HOP_LENGTH, self.waveform.shape[0] - start)
        task = WindowTask(
            request=self.request, options=self.options, key=self.rounds, start=start, length=length,
            prompt=tuple(self.history[self.prompt_from :][-MAX_PROMPT_TOKENS:]),
            timestamps=self.timestamps, words=self.options.words, first=self.rounds == 0,
        )
        self.rounds += 1
        return [task]

    def accept(self, task: WindowTask, outcome: WindowOutcome) -> None:
        adopt_language(self, outcome)
        self.waiting = False
        window_frames = task.frames
        if is_silence(outcome.decoded, self.context.thresholds):
            self.seek += window_frames
            return
        drafts, consumed = window_drafts(self.context, task, outcome.decoded)
        if task.words:
            self.last_speech = attach_words(drafts, list(outcome.timings), task.offset, self.last_speech)
        single_ending = single_timestamp_ending(outcome.decoded.tokens, self.context.vocabulary.timestamp_begin)
        self.seek = self._next_seek(task, drafts, consumed, window_frames, single_ending)
        kept = [d for d in drafts if d.text.strip() and d.end > d.start]
        self.drafts.extend(kept)
        self.history.extend(token for d in kept for token in d.tokens)
        if not self.options.condition_on_previous_text or outcome.decoded.temperature > PROMPT_RESET_TEMPERATURE:
            self.prompt_from = len(self.history)

    def _next_seek(self, task: WindowTask, drafts: list[Draft], consumed: int | None, window_frames: int,
                   single_ending: bool) -> int:
        """openai's seek: past the last complete segment, or the whole window; then, unless the window ended with a
        single timestamp, right after the last word when word timings are known (a window without a timestamp
        pair included)."""
        start = self.seek
        if single_ending:
            return start + window_frames
        seek = start + (window_frames if consumed is None else consumed)
        words = [word for draft in drafts for word in draft.words]
        if words and words[-1].end > task.offset:
            seek = round(words[-1].end * SAMPLE_RATE / HOP_LENGTH)  # openai: resume after the last word
        return seek if seek > start else start + window_frames

    def segments(self) -> list[Segment]:
        duration = self.waveform.shape[0] / SAMPLE_RATE
        frozen = [draft.freeze(self.options.words) for draft in self.drafts]
        return clamp_timeline(frozen, duration)

    def final_segments(self) -> list[Segment]:
        """Every accepted segment is final: the next window starts after it and only adds segments."""
        return self.segments()
