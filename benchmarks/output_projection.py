"""The decoder's output projection on the CPU: ``F.linear`` (the baseline) against the blocked product of
``serving.engine.output_projection``, on whisper-base's shape (51,865 x 512, random float32 weights: the arithmetic's
cost does not depend on their values), at the row counts a decoding step sees. One process, the median of
``--repeats`` calls each, the ratio baseline / blocked per row count.

    python -m benchmarks.output_projection [--threads 1] [--rows 1,2,3,8,16,64] [--repeats 15]
"""

from __future__ import annotations

import argparse
import sys

import torch
import torch.nn.functional as F

from benchmarks.host_cost import median_ms
from serving.engine.output_projection import OutputProjection

VOCAB, WIDTH = 51865, 512  # whisper-base (every multilingual Whisper but large-v3's 51,866)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rows", default="1,2,3,8,16,64")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    weight = torch.randn(VOCAB, WIDTH, generator=torch.Generator().manual_seed(0))
    blocked = OutputProjection(weight, blocked=True)
    print(f"| rows | F.linear ms | blocked ms | F.linear / blocked |  ({args.threads} thread(s), torch "
          f"{torch.__version__})\n|---|---|---|---|")
    for rows in (int(r) for r in args.rows.split(",")):
        hidden = torch.randn(rows, WIDTH)
        baseline = median_ms(lambda: F.linear(hidden, weight), args.repeats)
        ours = median_ms(lambda: blocked(hidden), args.repeats)
        print(f"| {rows} | {baseline:.2f} | {ours:.2f} | {baseline / ours:.2f}x |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
