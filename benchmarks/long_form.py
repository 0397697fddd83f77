"""Issue 3's figures in one run: the long file (>= 5 min, sentences across every 30 s edge) in both long-form
algorithms against the same sentences transcribed one by one, wall time next to faster-whisper's on the same weights,
and word-timestamp agreement with faster-whisper on the bundled clips.

    python -m benchmarks.long_form [--seconds 300] [--markdown docs/longform.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import dataclass

import torch

from scripts.conversion.embedded_model import ensure_whisper_base
from scripts.material.clips import clip_bytes, clips
from scripts.material.longform_audio import build_long_audio
from scripts.scoring.longform_errors import lost_or_doubled
from scripts.scoring.reference import faster_whisper_model
from scripts.scoring.wer import wer
from scripts.scoring.word_reference import Word, faster_whisper_words, match_words, timing_difference
from serving.api.params import parse_params
from serving.audio.decode import AudioLimits, decode_audio
from serving.batching.scheduler import Scheduler
from serving.batching.sessions import Job
from serving.constants import SAMPLE_RATE
from serving.endpoint.service import start_scheduler
from serving.settings import load_settings


@dataclass(frozen=True)
class Row:
    system: str
    wer: float
    seconds: float
    problems: int  # words dropped or doubled


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--markdown")
    parser.add_argument(
        "--threads", type=int, default=1,
        help="CPU threads for each system (torch and CTranslate2): 1 keeps a shared machine's neighbours from "
        "turning batch-1 decoding steps into spin-waits",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    long_audio = build_long_audio(args.seconds)
    settings = load_settings({"model_id": str(ensure_whisper_base())}, environ={})
    transcriber = start_scheduler(settings, "-1")
    references = [s.text for s in long_audio.sentences]
    pieces = [long_audio.waveform[round(s.start * SAMPLE_RATE) : round(s.end * SAMPLE_RATE)] for s in long_audio.sentences]
    alone = [r.text for r in transcriber.transcribe_all([Job.new(p, parse_params({"language": "en"})) for p in pieces])]
    alone_wer = wer(references, alone)
    rows = [_ours(transcriber, long_audio, mode) for mode in ("chunked", "sequential")]
    rows += [_faster_whisper(long_audio, words, args.threads) for words in (False, True)]
    timing = _word_timing(transcriber)
    lines = _report(long_audio, alone_wer, rows, timing)
    print("\n".join(lines))
    if args.markdown:
        with open(args.markdown, "w") as handle:
            handle.write("\n".join(lines) + "\n")
    return 0


def _ours(transcriber: Scheduler, long_audio, mode: str) -> Row:
    params = parse_params({"long_form": mode, "language": "en", "response_format": "verbose_json"})
    transcriber.transcribe_all([Job.new(long_audio.waveform[: SAMPLE_RATE * 5], params)])  # warm-up
    started = time.perf_counter()
    (result,) = transcriber.transcribe_all([Job.new(long_audio.waveform, params)])
    seconds = time.perf_counter() - started
    text = result.text
    return Row(f"ours, {mode}", wer([long_audio.text], [text]), seconds, len(lost_or_doubled(text, long_audio.text)))


def _faster_whisper(long_audio, words: bool, threads: int) -> Row:
    model = faster_whisper_model(threads)
    list(model.transcribe(long_audio.waveform[: SAMPLE_RATE * 5], beam_size=1, language="en")[0])  # warm-up
    started = time.perf_counter()
    segments, _ = model.transcribe(long_audio.waveform, beam_size=1, language="en", word_timestamps=words)
    text = " ".join(segment.text.strip() for segment in segments)
    seconds = time.perf_counter() - started
    name = "faster-whisper, sequential" + (", word timestamps" if words else "")
    return Row(name, wer([long_audio.text], [text]), seconds, len(lost_or_doubled(text, long_audio.text)))


def _word_timing(transcriber: Scheduler):
    params = parse_params({"response_format": "verbose_json", "timestamp_granularities": "word"})
    audio = [decode_audio(clip_bytes(n), AudioLimits(10**9, 3600)) for n in clips()]
    pairs = []
    for waveform, result in zip(audio, transcriber.transcribe_all([Job.new(a, params) for a in audio])):
        ours = [Word(w.word, w.start, w.end, w.probability) for w in result.words]
        pairs += match_words(ours, faster_whisper_words(waveform))
    return timing_difference(pairs)


def _report(long_audio, alone_wer: float, rows: list[Row], timing) -> list[str]:
    lines = [
        "# Long-form figures (issue 3)",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads; "
        f"whisper-base (embedded), CPU float32. Command: `python -m benchmarks.long_form --threads {torch.get_num_threads()}`; 1-min load average "
        f"{os.getloadavg()[0]:.1f} at the end (a shared machine).",
        "",
        f"Long file: {long_audio.seconds:.1f} s, {len(long_audio.sentences)} sentences joined without pauses, "
        f"{sum(s.inside for s in long_audio.seams)} of {len(long_audio.seams)} window edges inside a sentence.",
        f"The same sentences transcribed one by one: WER {alone_wer * 100:.2f}%.",
        "",
        "| system | long-file WER | vs one by one | wall time (s) | RTFx | words dropped or doubled |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row.system} | {row.wer * 100:.2f}% | {(row.wer - alone_wer) * 100:+.2f} pt | {row.seconds:.1f} | "
            f"{long_audio.seconds / row.seconds:.1f} | {row.problems} |"
        )
    lines += [
        "",
        f"Word timestamps against faster-whisper's on the {len(clips())} bundled clips ({timing.pairs} matched words): "
        f"start mean {timing.mean_start * 1000:.0f} ms, max {timing.max_start * 1000:.0f} ms; "
        f"end mean {timing.mean_end * 1000:.0f} ms, max {timing.max_end * 1000:.0f} ms.",
    ]
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
