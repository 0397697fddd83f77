"""One request in flight: its job (audio and parameters), where its speech is, and its plan; and the planner that
opens one (VAD, then the plan that fits the audio). Host work only: no model here.

A session is changed only by the scheduler's thread (``pending``, ``accept``); its result and final segments are
timed in the original audio (speech regions joined -> original instants).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from itertools import groupby
from pathlib import Path

import numpy as np

from serving.api.params import TranscriptionParams
from serving.audio.decode import duration_seconds
from serving.constants import DEFAULT_BEST_OF, MAX_BEAM_SIZE, WINDOW_SAMPLES
from serving.engine.features import window_in_context
from serving.errors import BadParameter, ConfigurationError
from serving.identity import RequestId
from serving.longform.chunked import ChunkedPlan
from serving.longform.plans import Plan, PlanContext, RequestOptions, SilentPlan, WindowOutcome, WindowTask
from serving.longform.sequential import SequentialPlan
from serving.longform.timeline import clamp_timeline
from serving.longform.vad import SileroVad, SpeechMap, VadOptions, speech_pauses, speech_regions
from serving.results import Segment, Transcription

PromptTokens = Callable[[str | None], tuple[int, ...]]


@dataclass(frozen=True)
class Job:
    """What a request asks of the model: its decoded audio and its parameters, under its one identity."""

    request: RequestId
    waveform: np.ndarray
    params: TranscriptionParams

    @classmethod
    def new(cls, waveform: np.ndarray, params: TranscriptionParams, label: str | None = None) -> Job:
        """A job under a fresh identity (tools and benchmarks; the service names each request by its headers)."""
        return cls(RequestId.new(label), waveform, params)


@dataclass(frozen=True)
class Session:
    job: Job
    speech: SpeechMap
    plan: Plan
    ceiling: float | None = None  # the loudest log10 mel bin of the plan's audio (None: each window's own)

    @property
    def request(self) -> RequestId:
        return self.job.request

    @property
    def done(self) -> bool:
        return self.plan.done

    def pending(self) -> list[WindowTask]:
        """The windows the plan can decode now. Taking them commits to decoding them."""
        return self.plan.pending()

    def accept(self, task: WindowTask, outcome: WindowOutcome) -> None:
        self.plan.accept(task, outcome)

    def window_audio(self, task: WindowTask) -> np.ndarray:
        """The task's samples, zero-padded to one window, with the audio around it that the STFT's edge frames see
        (``CONTEXT_WINDOW_SAMPLES``: :func:`serving.engine.features.window_in_context`)."""
        return window_in_context(self.plan.waveform, task.start, task.length)

    def result(self) -> Transcription:
        """The transcription of a finished session."""
        duration = duration_seconds(self.job.waveform)
        segments = clamp_timeline(self._original(self.plan.segments()), duration)
        return Transcription(self.plan.language or "", duration, tuple(segments), self.job.params.task,
                             self.plan.language_probability)

    def final_segments(self) -> list[Segment]:
        """Streaming: the segments that can no longer change, timed as in :meth:`result` (always a prefix)."""
        return clamp_timeline(self._original(self.plan.final_segments()), duration_seconds(self.job.waveform))

    def _original(self, segments: list[Segment]) -> list[Segment]:
        return [part for segment in segments for part in _remapped(segment, self.speech)]


@dataclass(frozen=True)
class PlannerOptions:
    long_form: str = "chunked"  # for requests that do not choose
    vad_model: Path | None = None  # Silero VAD; None: every request is transcribed whole
    beam_size: int = 1  # for requests that do not choose
    best_of: int = DEFAULT_BEST_OF  # for requests that do not choose
    max_beam_size: int = MAX_BEAM_SIZE  # the decoder batch's rows (max_batch_windows)
    language_candidates: tuple[str, ...] = ()  # detection's choice for requests that name no candidates
    timestamps_in_every_format: bool = True  # False: short audio in json/text is decoded as plain text
    chunk_windows: str = "speech"  # chunked windows end at the VAD's pauses ("speech") or overlap everywhere ("fixed")


class Planner:
    """Opens sessions: finds the speech (VAD) and picks the plan for the audio that is left."""

    def __init__(self, context: PlanContext, prompt_tokens: PromptTokens, options: PlannerOptions) -> None:
        self.context = context
        self.prompt_tokens = prompt_tokens
        self.options = options
        self.vad = SileroVad(options.vad_model) if options.vad_model else None
        for language in options.language_candidates:
            if language not in context.vocabulary.known_languages:
                raise ConfigurationError(f"option.language_candidates: the model lacks {language!r}; it knows "
                                         f"{', '.join(context.vocabulary.known_languages)}")

    def open(self, job: Job) -> Session:
        """The request's session; a language the model lacks is refused here, before any window is queued."""
        for language in (job.params.language, *job.params.language_candidates):
            self.context.vocabulary.require_language(language)
        speech = self._speech(job.waveform)
        return Session(job, speech, self._plan(job, speech))

    def _speech(self, waveform: np.ndarray) -> SpeechMap:
        if self.vad is None:
            return SpeechMap.whole(waveform.shape[0])
        probabilities, vad = self.vad.probabilities(waveform), VadOptions()
        regions = speech_regions(probabilities, waveform.shape[0], vad)
        return SpeechMap(tuple(regions), speech_pauses(probabilities, regions, vad))

    def _plan(self, job: Job, speech: SpeechMap) -> Plan:
        options = self._request_options(job.params)
        audio = speech.join(job.waveform)
        if audio.shape[0] == 0:
            return SilentPlan(options)
        if audio.shape[0] <= WINDOW_SAMPLES:
            timed = options.timestamps or options.words or self.options.timestamps_in_every_format
            return SequentialPlan(job.request, audio, options, self.context, timestamps=timed)
        if options.long_form == "chunked":
            pauses = speech.pauses if self.options.chunk_windows == "speech" else ()
            return ChunkedPlan(job.request, audio, options, self.context, pauses)
        return SequentialPlan(job.request, audio, options, self.context)

    def _request_options(self, params: TranscriptionParams) -> RequestOptions:
        beam_size = params.beam_size or self.options.beam_size
        if beam_size > self.options.max_beam_size:
            raise BadParameter(f"parameter 'beam_size'={beam_size}: this server decodes at most "
                               f"{self.options.max_beam_size} beams (its max_batch_windows)")
        return RequestOptions(
            language=params.language, task=params.task, prompt=self.prompt_tokens(params.prompt),
            temperature=params.temperature, timestamps=params.timestamps, words=params.words,
            long_form=params.long_form or self.options.long_form,
            condition_on_previous_text=params.condition_on_previous_text,
            beam_size=beam_size, patience=params.patience or 1.0, length_penalty=params.length_penalty,
            best_of=params.best_of or self.options.best_of,
            language_candidates=params.language_candidates or self.options.language_candidates,
        )


