"""Beam search over a batch of windows, as openai/whisper's ``BeamSearchDecoder`` and ``MaximumLikelihoodRanker``
define it, on the static buffers of :class:`~serving.engine.decoder_runtime.DecoderRuntime`.

A window decoded with ``beam_size`` g occupies g consecutive rows of the decoder batch; the rows share the window's
cross-attention keys and values (read in place, see ``DecoderRuntime.step``'s ``group``), and after each step the
self-attention caches, token histories and scores are gathered by the surviving beams' origin. Per step and window:

1. every beam's ``g + 1`` likeliest next tokens (after the same logit rules as greedy decoding, row by row, timestamp
   rules included) become candidates scored by the beam's summed log-probability plus the token's; on the first step
   the g beams are one and the same, so only the first beam's candidates count;
2. the candidates sorted by score (ties keep beam order); the first g that are not the end of text are the new
   beams; which end-of-text candidates finish a hypothesis depends on the rule (:data:`BeamRule`):

   - ``openai`` (openai/whisper's ``BeamSearchDecoder``): every one ranked above the g-th new beam; a window keeps the
     first ``round(beam_size * patience)`` hypotheses that finished (in score order) and is complete then; at the
     length limit, or when fewer than ``beam_size`` finished, the live beams fill up the list (``finalize``);
   - ``ctranslate2`` (CTranslate2's ``BeamSearch``, so faster-whisper's): only those among the g best candidates; a
     window keeps every hypothesis that finished and is complete once it has ``round(beam_size * patience)``; at the
     length limit every live beam is a hypothesis too (CTranslate2 takes its g best candidates there: the same
     beams unless an end of text ranks among them at that very step).

The winner is the likeliest hypothesis after the length penalty (openai's ``MaximumLikelihoodRanker``): the sum of
log-probabilities divided by the length in tokens (``length_penalty=None``) or by ``((5 + length) / 6) **
length_penalty``. The one departure from openai: a window that is complete stops there, while openai keeps stepping
its beams until every window of the batch is complete, so that its fill-up beams (``patience < 1`` only) depend on
the rest of the batch; here a window decodes the same in any batch.

Candidate selection is tensor arithmetic on the device; the host reads each step's small selection (which beams
finished) to keep the finished hypotheses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

from serving.engine.decoded import DecodedWindow
from serving.engine.decoder_runtime import DecoderRuntime
from serving.engine.logit_rules import LogitRules
from serving.engine.token_search import SearchState, WindowPrompt, no_speech_probabilities
from serving.engine.vocabulary import Vocabulary

NEG_INF = float("-inf")

BeamRule = Literal["openai", "ctranslate2"]
BEAM_RULES: tuple[BeamRule, ...] = ("openai", "ctranslate2")


# ---- hypotheses and their ranking (host side) -----------------------------------------------------------------


@dataclass(frozen=True)
class Hypothesis:
    tokens: tuple[int, ...]  # sampled tokens, without the end of text
    sum_logprob: float  # includes the end of text's log-probability when it ended
    ended: bool  # reached the end of text (False: a live beam taken at the length limit or to fill up the list)


def max_candidates(beam_size: int, patience: float) -> int:
    """How many finished hypotheses complete a window (openai: ``round(beam_size * patience)``)."""
    return round(beam_size * patience)


def ranking_score(hypothesis: Hypothesis, length_penalty: float | None) -> float:
    """openai's ``MaximumLikelihoodRanker``: the summed log-probability over the length (None), or over the Google
    NMT penalty ``((5 + length) / 6) ** length_penalty``. The length counts the sampled tokens without the end of
    text."""
    length = len(hypothesis.tokens)
    penalty = length if length_penalty is None else ((5 + length) / 6) ** length_penalty
    return hypothesis.sum_logprob / penalty if penalty else NEG_INF


def best_hypothesis(hypotheses: list[Hypothesis], length_penalty: float | None) -> Hypothesis:
    """The highest-ranked hypothesis; the first one on a tie (``np.argmax``)."""
    scores = [ranking_score(h, length_penalty) for h in hypotheses]
    return hypotheses[scores.index(max(scores))]


@dataclass
class FinishedHypotheses:
    """One window's finished hypotheses, in the order they finished, up to ``max_candidates``."""

    beam_size: int
    patience: float
    rule: BeamRule = "openai"
    hypotheses: list[Hypothesis] = field(default_factory=list)

    @property
    def limit(self) -> int:
        return max_candidates(self.beam_size, self.patience)

    @property
    def complete(self) -> bool:
        return len(self.hypotheses) >= self.limit

    def add(self, newly_finished: list[Hypothesis]) -> None:
        """One step's finished hypotheses, best first; under the openai rule, those past the limit are dropped."""
        for hypothesis in newly_finished:
            if self.complete and self.rule == "openai":
                break
            self.hypotheses.append(hypothesis)

    def final(self, live: list[Hypothesis], at_limit: bool) -> list[Hypothesis]:
        """The hypotheses to rank, given the beams still live when the window stopped (``at_limit``: it stopped at
        its length limit). openai: the finished ones, filled up to ``beam_size`` with the live beams, likeliest
        first (``finalize``); ctranslate2: the finished ones, and every live beam at the length limit."""
        result = list(self.hypotheses)
        if self.rule == "ctranslate2":
            return result + (live if at_limit or not result else [])
        for hypothesis in sorted(live, key=lambda h: h.sum_logprob, reverse=True):
            if len(result) >= self.beam_size:
                break
            result.append(hypothesis)
        return result


