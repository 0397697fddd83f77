"""The orchestrator: many requests' waveforms -> one transcription each, all windows batched on the model together.

Each request gets a plan (one window for short audio; sequential or chunked long-form). Rounds repeat until every
plan is done:

1. collect the pending windows of every plan, first windows first (their language is detected before any other
   window of the request is decoded), and cut them into GPU batches of ``capacity``;
2. per batch: log-mel, encoder, language detection, decoding with temperature fallback (only the windows that fail
   the quality tests are decoded again, hotter), word alignment where wanted;
3. hand each plan its outcomes; sequential plans then offer their next window.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from serving.api.params import TranscriptionParams
from serving.audio.decode import duration_seconds
from serving.constants import WINDOW_SAMPLES
from serving.engine.decoded import DecodedWindow
from serving.engine.decoding import AlignmentRequest, DecodeOptions, EngineOptions, WhisperDecoder
from serving.engine.features import LogMel
from serving.engine.loading import LoadedModel, input_device
from serving.longform.chunked import ChunkedPlan
from serving.longform.plans import (
    Plan,
    PlanContext,
    RequestOptions,
    WindowOutcome,
    WindowTask,
    window_audio,
)
from serving.longform.quality import Thresholds, compression_ratio, needs_fallback, temperatures
from serving.longform.sequential import SequentialPlan
from serving.longform.timeline import clamp_timeline
from serving.longform.vad import SileroVad, SpeechMap, VadOptions, speech_regions
from serving.results import Segment, Transcription
from serving.timing import StageTimer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    waveform: np.ndarray
    params: TranscriptionParams


@dataclass(frozen=True)
class Session:
    """One request in flight: its audio, where its speech is, and its plan."""

    job: Job
    speech: SpeechMap
    plan: Plan

    @property
    def done(self) -> bool:
        return self.plan.done


@dataclass(frozen=True)
class TranscriberOptions:
    engine: EngineOptions = field(default_factory=EngineOptions)
    thresholds: Thresholds = field(default_factory=Thresholds)
    long_form: str = "chunked"  # for requests that do not choose
    chunk_overlap_seconds: float = 6.0
    vad_model: Path | None = None  # Silero VAD; None: every request is transcribed whole


class Transcriber:
    def __init__(self, loaded: LoadedModel, options: TranscriberOptions) -> None:
        self.options = options
        self.decoder = WhisperDecoder(loaded, options.engine)
        self.log_mel = LogMel(loaded.processor.feature_extractor.mel_filters, input_device(loaded.model))
        self.capacity = options.engine.capacity
        self.context = PlanContext(
            self.decoder.vocabulary, self.decoder.text, options.thresholds, options.chunk_overlap_seconds
        )
        self.vad = SileroVad(options.vad_model) if options.vad_model else None

    def transcribe(self, jobs: Sequence[Job]) -> list[Transcription]:
        """Sync mode: every request of a DJL batch, round after round until all are done."""
        started = time.perf_counter()
        timer = StageTimer()
        with timer("vad"):
            sessions = {i: self.open(i, job) for i, job in enumerate(jobs)}
        windows = 0
        while tasks := self.pending(sessions.values()):
            windows += len(tasks)
            for begin in range(0, len(tasks), self.capacity):
                self.run_batch(tasks[begin : begin + self.capacity], sessions, timer)
        with timer("segments"):
            results = [self.result(sessions[i]) for i in range(len(jobs))]
        _log_timing(results, windows, time.perf_counter() - started, timer)
        return results

    # ---- the steps, for a scheduler that interleaves requests (async mode) ------------------------------------

    def open(self, key: int, job: Job) -> Session:
        """Find the speech and plan the windows of one request (host work: no model)."""
        speech = self._speech(job.waveform)
        return Session(job, speech, self._plan(key, job, speech))

    @staticmethod
    def pending(sessions: Iterable[Session]) -> list[WindowTask]:
        """The windows the sessions can decode now, first windows first (their language is needed by the rest).
        Taking them commits to decoding them: each must reach :meth:`run_batch`."""
        tasks = [task for session in sessions for task in session.plan.pending()]
        return sorted(tasks, key=lambda t: (not t.first, t.plan, t.key))

    def run_batch(self, batch: list[WindowTask], sessions: Mapping[int, Session], timer: StageTimer) -> None:
        """One GPU batch of at most ``capacity`` windows; each outcome goes to its session's plan."""
        plans = {key: sessions[key].plan for key in {task.plan for task in batch}}
        self._run_batch(batch, plans, timer)

    def result(self, session: Session) -> Transcription:
        """The transcription of a finished session, timed in the original audio."""
        return self._result(session.plan, session.job, session.speech)

    @staticmethod
    def final_segments(session: Session) -> list[Segment]:
        """Streaming: the segments of a session in flight that can no longer change, timed as in :meth:`result`
        (always a prefix of its segments)."""
        segments = [_remapped(segment, session.speech) for segment in session.plan.final_segments()]
        return clamp_timeline(segments, duration_seconds(session.job.waveform))

    # ---- 1. plans ---------------------------------------------------------------------------------------------

    def _speech(self, waveform: np.ndarray) -> SpeechMap:
        if self.vad is None:
            return SpeechMap.whole(waveform.shape[0])
        regions = speech_regions(self.vad.probabilities(waveform), waveform.shape[0], VadOptions())
        return SpeechMap(tuple(regions))

    def _plan(self, index: int, job: Job, speech: SpeechMap) -> Plan:
        params = job.params
        options = RequestOptions(
            language=params.language, task=params.task, prompt=self.decoder.prompt_tokens(params.prompt),
            temperature=params.temperature, timestamps=params.timestamps, words=params.words,
            long_form=params.long_form or self.options.long_form,
            condition_on_previous_text=params.condition_on_previous_text,
        )
        audio = speech.join(job.waveform)
        if audio.shape[0] == 0:
            return SilentPlan(options)
        if audio.shape[0] <= WINDOW_SAMPLES:
            timed = options.timestamps or options.words
            return SequentialPlan(index, audio, options, self.context, timestamps=timed)
        if options.long_form == "chunked":
            return ChunkedPlan(index, audio, options, self.context)
        return SequentialPlan(index, audio, options, self.context)

    @staticmethod
    def _result(plan: Plan, job: Job, speech: SpeechMap) -> Transcription:
        """The plan's segments, timed in the original audio (speech regions joined -> original instants)."""
        duration = duration_seconds(job.waveform)
        segments = [_remapped(segment, speech) for segment in plan.segments()]
        return Transcription(plan.language or "", duration, tuple(clamp_timeline(segments, duration)), job.params.task)

    # ---- 2. one GPU batch -------------------------------------------------------------------------------------

    def _run_batch(self, batch: list[WindowTask], plans: Mapping[int, Plan], timer: StageTimer) -> None:
        with timer("log-mel"):
            features = self.log_mel(np.stack([window_audio(plans[t.plan].waveform, t) for t in batch]))
        with timer("encode"):
            states = self.decoder.encode(features)
        with timer("detect"):
            self._detect(batch, plans, states)
        with timer("decode"):
            decoded = self._decode_with_fallback(batch, plans, states)
        with timer("align"):
            timings = self._align(batch, plans, states, decoded)
        for task, window, words in zip(batch, decoded, timings):
            plans[task.plan].accept(task, WindowOutcome(window, tuple(words)))

    def _detect(self, batch: list[WindowTask], plans: Mapping[int, Plan], states: torch.Tensor) -> None:
        rows = [i for i, t in enumerate(batch) if t.first and plans[t.plan].language is None]
        if not rows:
            return
        if not self.decoder.is_multilingual:
            for i in rows:
                plans[batch[i].plan].language = "en"
            return
        for i, code in zip(rows, self.decoder.detect_languages(states[rows])):
            plans[batch[i].plan].language = code

    def _decode_with_fallback(self, batch: list[WindowTask], plans: Mapping[int, Plan], states) -> list[DecodedWindow]:
        """Decode every window; those that fail the quality tests are decoded again at the next temperature."""
        schedules = [temperatures(plans[t.plan].options.temperature) for t in batch]
        level = [0] * len(batch)
        attempts: list[list[DecodedWindow]] = [[] for _ in batch]
        rows = list(range(len(batch)))
        while rows:
            options = [self._options(batch[i], plans, schedules[i][level[i]]) for i in rows]
            languages = [plans[batch[i].plan].language or "en" for i in rows]
            subset = states if len(rows) == len(batch) else states[rows]
            for i, window in zip(rows, self.decoder.decode(subset, languages, options)):
                attempts[i].append(window)
            rows = [i for i in rows if level[i] + 1 < len(schedules[i]) and self._failed(attempts[i][-1])]
            for i in rows:
                level[i] += 1
                self._log_retry(batch[i], attempts[i][-1], schedules[i][level[i]])
        if any(level):
            self.decoder.search.bind(states)  # a retry bound a subset: word alignment needs the whole batch
        return [self._best(tries) for tries in attempts]

    def _log_retry(self, task: WindowTask, failed: DecodedWindow, temperature: float) -> None:
        text = self.decoder.text.decode(failed.tokens)
        logger.debug(
            "request %s, window at %.1f s: %d tokens, compression ratio %.2f, avg logprob %.2f; again at temperature %.1f",
            task.plan, task.offset, len(failed.tokens), compression_ratio(text), failed.avg_logprob, temperature,
        )

    def _failed(self, window: DecodedWindow) -> bool:
        return needs_fallback(window, self.decoder.text.decode(window.tokens), self.options.thresholds)

    def _best(self, tries: list[DecodedWindow]) -> DecodedWindow:
        """The last attempt if it passed; when every temperature failed, the likeliest attempt that is not a loop
        (faster-whisper's rule: openai keeps the hottest, often the worst)."""
        if len(tries) == 1 or not self._failed(tries[-1]):
            return tries[-1]
        limit = self.options.thresholds.compression_ratio
        looping = [compression_ratio(self.decoder.text.decode(t.tokens)) > limit for t in tries]
        candidates = [t for t, loop in zip(tries, looping) if not loop] or tries
        return max(candidates, key=lambda t: t.avg_logprob)

    @staticmethod
    def _options(task: WindowTask, plans: Mapping[int, Plan], temperature: float) -> DecodeOptions:
        return DecodeOptions(plans[task.plan].options.task, task.prompt, temperature, task.timestamps)

    def _align(self, batch: list[WindowTask], plans: Mapping[int, Plan], states, decoded: list[DecodedWindow]) -> list[list]:
        wanted = [i for i, t in enumerate(batch) if t.words and decoded[i].tokens]
        timings: list[list] = [[] for _ in batch]
        if not wanted:
            return timings
        eot = self.decoder.vocabulary.eot
        requests = [
            AlignmentRequest(i, plans[batch[i].plan].language or "en", plans[batch[i].plan].options.task,
                             tuple(t for t in decoded[i].tokens if t < eot), batch[i].frames)
            for i in wanted
        ]
        for i, words in zip(wanted, self.decoder.align(requests)):
            timings[i] = words
        return timings


class SilentPlan:
    """A request without speech: no window to decode, no segment."""

    def __init__(self, options: RequestOptions) -> None:
        self.options = options
        self.language = options.language
        self.waveform = np.zeros(0, dtype=np.float32)

    done = True

    def pending(self) -> list[WindowTask]:
        return []

    def accept(self, task: WindowTask, outcome: WindowOutcome) -> None:
        raise AssertionError("a silent plan has no windows")

    def segments(self) -> list:
        return []

    def final_segments(self) -> list:
        return []


def _remapped(segment: Segment, speech: SpeechMap) -> Segment:
    words = []
    for word in segment.words:
        start, end = speech.original_span(word.start, word.end)
        words.append(replace(word, start=start, end=end))
    start, end = speech.original_span(segment.start, segment.end)
    return replace(segment, start=start, end=end, words=tuple(words))


def _log_timing(results: list[Transcription], windows: int, seconds: float, timer: StageTimer) -> None:
    audio_seconds = sum(r.duration for r in results)
    logger.info(
        "transcribed %d request(s), %d window(s), %.1f s of audio in %.2f s (RTFx %.1f): %s",
        len(results), windows, audio_seconds, seconds, audio_seconds / max(seconds, 1e-9), timer,
    )
