"""Issue 15's accuracy report in one command: ours against faster-whisper on the same weights and against the
references, on the English evaluation set (120 clips, 8 voices, 3 speeds; made into the cache on first use), the
bundled non-English clips (language detection), the long file (chunked and sequential) and word timestamps.

    python -m scripts.evaluate_accuracy [--markdown docs/accuracy.md] [--every 1] [--long-seconds 300] [--threads 1]

Every transcript is cached on disk (ours under ``ours-transcripts``, keyed by the audio, the variant and a digest
of the decoding code: ``serving/engine``, ``longform``, ``batching``, ``audio``; faster-whisper's under
``reference-transcripts``), so a second run with unchanged code only scores. Ours runs without VAD on the clips (the
reference decoder runs without it too: both see the same audio). On a crowded machine, ``--every 3`` (40 clips, each
sentence once) and ``--reference-beams 1`` keep a run short; the report says what it covers.

The work is done by ``scripts.accuracy`` (``ours``: our runs and their cache; ``report``: the sections).

Our variants: the front end (option ``log_mel_padding``: ``audio`` pads the audio to 30 s then takes the log-mel, as
transformers does; ``features`` zeroes the frames past the audio, as faster-whisper does), timestamp tokens in every
format or only in the timed ones (option ``timestamps_in_every_format``; the responses are ``json``), and beam search
where the request parameters have ``beam_size`` (a column of dashes when they do not).
"""


from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

import torch

from scripts.accuracy.report import SECTIONS, build_report
from scripts.scoring.reference import THREADS_VARIABLE


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m scripts.evaluate_accuracy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", type=Path, help="write the report here (docs/accuracy.md)")
    parser.add_argument("--long-seconds", type=float, default=300.0, help="the long file's length; 0: skip it")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for each system (torch and CTranslate2); 1 suits a shared machine")
    parser.add_argument("--every", type=int, default=1,
                        help="score one clip in n of the English set (3: 40 clips, every sentence once)")
    parser.add_argument("--reference-beams", default="1,5", help="faster-whisper's beam sizes on the English set")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated, of: {', '.join(SECTIONS)}")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ[THREADS_VARIABLE] = str(args.threads)
    torch.set_num_threads(args.threads)
    text = build_report(
        " ".join(["python -m scripts.evaluate_accuracy", *map(shlex.quote, argv)]), args.threads, args.every,
        tuple(int(b) for b in args.reference_beams.split(",")), args.long_seconds,
        frozenset(args.sections.split(",")),
    )
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