def _remapped(segment: Segment, speech: SpeechMap) -> list[Segment]:
    """A segment of the joined audio in the original audio, covering no stretch between two speech regions (where
    the VAD found no speech for at least ``min_silence_seconds``). Each word goes to the region holding most of it;
    a segment whose words lie in several regions becomes one segment per region (its words' text and tokens, the
    other figures the segment's); one without words (none were asked for) stays in the region holding most of it."""
    placed = []
    for word in segment.words:
        region = speech.region_of(word.start, word.end)
        start, end = speech.original_span(word.start, word.end, region)
        placed.append((region, replace(word, start=start, end=end)))
    if not placed:
        start, end = speech.original_span(segment.start, segment.end, speech.region_of(segment.start, segment.end))
        return [replace(segment, start=start, end=end)]
    groups = [(region, [word for _, word in group]) for region, group in groupby(placed, key=lambda p: p[0])]
    if len(groups) == 1:
        start, end = speech.original_span(segment.start, segment.end, groups[0][0])
        return [replace(segment, start=start, end=end, words=tuple(groups[0][1]))]
    parts = []
    for index, (region, words) in enumerate(groups):
        edges = speech.original_span(segment.start, segment.end, region)
        start = edges[0] if index == 0 else words[0].start
        end = edges[1] if index == len(groups) - 1 else words[-1].end
        parts.append(replace(segment, start=min(start, words[0].start), end=max(end, words[-1].end),
                             text="".join(w.word for w in words), tokens=tuple(t for w in words for t in w.tokens),
                             words=tuple(words)))
    return parts
