"""Which tokens may come next: openai/whisper's logit filters, as masks over the whole batch at once.

Per row, from the token history: never the suppressed tokens; no blank or end of text as the first token; in
timestamp mode (openai's ``ApplyTimestampRules``) timestamps in pairs, never decreasing, the first one no later than
1 s, and a timestamp whenever the timestamps together are likelier than any text token, and (ours) no end of text
before a timestamp the row is told its speech reaches; in text mode no timestamps.
Everything is tensor arithmetic on the device, with no host synchronisation, so it can live in a CUDA graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from serving.engine.vocabulary import Vocabulary

NEG_INF = float("-inf")


@dataclass(frozen=True)
class RowState:
    """Views of the search's per-row buffers (see :class:`serving.engine.token_search.SearchState`)."""

    history: torch.Tensor  # (rows, positions + 1) token ids: the prefix, then sampled tokens
    length: torch.Tensor  # (rows,) tokens in history
    sample_begin: torch.Tensor  # (rows,) index of the first sampled token
    timestamps: torch.Tensor  # (rows,) bool: timestamp mode
    last_timestamp: torch.Tensor  # (rows,) the last sampled timestamp token, -1 before the first
    min_new: torch.Tensor  # (rows,) end of text is suppressed until this many tokens were sampled
    # (rows,) in timestamp mode, end of text is suppressed until a timestamp token at least this one was sampled
    # (-1: never suppressed): the window's speech runs on to there, so Whisper may not leave its last sentence out
    end_not_before: torch.Tensor | None = None


class LogitRules:
    def __init__(self, vocabulary: Vocabulary, logits_width: int, device: torch.device) -> None:
        ids = torch.arange(logits_width, device=device)
        begin = vocabulary.timestamp_begin
        self.vocabulary = vocabulary
        self.ids = ids
        self.bias = torch.zeros(logits_width, device=device)
        self.bias[list(vocabulary.suppress)] = NEG_INF
        self.at_begin = torch.isin(ids, torch.tensor(vocabulary.suppress_at_begin, device=device))
        self.is_timestamp = ids >= begin
        self.is_text = ids < vocabulary.eot
        self.is_eot = ids == vocabulary.eot
        self.is_no_timestamps = ids == vocabulary.no_timestamps
        self.too_late_initially = ids > begin + vocabulary.max_initial_timestamp_index

    def apply(self, logits: torch.Tensor, row: RowState, timestamps: bool, min_new: bool) -> torch.Tensor:
        """Float32 logits (rows, vocab) -> filtered logits. ``timestamps``/``min_new``: whether any row of the batch
        uses timestamp mode / a minimum length (static, so that a graph captures only the work it needs)."""
        sampled = row.length - row.sample_begin
        first = (sampled == 0).unsqueeze(1)
        mask = first & self.at_begin
        if min_new:
            mask = mask | ((sampled < row.min_new).unsqueeze(1) & self.is_eot)
        text_mode = ~row.timestamps.unsqueeze(1)
        mask = mask | (text_mode & self.is_timestamp)
        if timestamps:
            mask = mask | self._timestamp_mask(row, sampled, first)
        logits = (logits + self.bias).masked_fill(mask, NEG_INF)
        if timestamps:
            logits = self._prefer_timestamps(logits, row)
        return logits

    def _timestamp_mask(self, row: RowState, sampled: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
        begin = self.vocabulary.timestamp_begin
        last = row.history.gather(1, (row.length - 1).clamp(min=0).unsqueeze(1)).squeeze(1)
        penultimate = row.history.gather(1, (row.length - 2).clamp(min=0).unsqueeze(1)).squeeze(1)
        last_was = (sampled >= 1) & (last >= begin)
        penultimate_was = (sampled < 2) | (penultimate >= begin)
        open_pair = last_was & ~penultimate_was  # a segment just ended: the next timestamp may repeat it
        floor = torch.where(open_pair, row.last_timestamp, row.last_timestamp + 1)
        mask = (last_was & penultimate_was).unsqueeze(1) & self.is_timestamp
        mask = mask | (open_pair.unsqueeze(1) & self.is_text)
        mask = mask | (self.is_timestamp & (self.ids < floor.unsqueeze(1)))
        mask = mask | (first & ~self.is_timestamp) | (first & self.too_late_initially)
        if row.end_not_before is not None:
            mask = mask | ((row.last_timestamp < row.end_not_before).unsqueeze(1) & self.is_eot)
        return (mask | self.is_no_timestamps) & row.timestamps.unsqueeze(1)

    def _prefer_timestamps(self, logits: torch.Tensor, row: RowState) -> torch.Tensor:
        """openai compares log-probabilities; both sides are the logits less the same normaliser, so the logits
        (the timestamps are the ids from ``timestamp_begin`` on) compare the same without a softmax."""
        begin = self.vocabulary.timestamp_begin
        timestamp_mass = logits[:, begin:].logsumexp(dim=-1)
        best_text = logits[:, :begin].amax(dim=-1)
        force = (row.timestamps & (timestamp_mass > best_text)).unsqueeze(1)
        logits[:, :begin].masked_fill_(force, NEG_INF)  # ``logits`` is apply()'s own tensor
        return logits
