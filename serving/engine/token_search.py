"""Greedy (or temperature-sampled) token search over a batch of windows, each row with its own prefix, mode,
temperature and length limit, on the static buffers of :class:`DecoderRuntime`.

Every call takes the windows' encoder states explicitly; the runtime computes their cross-attention keys and values
once and reuses them while the same states come back (language detection, decoding, alignment of one batch).

1. ``detect_languages``: the language probabilities after <|startoftranscript|>;
2. ``decode``: prefill every row's prefix in one pass (reading the no-speech probability at <|startoftranscript|>),
   choose the first token, then one step per token for all rows together until every row has ended. On a GPU the
   step (decoder, logit rules, choice, bookkeeping) is a captured CUDA graph per row bucket; the host checks for the
   end every few steps only. With a :class:`~serving.engine.degeneration.DegenerationCheck`, the host also looks at
   the rows every ``CHECK_INTERVAL`` steps and ends those that loop (their window is marked ``degenerate``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields

import torch

from serving.engine.decoded import DecodedWindow
from serving.engine.decoder_runtime import DecoderRuntime
from serving.engine.degeneration import CHECK_INTERVAL, DegenerationCheck
from serving.engine.logit_rules import LogitRules, RowState
from serving.engine.step_graphs import StepGraphs, bucket_sizes
from serving.engine.vocabulary import Vocabulary

logger = logging.getLogger(__name__)

END_CHECK_INTERVAL = 4  # steps between host checks for "every row has ended" on an accelerator


@dataclass(frozen=True)
class WindowPrompt:
    """How to decode one window."""

    prefix: tuple[int, ...]  # forced tokens: [<|startofprev|> prompt...] <|startoftranscript|> ...
    sot_index: int  # where <|startoftranscript|> is in the prefix
    timestamps: bool
    temperature: float
    max_new_tokens: int
    min_new_tokens: int = 0
    # Beam search (:mod:`serving.engine.beam_search`) when beam_size > 1 and the temperature is 0; openai/whisper's
    # patience and length penalty (None: the sum of log-probabilities divided by the length).
    beam_size: int = 1
    patience: float = 1.0
    length_penalty: float | None = None
    beam_rule: str = "ctranslate2"  # which end-of-text candidates finish a hypothesis (serving.engine.beam_search)
    best_of: int = 1  # samples drawn for the window when the temperature is above 0 (WhisperDecoder keeps the best)
    sample_seed: int = 0  # which of the window's samples this row draws (0: the one sample of best_of=1)
    end_not_before: int = -1  # timestamp mode: no end of text before a timestamp token >= this id (-1: any time)


def column(values: list, device: torch.device, dtype: torch.dtype = torch.long) -> torch.Tensor:
    """One value per row, as a tensor on the decoder's device."""
    return torch.tensor(values, dtype=dtype, device=device)


def no_speech_probabilities(runtime: DecoderRuntime, vocabulary: Vocabulary, hidden: torch.Tensor,
                            prompts: list[WindowPrompt]) -> list[float]:
    """Each row's probability of ``<|nospeech|>`` at its start-of-transcript position (NaN without that token)."""
    if vocabulary.no_speech is None:
        return [float("nan")] * len(prompts)
    index = column([p.sot_index for p in prompts], hidden.device)
    return runtime.logits_at(hidden, index).softmax(dim=-1)[:, vocabulary.no_speech].cpu().tolist()