# ---- candidate selection (device side) ------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """One step's outcome for ``windows`` windows of ``group`` beams; candidates are sorted best first per window."""

    tokens: torch.Tensor  # (rows,) each new beam's token
    sources: torch.Tensor  # (rows,) the row each new beam continues
    scores: torch.Tensor  # (rows,) each new beam's summed log-probability
    finished: torch.Tensor  # (windows, candidates) bool: the candidate is an end of text that finishes a hypothesis
    candidate_sources: torch.Tensor  # (windows, candidates) the row of each candidate
    candidate_scores: torch.Tensor  # (windows, candidates)


def select_candidates(
    logprobs: torch.Tensor, sums: torch.Tensor, group: int, eot: int, first_step: bool, rule: BeamRule = "openai"
) -> Selection:
    """openai's ``BeamSearchDecoder.update`` (or CTranslate2's step, see :data:`BeamRule`) for every window at once:
    ``logprobs`` (rows, vocab) after the logit rules, ``sums`` (rows,) the beams' summed log-probabilities; rows are
    ``windows * group``, a window's beams consecutive."""
    rows = logprobs.shape[0]
    windows, per_beam = rows // group, group + 1
    values, ids = logprobs.topk(per_beam, dim=-1)
    scores = (sums.unsqueeze(1) + values).view(windows, group * per_beam)
    ids = ids.view(windows, group * per_beam)
    beam = torch.arange(group, device=logprobs.device).repeat_interleave(per_beam)
    valid = (beam == 0) | (not first_step)  # the first step's beams are copies: their candidates are one set
    order = scores.masked_fill(~valid, NEG_INF).sort(dim=1, descending=True, stable=True).indices
    sorted_scores, sorted_ids = scores.gather(1, order), ids.gather(1, order)
    sorted_valid = valid.expand(windows, -1).gather(1, order)
    base = (torch.arange(windows, device=logprobs.device) * group).unsqueeze(1)
    sorted_rows = base + beam[order]
    ends = sorted_ids == eot
    live = sorted_valid & ~ends
    live_before = live.long().cumsum(dim=1) - live.long()
    kept = live & (live_before < group)
    if rule == "openai":
        finished = sorted_valid & ends & (live_before < group)
    else:
        finished = sorted_valid & ends & (torch.arange(ends.shape[1], device=ends.device) < group)
    picked = (~kept).to(torch.int8).sort(dim=1, stable=True).indices[:, :group]  # the kept ones, in order
    return Selection(
        tokens=sorted_ids.gather(1, picked).reshape(rows),
        sources=sorted_rows.gather(1, picked).reshape(rows),
        scores=sorted_scores.gather(1, picked).reshape(rows),
        finished=finished,
        candidate_sources=sorted_rows,
        candidate_scores=sorted_scores,
    )


