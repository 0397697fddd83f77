"""The decoder's output projection on the CPU (``serving.engine.output_projection``): the blocked product gives
``F.linear``'s logits (within float32 rounding, the same argmax) for one row, a few rows, a block's edge and a
vocabulary that is not a whole number of blocks, in any leading shape; many rows and the unblocked projection are
``F.linear`` itself."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from serving.engine.output_projection import BLOCK, MOST_BLOCKED_ROWS, OutputProjection

VOCAB, WIDTH = 3 * BLOCK + 77, 64  # a partial last block


@pytest.fixture(scope="module")
def weight() -> torch.Tensor:
    return torch.randn(VOCAB, WIDTH, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("shape", [(1, WIDTH), (2, WIDTH), (3, WIDTH), (MOST_BLOCKED_ROWS, WIDTH), (2, 5, WIDTH)])
def test_blocked_logits_are_linear_logits(weight, shape):
    hidden = torch.randn(*shape, generator=torch.Generator().manual_seed(sum(shape)))
    expected = F.linear(hidden, weight)
    logits = OutputProjection(weight, blocked=True)(hidden)
    assert logits.shape == expected.shape and logits.dtype == torch.float32
    torch.testing.assert_close(logits, expected, rtol=1e-5, atol=1e-4)
    assert torch.equal(logits.argmax(-1), expected.argmax(-1))


def test_many_rows_and_the_unblocked_projection_are_linear_itself(weight):
    many = torch.randn(MOST_BLOCKED_ROWS + 1, WIDTH)
    assert torch.equal(OutputProjection(weight, blocked=True)(many), F.linear(many, weight))
    few = torch.randn(3, WIDTH)
    assert torch.equal(OutputProjection(weight, blocked=False)(few), F.linear(few, weight))
