"""The runner: one batch of windows through the model, and what happened to each window, as data.

For a batch (windows of one or many requests, at most ``capacity``): log-mel, encoder, language detection for the
requests that name none, token generation with temperature fallback (only the windows that fail the quality tests are
decoded again, hotter), word alignment where wanted. The runner reads the sessions (audio, options, language) and
changes none of them: :class:`BatchResult` says what each window gave, and the scheduler applies it. A batch that
raises has changed nothing, so its windows can be run again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from serving.batching.sessions import Job, Planner, PlannerOptions, Session
from serving.engine.decoded import DecodedWindow, WordTiming
from serving.engine.decoding import AlignmentRequest, EngineOptions, WhisperDecoder
from serving.engine.features import PAD_FEATURES, LogMel
from serving.engine.loading import LoadedModel, input_device
from serving.engine.token_search import WindowPrompt
from serving.engine.vocabulary import ENGLISH
from serving.identity import RequestId
from serving.longform.plans import PlanContext, WindowOutcome, WindowTask
from serving.longform.quality import Thresholds, compression_ratio, needs_fallback, temperatures
from serving.timing import StageTimer

logger = logging.getLogger(__name__)

STAGES = ("log-mel", "encode", "detect", "generate", "align")  # the runner's stages, in order, in every BatchResult


@dataclass(frozen=True)
class RunnerOptions:
    engine: EngineOptions = field(default_factory=EngineOptions)
    thresholds: Thresholds = field(default_factory=Thresholds)
    chunk_overlap_seconds: float = 6.0
    planner: PlannerOptions = field(default_factory=PlannerOptions)
    log_mel_padding: str = PAD_FEATURES  # serving.engine.features: PAD_FEATURES (faster-whisper) or PAD_AUDIO


@dataclass(frozen=True)
class BatchResult:
    """What one batch gave: ``outcomes[i]`` for the batch's window i, and the milliseconds of each stage."""

    outcomes: tuple[WindowOutcome, ...]
    stages_ms: Mapping[str, float]


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

    def open(self, job: Job) -> Session:
        """Find the speech and plan the windows of one request (host work: no model)."""
        return self.planner.open(job)

    def run(self, batch: Sequence[WindowTask], sessions: Mapping[RequestId, Session]) -> BatchResult:
        """At most ``capacity`` windows; ``sessions`` holds the session of every request in the batch."""
        timer = StageTimer()
        with timer("log-mel"):
            windows = np.stack([sessions[t.request].window_audio(t) for t in batch])
            features = self.log_mel(windows, [t.length for t in batch])
        with timer("encode"):
            states = self.decoder.encode(features)
        with timer("detect"):
            languages, probabilities = self._languages(batch, sessions, states)
        with timer("generate"):
            decoded = self._decode_with_fallback(batch, languages, states)
        with timer("align"):
            timings = self._align(batch, languages, states, decoded)
        outcomes = tuple(WindowOutcome(d, tuple(w), languages[t.request], probabilities.get(t.request))
                         for t, d, w in zip(batch, decoded, timings))
        return BatchResult(outcomes, {stage: timer.milliseconds.get(stage, 0.0) for stage in STAGES})

    # ---- language ---------------------------------------------------------------------------------------------

    def _languages(self, batch: Sequence[WindowTask], sessions: Mapping[RequestId, Session],
                   states: torch.Tensor) -> tuple[dict[RequestId, str], dict[RequestId, float]]:
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
            probabilities = self.decoder.detect_languages(states[list(rows.values())])
            for (request, row), probs in zip(rows.items(), probabilities):
                language, probability = most_likely(probs, batch[row].options.language_candidates)
                known[request], detected[request] = language, probability
        return {request: language or ENGLISH for request, language in known.items()}, detected

    # ---- decoding ---------------------------------------------------------------------------------------------

    def _decode_with_fallback(self, batch: Sequence[WindowTask], languages: Mapping[RequestId, str],
                              states: torch.Tensor) -> list[DecodedWindow]:
        """Decode every window; those that fail the quality tests are decoded again at the next temperature."""
        schedules = [temperatures(task.options.temperature) for task in batch]
        level = [0] * len(batch)
        attempts: list[list[DecodedWindow]] = [[] for _ in batch]
        todo = list(range(len(batch)))
        while todo:
            prompts = [self._prompt(batch[i], languages, schedules[i][level[i]]) for i in todo]
            subset = states if len(todo) == len(batch) else states[todo]
            for i, window in zip(todo, self.decoder.decode(subset, prompts)):
                attempts[i].append(window)
            todo = [i for i in todo if level[i] + 1 < len(schedules[i]) and self._failed(attempts[i][-1])]
            for i in todo:
                level[i] += 1
                self._log_retry(batch[i], attempts[i][-1], schedules[i][level[i]])
        return [self._best(tries) for tries in attempts]

    def _prompt(self, task: WindowTask, languages: Mapping[RequestId, str], temperature: float) -> WindowPrompt:
        language = languages[task.request]
        return self.decoder.window_prompt(language, task.options.task, task.prompt, task.timestamps, temperature)

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
        (faster-whisper's rule: openai keeps the hottest, often the worst)."""
        if len(tries) == 1 or not self._failed(tries[-1]):
            return tries[-1]
        limit = self.options.thresholds.compression_ratio
        looping = [compression_ratio(self.decoder.text.decode(t.tokens)) > limit for t in tries]
        candidates = [t for t, loop in zip(tries, looping) if not loop] or tries
        return max(candidates, key=lambda t: t.avg_logprob)

    # ---- word timings -----------------------------------------------------------------------------------------

    def _align(self, batch: Sequence[WindowTask], languages: Mapping[RequestId, str], states: torch.Tensor,
               decoded: list[DecodedWindow]) -> list[list[WordTiming]]:
        wanted = [i for i, task in enumerate(batch) if task.words and decoded[i].tokens]
        timings: list[list[WordTiming]] = [[] for _ in batch]
        eot = self.decoder.vocabulary.eot
        requests = [
            AlignmentRequest(i, languages[batch[i].request], batch[i].options.task,
                             tuple(t for t in decoded[i].tokens if t < eot), batch[i].frames)
            for i in wanted
        ]
        for i, words in zip(wanted, self.decoder.align(states, requests)):
            timings[i] = words
        return timings