# ---- the search -----------------------------------------------------------------------------------------------


@dataclass
class _Window:
    prompt: WindowPrompt
    finished: FinishedHypotheses
    length: int  # tokens in each beam's history
    live: list[Hypothesis] | None = None  # the beams when the window stopped
    at_limit: bool = False  # it stopped at its length limit

    @property
    def done(self) -> bool:
        return self.live is not None


class BeamSearch:
    def __init__(self, runtime: DecoderRuntime, vocabulary: Vocabulary, rules: LogitRules) -> None:
        self.runtime = runtime
        self.vocabulary = vocabulary
        self.rules = rules
        self.device = runtime.device
        self.state = SearchState.allocate(runtime.capacity, runtime.shape.positions, self.device)

    @torch.inference_mode()
    def decode(self, states: torch.Tensor, prompts: list[WindowPrompt]) -> list[DecodedWindow]:
        """Decode each window (row of ``states``) with beam search (each prompt's ``beam_size`` > 0, at most the
        runtime's capacity): windows of one beam size together, as many as the capacity holds beams."""
        if len(prompts) != states.shape[0]:
            raise ValueError(f"{len(prompts)} prompts for {states.shape[0]} windows")
        results: list[DecodedWindow | None] = [None] * len(prompts)
        for size, rule in sorted({(p.beam_size, p.beam_rule) for p in prompts}):
            if not 1 <= size <= self.runtime.capacity:
                raise ValueError(f"beam size {size} outside 1..{self.runtime.capacity} (the decoder's rows)")
            members = [i for i, p in enumerate(prompts) if (p.beam_size, p.beam_rule) == (size, rule)]
            self.runtime.bind(states if len(members) == len(prompts) else states[members])
            per_pass = self.runtime.capacity // size
            for first in range(0, len(members), per_pass):
                chunk = members[first : first + per_pass]
                for i, window in zip(chunk, self._decode_windows(first, [prompts[i] for i in chunk], size)):
                    results[i] = window
        return results

    def _decode_windows(self, first: int, prompts: list[WindowPrompt], group: int) -> list[DecodedWindow]:
        """Windows bound at ``[first, first + len(prompts))``, ``group`` beams each, in rows ``[0, rows)``."""
        rows = len(prompts) * group
        flags = (any(p.timestamps for p in prompts), any(p.min_new_tokens > 0 for p in prompts))
        logits, no_speech = self._prefill(first, prompts, group)
        windows = [_Window(p, FinishedHypotheses(group, p.patience, p.beam_rule), len(p.prefix)) for p in prompts]
        rule = prompts[0].beam_rule
        active = torch.ones(rows, dtype=torch.bool, device=self.device)
        first_step = True
        while True:
            logprobs = self.rules.apply(logits, self.state.rows(rows), *flags).log_softmax(dim=-1)
            selection = select_candidates(logprobs, self.state.sum_logprob[:rows], group, self.vocabulary.eot,
                                          first_step, rule)
            first_step = False
            self._collect_finished(windows, selection, group)
            self._advance(selection, active, max(w.length for w in windows if not w.done))
            self._stop_windows(windows, active, group)
            if all(w.done for w in windows):
                break
            logits = self._step(rows, group, first)
        return [self._result(w, no_speech[i]) for i, w in enumerate(windows)]

    def _prefill(self, first: int, prompts: list[WindowPrompt], group: int) -> tuple[torch.Tensor, list[float]]:
        """Prefill one row per window, copy it to the window's beams -> (first-step logits per beam, no-speech
        probability per window)."""
        width = max(len(p.prefix) for p in prompts)
        padded = [list(p.prefix) + [self.vocabulary.eot] * (width - len(p.prefix)) for p in prompts]
        tokens = torch.tensor(padded, dtype=torch.long, device=self.device)
        lengths = torch.tensor([len(p.prefix) for p in prompts], device=self.device)
        hidden = self.runtime.prefill(tokens, first=first)
        no_speech = no_speech_probabilities(self.runtime, self.vocabulary, hidden, prompts)
        logits = self.runtime.logits_at(hidden, lengths - 1)
        spread = torch.arange(len(prompts), device=self.device).repeat_interleave(group)
        self.runtime.reorder(spread, width)
        self._reset_rows([p for p in prompts for _ in range(group)], tokens[spread], lengths[spread])
        return logits[spread], no_speech

    def _reset_rows(self, prompts: list[WindowPrompt], tokens: torch.Tensor, lengths: torch.Tensor) -> None:
        self.state.start_rows(prompts, tokens, lengths, self.runtime.shape.positions)

    def _step(self, rows: int, group: int, first: int) -> torch.Tensor:
        s = self.state
        last = (s.length[:rows] - 1).clamp(min=0)
        tokens = s.history[:rows].gather(1, last.unsqueeze(1)).squeeze(1)
        return self.runtime.step(tokens, last.clamp(max=self.runtime.shape.positions - 1), group=group, first=first)

    def _collect_finished(self, windows: list[_Window], selection: Selection, group: int) -> None:
        """Hand each live window the hypotheses that the step finished, best first."""
        finished = selection.finished.cpu()
        if not bool(finished.any()):
            return
        sources = selection.candidate_sources.cpu().tolist()
        scores = selection.candidate_scores.cpu().tolist()
        for w, window in enumerate(windows):
            if window.done or not bool(finished[w].any()):
                continue
            begin = len(window.prompt.prefix)
            ended = [k for k, flag in enumerate(finished[w].tolist()) if flag]
            histories = self.state.history[[sources[w][k] for k in ended], begin : window.length].cpu().tolist()
            window.finished.add([Hypothesis(tuple(h), scores[w][k], True) for h, k in zip(histories, ended)])

    def _advance(self, selection: Selection, active: torch.Tensor, fed: int) -> None:
        """The surviving beams take their origin's history, caches and score, then their new token."""
        s, rows = self.state, active.shape[0]
        source = torch.where(active, selection.sources, torch.arange(rows, device=self.device))
        s.history[:rows].copy_(s.history[:rows].index_select(0, source))
        s.last_timestamp[:rows].copy_(s.last_timestamp[:rows].index_select(0, source))
        s.sum_logprob[:rows].copy_(torch.where(active, selection.scores, s.sum_logprob[:rows]))
        self.runtime.reorder(source, fed)
        at = s.length[:rows].unsqueeze(1)
        token = torch.where(active, selection.tokens, s.history[:rows].gather(1, at).squeeze(1))
        s.history[:rows].scatter_(1, at, token.unsqueeze(1))
        is_timestamp = active & (token >= self.vocabulary.timestamp_begin)
        s.last_timestamp[:rows].copy_(torch.where(is_timestamp, token, s.last_timestamp[:rows]))
        s.length[:rows].add_(active.long())

    def _stop_windows(self, windows: list[_Window], active: torch.Tensor, group: int) -> None:
        """Windows that are complete or at their length limit stop; their live beams are kept for the ranking."""
        positions = self.runtime.shape.positions
        for w, window in enumerate(windows):
            if window.done:
                continue
            window.length += 1
            limit = min(len(window.prompt.prefix) + window.prompt.max_new_tokens, positions)
            window.at_limit = window.length >= limit
            if window.finished.complete or window.at_limit:
                beams = slice(w * group, (w + 1) * group)
                begin = len(window.prompt.prefix)
                histories = self.state.history[beams, begin : window.length].cpu().tolist()
                sums = self.state.sum_logprob[beams].cpu().tolist()
                window.live = [Hypothesis(tuple(h), total, False) for h, total in zip(histories, sums)]
                active[beams] = False

    def _result(self, window: _Window, no_speech: float) -> DecodedWindow:
        prompt = window.prompt
        best = best_hypothesis(window.finished.final(window.live or [], window.at_limit), prompt.length_penalty)
        return DecodedWindow(best.tokens, best.sum_logprob, no_speech, prompt.temperature, best.ended)