@dataclass(frozen=True)
class SearchState:
    """Per-row buffers for ``capacity`` rows; a batch uses rows ``[0, rows)``."""

    history: torch.Tensor
    length: torch.Tensor
    sample_begin: torch.Tensor
    timestamps: torch.Tensor
    last_timestamp: torch.Tensor
    min_new: torch.Tensor
    end_not_before: torch.Tensor  # (rows,) see RowState
    limit: torch.Tensor  # (rows,) a row ends when its history holds this many tokens
    temperature: torch.Tensor
    done: torch.Tensor
    sum_logprob: torch.Tensor
    seed: torch.Tensor  # (rows,) the row's sample_seed

    @classmethod
    def allocate(cls, capacity: int, positions: int, device: torch.device) -> SearchState:
        def longs():
            return torch.zeros(capacity, dtype=torch.long, device=device)

        return cls(  # every row starts inert: ended, one token in its history
            history=torch.zeros(capacity, positions + 1, dtype=torch.long, device=device),
            length=longs() + 1, sample_begin=longs(), last_timestamp=longs() - 1, min_new=longs(), limit=longs() + 1,
            end_not_before=longs() - 1,
            timestamps=torch.zeros(capacity, dtype=torch.bool, device=device),
            temperature=torch.zeros(capacity, device=device),
            done=torch.ones(capacity, dtype=torch.bool, device=device),
            sum_logprob=torch.zeros(capacity, device=device), seed=longs(),
        )

    def copy(self) -> SearchState:
        return SearchState(*(tensor.clone() for tensor in self._tensors()))

    def restore(self, other: SearchState) -> None:
        for mine, kept in zip(self._tensors(), other._tensors()):
            mine.copy_(kept)

    def _tensors(self) -> tuple[torch.Tensor, ...]:
        return tuple(getattr(self, field.name) for field in fields(self))

    def start_rows(self, prompts: list[WindowPrompt], tokens: torch.Tensor, lengths: torch.Tensor,
                   positions: int, at: torch.Tensor | None = None) -> None:
        """Rows ``at`` (default ``[0, len(prompts))``) hold these prompts' forced tokens, limits, rules, temperature
        and sample seed, nothing decoded yet, and decode from now on."""
        device = self.history.device
        at = torch.arange(len(prompts), device=device) if at is None else at
        self.history[at, : tokens.shape[1]] = tokens
        self.length[at] = lengths
        self.sample_begin[at] = lengths
        most = column([p.max_new_tokens for p in prompts], device)
        self.limit[at] = torch.clamp(lengths + most, max=positions)
        self.min_new[at] = column([p.min_new_tokens for p in prompts], device)
        self.end_not_before[at] = column([p.end_not_before for p in prompts], device)
        self.timestamps[at] = column([p.timestamps for p in prompts], device, torch.bool)
        self.last_timestamp[at] = -1
        self.sum_logprob[at] = 0.0
        self.temperature[at] = column([p.temperature for p in prompts], device, torch.float32)
        self.seed[at] = column([p.sample_seed for p in prompts], device)
        self.done[at] = False

    def park(self, at: torch.Tensor, eot: int) -> None:
        """Rows ``at`` become inert: ended, one end-of-text token in their history."""
        self.done[at] = True
        self.length[at] = 1
        self.history[at, 0] = eot

    def rows(self, count: int) -> RowState:
        return RowState(
            self.history[:count], self.length[:count], self.sample_begin[:count], self.timestamps[:count],
            self.last_timestamp[:count], self.min_new[:count], self.end_not_before[:count],
        )


