"""The encoder on the CPU: a batch of windows in one pass (the baseline) against ``WhisperDecoder.encode``, which runs
``CPU_ENCODER_WINDOWS`` windows per pass. The embedded whisper-base, random log-mel windows (the arithmetic's cost does
not depend on them), one process; per batch size the median of ``--repeats`` runs of each, taken in turns, and the
ratio one pass / ours in seconds per window.

    python -m benchmarks.encoder_batch [--threads 1] [--batches 2,4,8,16] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
from functools import partial

import torch

from benchmarks.in_turns import median_ms_in_turns


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batches", default="2,4,8,16")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from scripts.conversion.embedded_model import ensure_whisper_base
    from serving.engine.decoding import CPU_ENCODER_WINDOWS, EngineOptions, WhisperDecoder
    from serving.engine.loading import load_model
    from serving.engine.placement import resolve_placement
    from serving.settings import load_settings

    settings = load_settings({"model_id": str(ensure_whisper_base())}, environ={})
    loaded = load_model(settings, None, resolve_placement(settings, "-1"))
    decoder = WhisperDecoder(loaded, EngineOptions(capacity=1, cuda_graphs=False))
    mels = loaded.model.config.num_mel_bins
    print(f"| windows | one pass s/window | {CPU_ENCODER_WINDOWS} per pass s/window | one pass / ours |  "
          f"({args.threads} thread(s), torch {torch.__version__})\n|---|---|---|---|")
    for batch in (int(b) for b in args.batches.split(",")):
        features = torch.randn(batch, mels, 3000, generator=torch.Generator().manual_seed(batch))
        one_pass, ours = (ms / 1000 for ms in median_ms_in_turns(
            partial(_one_pass, decoder, features), partial(decoder.encode, features), args.repeats))
        print(f"| {batch} | {one_pass / batch:.3f} | {ours / batch:.3f} | {one_pass / ours:.2f}x |", flush=True)
    return 0


@torch.inference_mode()
def _one_pass(decoder, features: torch.Tensor) -> torch.Tensor:
    return decoder.encoder(input_features=features).last_hidden_state


if __name__ == "__main__":
    sys.exit(main())
