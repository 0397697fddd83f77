"""The runner: one batch of windows through the model, and what happened to each window, as data.

For a batch (windows of one or many requests, at most ``capacity``): log-mel, encoder, language detection for the
requests that name none, one decoding of each window at its temperature, word alignment where wanted. A window that
fails the quality tests comes back as a retry (:attr:`BatchResult.retries`: the same window at the next temperature,
its attempts so far attached) that the scheduler queues like any window: one window's fallback never holds up the
other windows of its batch. Decoding is bounded: each window gets a token cap from its audio's length, a window that
degenerates stops early (:mod:`serving.engine.degeneration`), all attempts of a window share a token budget
(:mod:`serving.longform.quality`), and the request's time budget bounds them in time. A retry's encoder states are
kept until it comes back (at most ``KEPT_STATES_PER_WINDOW`` x ``capacity`` windows' states, the oldest dropped first:
a window whose states were dropped is encoded again), so a retry costs its decoding only.

Step-level scheduling (:meth:`Runner.join`, :meth:`Runner.advance`, :meth:`Runner.leave`): windows that decode in
independent rows (greedy: one row; above temperature 0: one row per sample of ``best_of``, seeds 0, 1, ...) join the
decoder's running batch (:mod:`serving.engine.running_batch`) between steps, after their log-mel, encoder and
language detection; :meth:`Runner.advance` runs some steps and returns the windows whose rows have all ended (of
several samples, the likeliest), judged and aligned like a batch's (:class:`StepResult`). Windows with beams decode
as a whole batch (:meth:`Runner.run`) while the running batch is empty.

The runner reads the sessions (audio, options, language) and changes none of them: :class:`BatchResult` says what
each window gave, and the scheduler applies it. A batch that raises has changed nothing, so its windows can be run
again.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from serving.batching.sessions import Job, Planner, PlannerOptions, Session
from serving.constants import SAMPLE_RATE, WINDOW_SAMPLES
from serving.engine.decoded import DecodedWindow, WordTiming
from serving.engine.decoding import AlignmentRequest, EngineOptions, SearchOptions, WhisperDecoder, best_sample
from serving.engine.degeneration import window_token_cap
from serving.engine.features import PAD_FEATURES, LogMel
from serving.engine.loading import LoadedModel, input_device
from serving.engine.token_search import WindowPrompt
from serving.engine.vocabulary import ENGLISH
from serving.identity import RequestId
from serving.longform.plans import PlanContext, WindowOutcome, WindowTask
from serving.longform.quality import (
    FALLBACK_TOKEN_FACTOR,
    MIN_RETRY_TOKENS,
    Thresholds,
    compression_ratio,
    is_trusted_attempt,
    needs_fallback,
    temperatures,
)
from serving.timing import StageTimer

logger = logging.getLogger(__name__)

STAGES = ("log-mel", "encode", "detect", "generate", "align")  # the runner's stages, in order, in every BatchResult
KEPT_STATES_PER_WINDOW = 2  # retries' encoder states kept: this many batches' worth


@dataclass(frozen=True)
class RunnerOptions:
    engine: EngineOptions = field(default_factory=EngineOptions)
    thresholds: Thresholds = field(default_factory=Thresholds)
    chunk_overlap_seconds: float = 6.0
    planner: PlannerOptions = field(default_factory=PlannerOptions)
    log_mel_padding: str = PAD_FEATURES  # serving.engine.features: PAD_FEATURES (faster-whisper) or PAD_AUDIO


@dataclass(frozen=True)
class BatchResult:
    """What one batch gave: ``outcomes[i]`` for the batch's window i (None: it is in ``retries``, to be decoded again
    at its next temperature), and the milliseconds of each stage."""

    outcomes: tuple[WindowOutcome | None, ...]
    stages_ms: Mapping[str, float]
    retries: tuple[WindowTask, ...] = ()


@dataclass(frozen=True)
class StepResult:
    """What some steps of the running batch gave: the windows that ended (``outcomes[i]`` for ``ended[i]``; None: it
    is in ``retries``), the windows that were on the model meanwhile, and the milliseconds of each stage."""

    ended: tuple[WindowTask, ...]
    outcomes: tuple[WindowOutcome | None, ...]
    stages_ms: Mapping[str, float]
    retries: tuple[WindowTask, ...] = ()
    running: tuple[WindowTask, ...] = ()


@dataclass(frozen=True)
class _Row:
    """A row of the running batch: a window, or one of its ``best_of`` samples (a window's rows share its task)."""

    task: WindowTask
    language: str
    probability: float | None  # of the language detected on this window; None: not detected here
    states: torch.Tensor  # its encoder states (kept for a retry)


def _window_key(task: WindowTask) -> tuple[RequestId, int]:
    """A window's identity in the runner (its samples' rows share it; a retry keeps it)."""
    return task.request, task.key


def most_likely(probabilities: Mapping[str, float], candidates: Sequence[str] = ()) -> tuple[str, float]:
    """The likeliest language and its probability; with ``candidates``, among them only (renormalised)."""
    if candidates:
        probabilities = {code: probabilities.get(code, 0.0) for code in candidates}
    total = sum(probabilities.values())
    language = max(probabilities, key=probabilities.get)
    return language, probabilities[language] / total if total > 0 else 0.0


class Runner:
    def __init__(self, loaded: LoadedModel, options: RunnerOptions) -> None:
        self.options = options
        self.decoder = WhisperDecoder(loaded, options.engine)
        self.log_mel = LogMel(loaded.processor.feature_extractor.mel_filters, input_device(loaded.model),
                              options.log_mel_padding)
        self.capacity = options.engine.capacity
        context = PlanContext(self.decoder.vocabulary, self.decoder.text, options.thresholds,
                              options.chunk_overlap_seconds)
        self.planner = Planner(context, self.decoder.prompt_tokens, options.planner)
        self._kept: OrderedDict[tuple[RequestId, int], torch.Tensor] = OrderedDict()  # retries' encoder states
        self._rows: dict[int, _Row] = {}  # the running batch: slot -> window

    def open(self, job: Job) -> Session:
        """Find the speech and plan the windows of one request (host work: no model); audio over one window gets
        the loudest bin of its log-mel, the ceiling of every window's (``serving.engine.features``)."""
        session = self.planner.open(job)
        if session.plan.waveform.shape[0] > WINDOW_SAMPLES:
            session = replace(session, ceiling=self.log_mel.ceiling(session.plan.waveform))
        return session

    def run(self, batch: Sequence[WindowTask], sessions: Mapping[RequestId, Session]) -> BatchResult:
        """At most ``capacity`` windows; ``sessions`` holds the session of every request in the batch."""
        timer = StageTimer()
        states = self._encoder_states(batch, sessions, timer)
        with timer("detect"):
            languages, probabilities = self._languages(batch, sessions,
                                                       lambda rows: self.decoder.detect_languages(states[rows]))
        with timer("generate"):
            decoded = self._decode(batch, languages, states)
        finals, retries = self._judge(batch, decoded)
        self._keep_states(batch, finals, states)
        with timer("align"):
            timings = self._align(batch, languages, states, finals)
        outcomes = tuple(None if d is None else WindowOutcome(d, tuple(w), languages[t.request],
                                                        probabilities.get(t.request))
                         for t, d, w in zip(batch, finals, timings))
        return BatchResult(outcomes, {stage: timer.milliseconds.get(stage, 0.0) for stage in STAGES}, tuple(retries))

    # ---- encoder states -------------------------------------------------------------------------------------

    def _encoder_states(self, batch: Sequence[WindowTask], sessions: Mapping[RequestId, Session],
                        timer: StageTimer) -> torch.Tensor:
        """The windows' encoder states: kept ones for retries, the others from log-mel and the encoder."""
        kept = [self._kept.pop(_window_key(t), None) if t.attempts else None for t in batch]
        fresh = [t for t, k in zip(batch, kept) if k is None]
        if len(fresh) == len(batch):
            return self._encode(fresh, sessions, timer)
        encoded = iter(self._encode(fresh, sessions, timer) if fresh else ())
        return torch.stack([k if k is not None else next(encoded) for k in kept])

    def _encode(self, batch: Sequence[WindowTask], sessions: Mapping[RequestId, Session],
                timer: StageTimer) -> torch.Tensor:
        with timer("log-mel"):
            windows = np.stack([sessions[t.request].window_audio(t) for t in batch])
            features = self.log_mel(windows, [t.length for t in batch], [sessions[t.request].ceiling for t in batch])
        with timer("encode"):
            return self.decoder.encode(features)

    def _keep_states(self, batch: Sequence[WindowTask], finals: list[DecodedWindow | None],
                     states: torch.Tensor) -> None:
        """Keep each retry's states (a copy of its row: not the whole batch's tensor) until it comes back."""
        for i, (task, final) in enumerate(zip(batch, finals)):
            if final is None:
                self._keep(task, states[i])

    # ---- language ---------------------------------------------------------------------------------------------

    def _languages(self, batch: Sequence[WindowTask], sessions: Mapping[RequestId, Session],
                   detect: Callable[[list[int]], list[dict[str, float]]]
                   ) -> tuple[dict[RequestId, str], dict[RequestId, float]]:
        """The language of each request in the batch: its own, else detected on its first window in the batch
        (English for English-only models), among the request's candidates when it names some; and the detected
        ones' probabilities (renormalised over the candidates, as openai/whisper's masked softmax gives)."""
        known = {t.request: sessions[t.request].plan.language for t in batch}
        rows = {}
        for i, task in enumerate(batch):
            if known[task.request] is None and task.request not in rows:
                rows[task.request] = i
        detected: dict[RequestId, float] = {}
        if rows:
            probabilities = detect(list(rows.values()))
            for (request, row), probs in zip(rows.items(), probabilities):
                language, probability = most_likely(probs, batch[row].options.language_candidates)
                known[request], detected[request] = language, probability
        return {request: language or ENGLISH for request, language in known.items()}, detected

    # ---- decoding ---------------------------------------------------------------------------------------------

    def _decode(self, batch: Sequence[WindowTask], languages: Mapping[RequestId, str],
                states: torch.Tensor) -> list[DecodedWindow]:
        """One decoding of every window, at its temperature of the fallback schedule (the first for a new window),
        within its token cap and what is left of its budget."""
        return self.decoder.decode(states, [self._first_prompt(task, languages) for task in batch])

    def _judge(self, batch: Sequence[WindowTask], decoded: list[DecodedWindow]
               ) -> tuple[list[DecodedWindow | None], list[WindowTask]]:
        """Per window, what to keep (None: decode it again); and the windows to decode again at the next
        temperature: those that failed the quality tests while a hotter temperature and enough tokens are left."""
        finals: list[DecodedWindow | None] = []
        retries = []
        for task, window in zip(batch, decoded):
            tries = (*task.attempts, window)
            retry = replace(task, attempts=tries)
            schedule = temperatures(task.options.temperature)
            if (len(tries) < len(schedule) and self._tokens_left(retry) >= MIN_RETRY_TOKENS
                    and self._failed(window)):
                self._log_retry(task, window, schedule[len(tries)])
                retries.append(retry)
                finals.append(None)
            else:
                finals.append(self._best(list(tries)))
        return finals, retries

    def _tokens_left(self, task: WindowTask) -> int:
        """Tokens the window may still decode over all its attempts (each attempt also spends its end of text)."""
        spent = sum(len(attempt.tokens) + 1 for attempt in task.attempts)
        return self._token_cap(task) * FALLBACK_TOKEN_FACTOR - spent

    def _token_cap(self, task: WindowTask) -> int:
        return window_token_cap(task.length, SAMPLE_RATE, self.options.engine.min_new_tokens)

    def _prompt(self, task: WindowTask, languages: Mapping[RequestId, str], temperature: float,
                max_new_tokens: int | None = None) -> WindowPrompt:
        language, options = languages[task.request], task.options
        search = SearchOptions(options.beam_size, options.patience, options.length_penalty, options.best_of)
        return self.decoder.window_prompt(language, options.task, task.prompt, task.timestamps, temperature, search,
                                          max_new_tokens, task.speech_until)

    def _log_retry(self, task: WindowTask, failed: DecodedWindow, temperature: float) -> None:
        text = self.decoder.text.decode(failed.tokens)
        logger.debug(
            "request %s, window at %.1f s: %d tokens, compression ratio %.2f, avg logprob %.2f; again at "
            "temperature %.1f", task.request, task.offset, len(failed.tokens), compression_ratio(text),
            failed.avg_logprob, temperature,
        )

    def _failed(self, window: DecodedWindow) -> bool:
        return needs_fallback(window, self.decoder.text.decode(window.tokens), self.options.thresholds)

    def _best(self, tries: list[DecodedWindow]) -> DecodedWindow:
        """The last attempt if it passed; when every temperature failed, the likeliest attempt that is not a loop
        (faster-whisper's rule: openai keeps the hottest, often the worst) nor stopped as degenerate."""
        if len(tries) == 1 or not self._failed(tries[-1]):
            return tries[-1]
        thresholds = self.options.thresholds
        candidates = [t for t in tries if is_trusted_attempt(t, self.decoder.text.decode(t.tokens), thresholds)]
        return max(candidates or tries, key=lambda t: t.avg_logprob)

    # ---- word timings -----------------------------------------------------------------------------------------

    def _align(self, batch: Sequence[WindowTask], languages: Mapping[RequestId, str], states: torch.Tensor | None,
               decoded: list[DecodedWindow | None], rows: Sequence[int] | None = None) -> list[list[WordTiming]]:
        """Word timings of the windows that want them: over ``states`` (window i is row i), or over the running
        batch's bound ``rows`` (window i is in slot ``rows[i]``)."""
        wanted = [i for i, task in enumerate(batch) if task.words and decoded[i] is not None and decoded[i].tokens]
        timings: list[list[WordTiming]] = [[] for _ in batch]
        eot = self.decoder.vocabulary.eot
        requests = [
            AlignmentRequest(i if rows is None else rows[i], languages[batch[i].request], batch[i].options.task,
                             tuple(t for t in decoded[i].tokens if t < eot), batch[i].frames)
            for i in wanted
        ]
        found = self.decoder.align(states, requests) if rows is None else self.decoder.align_bound(requests)
        for i, words in zip(wanted, found):
            timings[i] = words
        return timings

    # ---- the running batch (step-level scheduling) ------------------------------------------------------------

    def joinable(self, task: WindowTask) -> bool:
        """Whether the window decodes in independent rows at its temperature (one greedy row, or ``best_of`` samples
        that fit the running batch): it can join the running batch. Beams (temperature 0) decode as a whole batch."""
        if self._temperature(task) == 0:
            return task.options.beam_size == 1
        return self.rows_of(task) <= self.decoder.running.capacity

    def rows_of(self, task: WindowTask) -> int:
        """The running batch's rows the window takes at its temperature: ``best_of`` samples above 0, else one."""
        return task.options.best_of if self._temperature(task) > 0 else 1

    @staticmethod
    def _temperature(task: WindowTask) -> float:
        """The window's temperature of the fallback schedule (the first for a new window)."""
        return temperatures(task.options.temperature)[len(task.attempts)]

    @property
    def free_rows(self) -> int:
        return self.decoder.running.free

    @property
    def busy(self) -> bool:
        """Whether windows are in the running batch (a whole batch must wait until it is empty)."""
        return bool(self._rows)

    def running_requests(self) -> set[RequestId]:
        """The requests with windows in the running batch."""
        return {row.task.request for row in self._rows.values()}

    def join(self, batch: Sequence[WindowTask], sessions: Mapping[RequestId, Session]) -> Mapping[str, float]:
        """Joinable windows (:meth:`rows_of` each, at most :attr:`free_rows` in all) join the running batch: log-mel,
        encoder, language detection and prefill; the stages' milliseconds. On failure no window has joined."""
        timer, running = StageTimer(), self.decoder.running
        owners = [i for i, task in enumerate(batch) for _ in range(self.rows_of(task))]  # each row's window
        slots = running.reserve(len(owners))
        try:
            states = self._encoder_states(batch, sessions, timer)
            running.bind(slots, states if len(owners) == len(batch) else states[owners])
            first = {i: slots[owners.index(i)] for i in range(len(batch))}
            with timer("detect"):
                languages, probabilities = self._languages(
                    batch, sessions, lambda rows: self._detect_in([first[row] for row in rows]))
            with timer("generate"):
                running.start(slots, self._row_prompts(batch, owners, languages))
        except BaseException:
            running.release(slots)
            raise
        for slot, i in zip(slots, owners):
            task = batch[i]
            self._rows[slot] = _Row(task, languages[task.request], probabilities.get(task.request), states[i])
        return {stage: timer.milliseconds.get(stage, 0.0) for stage in STAGES}

    def advance(self, steps: int) -> StepResult:
        """At most ``steps`` decoding steps of the running batch; the windows whose rows have all ended leave it (of a
        window's samples, the likeliest is kept), judged (a failed one comes back as a retry) and aligned."""
        timer, running = StageTimer(), self.decoder.running
        on_model = tuple({_window_key(row.task): row.task for row in self._rows.values()}.values())
        with timer("generate"):
            groups = self._complete(running.run(steps))
            decoded = iter(running.windows([slot for group in groups for slot in group]))
            rows = [self._rows[group[0]] for group in groups]
            picked = [best_sample([next(decoded) for _ in group], row.task.options.length_penalty)
                      for row, group in zip(rows, groups)]
        tasks = [row.task for row in rows]
        finals, retries = self._judge(tasks, picked)
        for row, final in zip(rows, finals):
            if final is None:
                self._keep(row.task, row.states)
        languages = {row.task.request: row.language for row in rows}
        with timer("align"):
            timings = self._align(tasks, languages, None, finals, rows=[group[0] for group in groups])
        self._leave_slots([slot for group in groups for slot in group])
        outcomes = tuple(None if d is None else WindowOutcome(d, tuple(w), row.language, row.probability)
                         for row, d, w in zip(rows, finals, timings))
        return StepResult(tuple(tasks), outcomes, {stage: timer.milliseconds.get(stage, 0.0) for stage in STAGES},
                          tuple(retries), on_model)

    def leave(self, requests: set[RequestId] | None = None) -> list[WindowTask]:
        """The windows of these requests (None: every window) leave the running batch undecoded; they are returned."""
        slots = [slot for slot, row in self._rows.items() if requests is None or row.task.request in requests]
        tasks = list({_window_key(self._rows[slot].task): self._rows[slot].task for slot in slots}.values())
        self._leave_slots(slots)
        return tasks

    def _complete(self, ended: list[int]) -> list[list[int]]:
        """The slots of each window whose rows have all ended (a window's samples leave together)."""
        done, groups = set(ended), {}
        for slot in sorted(self._rows):
            groups.setdefault(_window_key(self._rows[slot].task), []).append(slot)
        return [slots for slots in groups.values() if done.issuperset(slots)]

    def _row_prompts(self, batch: Sequence[WindowTask], owners: list[int],
                     languages: Mapping[RequestId, str]) -> list[WindowPrompt]:
        """Each row's prompt: its window's, drawing the window's next sample (seeds 0, 1, ... in its rows)."""
        prompts = [self._first_prompt(task, languages) for task in batch]
        return [replace(prompts[i], sample_seed=owners[:at].count(i)) for at, i in enumerate(owners)]

    def _leave_slots(self, slots: list[int]) -> None:
        self.decoder.running.release(slots)
        for slot in slots:
            del self._rows[slot]

    def _detect_in(self, slots: list[int]) -> list[dict[str, float]]:
        if not self.decoder.is_multilingual:
            return [{ENGLISH: 1.0}] * len(slots)
        return self.decoder.running.detect_languages(slots)

    def _first_prompt(self, task: WindowTask, languages: Mapping[RequestId, str]) -> WindowPrompt:
        """The window's prompt at its temperature of the fallback schedule (the first for a new window), within its
        token cap and what is left of its budget."""
        most = min(self._token_cap(task), self._tokens_left(task))
        return self._prompt(task, languages, self._temperature(task), most)

    def _keep(self, task: WindowTask, states: torch.Tensor) -> None:
        self._kept[_window_key(task)] = states.clone()
        while len(self._kept) > KEPT_STATES_PER_WINDOW * self.capacity:
            self._kept.popitem(last=False)