class TokenSearch:
    def __init__(
        self, runtime: DecoderRuntime, vocabulary: Vocabulary, use_graphs: bool, compile_step: bool = False,
        degeneration: DegenerationCheck | None = None,
    ) -> None:
        self.runtime = runtime
        self.degeneration = degeneration
        self.degenerate: set[int] = set()  # rows stopped by the degeneration check (this search / running batch)
        self.vocabulary = vocabulary
        self.device = runtime.device
        self.state = SearchState.allocate(runtime.capacity, runtime.shape.positions, self.device)
        self.rules = LogitRules(vocabulary, runtime.shape.vocab, self.device)
        # torch.compile fuses the step's many small kernels (norms, residuals, masks); one compilation serves every
        # row count (dynamic shapes), and the graphs below capture the compiled kernels.
        self._step_fn = torch.compile(self._step, dynamic=True) if compile_step else self._step
        self.graphs = StepGraphs(self._step_fn, bucket_sizes(runtime.capacity)) if use_graphs else None

    # ---- public -----------------------------------------------------------------------------------------------

    @torch.inference_mode()
    def detect_languages(self, states: torch.Tensor) -> list[dict[str, float]]:
        """Per window (row of ``states``), the language probabilities after <|startoftranscript|> (multilingual
        models)."""
        self.runtime.bind(states)
        rows = states.shape[0]
        languages = self.vocabulary.languages
        tokens = torch.full((rows, 1), self.vocabulary.sot, dtype=torch.long, device=self.device)
        hidden = self.runtime.prefill(tokens)
        logits = self.runtime.logits_at(hidden, torch.zeros(rows, dtype=torch.long, device=self.device))
        ids = torch.tensor(list(languages.values()), device=logits.device)
        probs = logits[:, ids].softmax(dim=-1).cpu().tolist()
        codes = list(languages)
        return [dict(zip(codes, row)) for row in probs]

    @torch.inference_mode()
    def decode(self, states: torch.Tensor, prompts: list[WindowPrompt]) -> list[DecodedWindow]:
        """Decode each window (row of ``states``) with its own prompt, all rows in one search."""
        if len(prompts) != states.shape[0]:
            raise ValueError(f"{len(prompts)} prompts for {states.shape[0]} windows")
        self.runtime.bind(states)
        flags = self.flags(prompts)
        self.degenerate = set()
        no_speech = self._prefill(prompts, flags)
        self._run_steps(len(prompts), self._most_steps(prompts), flags)
        return self._results(prompts, no_speech)

    # ---- the steps ------------------------------------------------------------------------------------------

    def _prefill(self, prompts: list[WindowPrompt], flags: tuple[bool, bool, bool]) -> list[float]:
        rows = len(prompts)
        width = max(len(p.prefix) for p in prompts)
        padded = [list(p.prefix) + [self.vocabulary.eot] * (width - len(p.prefix)) for p in prompts]
        tokens = torch.tensor(padded, dtype=torch.long, device=self.device)
        lengths = torch.tensor([len(p.prefix) for p in prompts], device=self.device)
        self._reset_rows(prompts, tokens, lengths)
        hidden = self.runtime.prefill(tokens)
        no_speech = no_speech_probabilities(self.runtime, self.vocabulary, hidden, prompts)
        self.choose(self.runtime.logits_at(hidden, lengths - 1), rows, *flags)
        return no_speech

    def _reset_rows(self, prompts: list[WindowPrompt], tokens: torch.Tensor, lengths: torch.Tensor) -> None:
        s, rows = self.state, len(prompts)
        s.start_rows(prompts, tokens, lengths, self.runtime.shape.positions)
        # Rows past the batch (up to the graph's bucket) are inert: ended, one end-of-text token.
        s.park(torch.arange(rows, s.done.shape[0], device=self.device), self.vocabulary.eot)

    def flags(self, prompts: list[WindowPrompt]) -> tuple[bool, bool, bool]:
        """(timestamps, sampling, min_new): which optional work any row of the batch needs."""
        return (
            any(p.timestamps for p in prompts),
            any(p.temperature > 0 for p in prompts),
            any(p.min_new_tokens > 0 for p in prompts),
        )

    def _most_steps(self, prompts: list[WindowPrompt]) -> int:
        """Steps after the first token until the longest-allowed row must have ended."""
        positions = self.runtime.shape.positions
        return max(min(len(p.prefix) + p.max_new_tokens, positions) - len(p.prefix) - 1 for p in prompts)

    def _run_steps(self, rows: int, most: int, flags: tuple[bool, bool, bool]) -> None:
        interval = END_CHECK_INTERVAL if self.device.type == "cuda" else 1
        taken = 0
        while taken < most:
            for _ in range(min(interval, most - taken)):
                self.step(rows, flags)
                taken += 1
            if self.degeneration is not None and taken % CHECK_INTERVAL < interval:
                self.stop_degenerate(rows)
            if bool(self.state.done[:rows].all()):
                break

    def stop_degenerate(self, rows: int) -> None:
        """End the rows whose output degenerates (a loop, text that compresses too well); rows still within their
        ``min_new_tokens`` are left alone."""
        s = self.state
        active = (~s.done[:rows]) & (s.length[:rows] - s.sample_begin[:rows] >= s.min_new[:rows])
        indices = active.nonzero().flatten().cpu().tolist()
        if not indices:
            return
        history = s.history[indices].cpu().tolist()
        begins = s.sample_begin[indices].cpu().tolist()
        lengths = s.length[indices].cpu().tolist()
        for row, tokens, begin, length in zip(indices, history, begins, lengths):
            reason = self.degeneration.reason(tokens[begin:length])
            if reason is not None:
                logger.debug("row %d stopped after %d tokens: %s", row, length - begin, reason)
                self.degenerate.add(row)
                s.done[row] = True

    def step(self, rows: int, flags: tuple[bool, bool, bool]) -> None:
        """One decoding step of rows ``[0, rows)``: the captured graph of their bucket on a GPU, else eager."""
        if self.graphs is not None:
            self._replay(rows, flags)
        else:
            self._step_fn(rows, flags)

    def _replay(self, rows: int, flags: tuple[bool, bool, bool]) -> None:
        """Replay the step's graph; capturing one mid-decode runs warm-up steps, so the rows' state is kept aside."""
        if not self.graphs.has(rows, flags):
            kept = self.state.copy()
            self.graphs.capture(rows, flags)
            self.state.restore(kept)
        self.graphs.replay(rows, flags)

    def capture_graphs(self) -> None:
        """Capture every step graph that plain transcription needs, at load time (no request pays for it)."""
        if self.graphs is not None:
            self.graphs.capture_all([(False, False, False), (True, False, False)])

    def _step(self, rows: int, flags: tuple[bool, bool, bool]) -> None:
        """Feed every row's last token, then choose its next one (also the body of the captured graphs)."""
        s = self.state
        last = (s.length[:rows] - 1).clamp(min=0)
        tokens = s.history[:rows].gather(1, last.unsqueeze(1)).squeeze(1)
        logits = self.runtime.step(tokens, last.clamp(max=self.runtime.shape.positions - 1))
        self.choose(logits, rows, *flags)

    def choose(self, logits: torch.Tensor, rows: int, timestamps: bool, sampling: bool, min_new: bool,
                 only: torch.Tensor | None = None) -> None:
        """Choose each active row's next token from its logits (rows ``[0, rows)``; with ``only``, a mask, just the
        rows it marks: the first token of rows joining a running batch)."""
        s = self.state
        logits = self.rules.apply(logits, s.rows(rows), timestamps, min_new)
        logprobs = logits.log_softmax(dim=-1)
        chosen = logits.argmax(dim=-1)
        if sampling:
            draw = s.length[:rows] + s.seed[:rows] * (self.runtime.shape.positions + 1)  # (seed, position) apart
            sampled = self._sample(logits, s.temperature[:rows], draw)
            chosen = torch.where(s.temperature[:rows] > 0, sampled, chosen)
        active = ~s.done[:rows] if only is None else ~s.done[:rows] & only
        chosen = torch.where(active, chosen, self.vocabulary.eot)
        picked = logprobs.gather(1, chosen.unsqueeze(1)).squeeze(1)
        s.sum_logprob[:rows].add_(torch.where(active, picked, 0.0))
        s.history[:rows].scatter_(1, s.length[:rows].unsqueeze(1), chosen.unsqueeze(1))
        is_timestamp = active & (chosen >= self.vocabulary.timestamp_begin)
        s.last_timestamp[:rows].copy_(torch.where(is_timestamp, chosen, s.last_timestamp[:rows]))
        s.length[:rows].add_(active.long())
        s.done[:rows].logical_or_(active & ((chosen == self.vocabulary.eot) | (s.length[:rows] >= s.limit[:rows])))

    def _sample(self, logits: torch.Tensor, temperature: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        """Sampling from softmax(logits / T) with the Gumbel-max trick. The uniform numbers are a hash of (position,
        token id): no generator state, so the same window decodes the same way in any batch, on every run, and
        inside a CUDA graph."""
        uniform = _hash_uniform(position.unsqueeze(1), self.rules.ids.unsqueeze(0))
        gumbel = -torch.log(-torch.log(uniform))
        return (logits / temperature.clamp(min=1e-6).unsqueeze(1) + gumbel).argmax(dim=-1)

    def _results(self, prompts: list[WindowPrompt], no_speech: list[float]) -> list[DecodedWindow]:
        s, rows = self.state, len(prompts)
        history = s.history[:rows].cpu().tolist()
        lengths = s.length[:rows].cpu().tolist()
        sums = s.sum_logprob[:rows].cpu().tolist()
        results = []
        for i, prompt in enumerate(prompts):
            sampled = history[i][len(prompt.prefix) : lengths[i]]
            ended = bool(sampled) and sampled[-1] == self.vocabulary.eot
            tokens = tuple(sampled[:-1] if ended else sampled)
            results.append(DecodedWindow(tokens, sums[i], no_speech[i], prompt.temperature, ended,
                                         degenerate=i in self.degenerate))
        return results


_MASK31 = (1 << 31) - 1


def _hash_uniform(position: torch.Tensor, token: torch.Tensor) -> torch.Tensor:
    """A deterministic uniform number in (0, 1) per (position, token): integer mixing on 31-bit values (every
    product stays inside int64)."""
    x = (position * 0x2545F491 + token * 0x5BD1E995 + 0x3C6EF372) & _MASK31
    for multiplier in (0x7FEB352D, 0x46CA68BB):
        x = ((x ^ (x >> 15)) * multiplier) & _MASK31
    x = x ^ (x >> 16)
    return ((x.float() + 0.5) / float(1 << 31)).clamp(min=2.0**-31, max=1.0 - 2.0**-24)
