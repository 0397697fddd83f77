"""The decoder's output projection: final hidden states -> float32 vocabulary logits.

A decoding step asks for the logits of a few rows. On the CPU, ``F.linear`` over the tied (vocab, width) weight is
slow for so few rows: it seems to pass over the whole weight (106 MB for whisper-base) once per row. The same weight
transposed, seen as column blocks (blocks, width, ``BLOCK``) and multiplied by one batched matmul, reuses each block
for every row while it is in cache; one row multiplies the transposed weight whole. ``python -m
benchmarks.output_projection`` measures both (docs/benchmarks.md). The blocks cost one more copy of the weight, on the
CPU only. Elsewhere (an accelerator, or many rows at once: prefill, alignment) it is ``F.linear``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

BLOCK = 1024  # vocabulary columns per block: 2 MiB of float32 weight at width 512
MOST_BLOCKED_ROWS = 64  # more rows than this (a prefill, an alignment pass) go through F.linear


class OutputProjection:
    def __init__(self, weight: torch.Tensor, blocked: bool) -> None:
        self.weight = weight  # (vocab, width)
        self.vocab = weight.shape[0]
        self._columns = _padded_columns(weight) if blocked else None  # (width, blocks * BLOCK)

    def __call__(self, hidden: torch.Tensor) -> torch.Tensor:
        """Logits (..., vocab) of ``hidden`` (..., width), float32."""
        width = hidden.shape[-1]
        rows = hidden.numel() // width
        if self._columns is None or rows > MOST_BLOCKED_ROWS:
            return F.linear(hidden, self.weight).float()
        flat = hidden.reshape(rows, width)
        if rows == 1:  # one row: one pass over the transposed weight
            logits = flat @ self._columns
        else:  # the transposed weight seen as (blocks, width, BLOCK): each block once for every row
            blocks = self._columns.shape[1] // BLOCK
            view = self._columns.as_strided((blocks, width, BLOCK), (BLOCK, self._columns.shape[1], 1))
            logits = torch.bmm(flat.unsqueeze(0).expand(blocks, -1, -1), view).transpose(0, 1).reshape(rows, -1)
        return logits[:, : self.vocab].reshape(*hidden.shape[:-1], self.vocab).float()


def _padded_columns(weight: torch.Tensor) -> torch.Tensor:
    """The weight transposed (width, vocab), contiguous, padded with zero columns to whole blocks."""
    vocab, width = weight.shape
    columns = torch.zeros(width, -(-vocab // BLOCK) * BLOCK, dtype=weight.dtype, device=weight.device)
    columns[:, :vocab] = weight.detach().t()
    return columns
