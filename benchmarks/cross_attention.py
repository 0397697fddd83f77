"""A decoding step's cross-attention on the CPU: the fused kernel (``F.scaled_dot_product_attention``, the baseline)
over keys laid out as the values, against ``serving.engine.decoder_runtime``'s two products over keys kept transposed.
whisper-base's shape (6 layers, 8 heads of 64, 1,500 encoder positions), one query per row, random float32 tensors
(the arithmetic's cost does not depend on their values); per row count the median of ``--repeats`` runs of all layers,
each run in turns, and the ratio baseline / ours.

    python -m benchmarks.cross_attention [--threads 1] [--rows 1,3,10,16] [--repeats 30]
"""

from __future__ import annotations

import argparse
import sys
from functools import partial

import torch
import torch.nn.functional as F

from benchmarks.in_turns import median_ms_in_turns
from serving.engine.decoder_runtime import attend_transposed_keys

LAYERS, HEADS, HEAD_DIM, SOURCES = 6, 8, 64, 1500  # whisper-base


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rows", default="1,3,10,16")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"| rows | keys and values read per step MB | fused kernel ms | transposed keys ms | fused / ours |  "
          f"({args.threads} thread(s), torch {torch.__version__})\n|---|---|---|---|---|")
    for rows in (int(r) for r in args.rows.split(",")):
        queries = [torch.randn(rows, HEADS, 1, HEAD_DIM) for _ in range(LAYERS)]
        keys = [torch.randn(rows, HEADS, SOURCES, HEAD_DIM) for _ in range(LAYERS)]
        values = [torch.randn(rows, HEADS, SOURCES, HEAD_DIM) for _ in range(LAYERS)]
        transposed = [k.transpose(-1, -2).contiguous() for k in keys]
        fused, ours = median_ms_in_turns(
            partial(_all_layers, F.scaled_dot_product_attention, queries, keys, values),
            partial(_all_layers, attend_transposed_keys, queries, transposed, values), args.repeats, warmups=3)
        megabytes = 2 * LAYERS * rows * SOURCES * HEADS * HEAD_DIM * 4 / 1e6
        print(f"| {rows} | {megabytes:.0f} | {fused:.2f} | {ours:.2f} | {fused / ours:.2f}x |", flush=True)
    return 0


def _all_layers(attend, queries, keys, values) -> list[torch.Tensor]:
    return [attend(q, k, v) for q, k, v in zip(queries, keys, values)]


if __name__ == "__main__":
    sys.exit(main())
