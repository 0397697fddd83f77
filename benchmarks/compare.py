"""Ours vs the naive baseline (transformers' pipeline per request) vs faster-whisper, in one process run.

    python -m benchmarks.compare [--quick] [--markdown docs/benchmarks.md]     # CPU, the embedded whisper-base
    python -m benchmarks.compare --gpu [--quick] [--markdown docs/benchmarks.md]
                                            # GPU: turbo-shaped random weights, 110 tokens per window, batch 1-256

Prints real-time factor (audio seconds / processing seconds), p50/p99 latency, peak memory and WER per scenario
and system, the ratios ours/baseline and ours/faster-whisper, the host cost per 30 s window and (GPU) a FLOP audit.
It measures whatever ``serving/`` holds when it runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from benchmarks.fixed_tokens import BATCH_SIZES, FIXED_TOKENS, FixedTokenPlan, run_fixed_tokens
from benchmarks.goals import cpu_goals, gpu_goals
from benchmarks.host_cost import measure_host_cost
from benchmarks.random_model import LARGE_V3_TURBO
from benchmarks.report import Report, describe_environment, format_markdown, format_text, ratios
from benchmarks.runner import SystemRun, run_system
from benchmarks.systems import (
    CPU,
    Baseline,
    Decoding,
    Engine,
    FasterWhisper,
    FasterWhisperSetup,
    OursService,
    Runtime,
)
from benchmarks.workload import DEFAULT_SHAPE, QUICK_SHAPE, Scenario, scenarios, window_request
from serving.settings import Settings

logger = logging.getLogger(__name__)

SYSTEMS = ("ours", "baseline", "faster-whisper")
WORK_OPTIONS = ("vad", "long_form", "chunk_overlap_seconds", "compression_ratio_threshold", "logprob_threshold")
GPU = Runtime("cuda", torch.bfloat16)
QUICK_BATCH_SIZES = (1, 8, 64)
FASTER_WHISPER_MODES = ("sequential", "workers", "batched", "batched-vad")
DEFAULT_FASTER_WHISPER_MODE = "batched-vad"  # issue 14's baseline: batched, with its VAD where a request is alone


def faster_whisper_setup(mode: str, threads: int) -> FasterWhisperSetup:
    """sequential: one request at a time on all threads; workers: a burst on ``threads`` single-threaded workers;
    batched: BatchedInferencePipeline over all windows of a call; batched-vad: the same, with faster-whisper's VAD
    cutting a request that is alone in its call."""
    if mode == "workers":
        return FasterWhisperSetup(cpu_threads=1, num_workers=threads)
    return FasterWhisperSetup(cpu_threads=threads, batched=mode.startswith("batched"), vad=mode == "batched-vad")


def compare(
    model_dir: Path,
    ct2_dir: Path,
    runtime: Runtime,
    decoding: Decoding,
    workload: Sequence[Scenario],
    faster_whisper: FasterWhisperSetup,
    systems: Sequence[str] = SYSTEMS,
    engine: Engine = Engine(),
    options: Mapping[str, str] | None = None,
) -> list[SystemRun]:
    """Every selected system over the same workload, one after the other, each warmed up once."""
    warmup = workload[0].requests[0]
    factories = {
        "ours": (lambda: OursService(model_dir, runtime, decoding, engine=engine, options=options),
                 f"TranscriptionService.handle, wav bytes in, a burst as one batch (DJL dynamic batching), "
                 f"serving options {describe_options(options)}, {engine}"),
        "baseline": (lambda: Baseline(model_dir, runtime, decoding), "transformers pipeline(chunk_length_s=30), "
                     "one call per request, a burst one at a time (a one-worker endpoint)"),
        "faster-whisper": (
            lambda: FasterWhisper(ct2_dir, runtime, decoding, faster_whisper), faster_whisper.describe()
        ),
    }
    score = not decoding.is_fixed
    runs = []
    for name in systems:
        factory, setup = factories[name]
        runs.append(run_system(name, factory, workload, runtime, warmup, score, setup))
    return runs


def describe_options(options: Mapping[str, str] | None) -> str:
    """The serving options that shape the work (defaults unless ``--option`` changed them)."""
    chosen = {name: Settings.model_fields[name].default for name in WORK_OPTIONS}
    chosen.update(options or {})
    return ", ".join(f"{name}={value}" for name, value in chosen.items())


def cpu_report(args: argparse.Namespace, command: str, load: float) -> Report:
    from scripts.conversion.embedded_model import ensure_ct2_whisper_base, ensure_whisper_base

    model_dir, ct2_dir = ensure_whisper_base(), ensure_ct2_whisper_base()
    threads = torch.get_num_threads()
    workload = scenarios(QUICK_SHAPE if args.quick else DEFAULT_SHAPE)
    host = measure_host_cost(window_request().audio, model_dir, CPU)
    setup = faster_whisper_setup(args.faster_whisper, threads)
    engine = Engine(torch_compile=args.compile)
    runs = compare(model_dir, ct2_dir, CPU, Decoding(), workload, setup, args.systems, engine, dict(args.option))
    notes = (*cpu_goals(ratios(runs), host), *CPU_NOTES, *args.note)
    return Report("whisper-lmi benchmark: CPU, whisper-base (embedded)", describe_environment(command, load),
                  tuple(runs), host, None, notes)


def gpu_report(args: argparse.Namespace, command: str, load: float) -> Report:
    from scripts.conversion.embedded_model import ensure_whisper_base

    if not torch.cuda.is_available():
        raise SystemExit("--gpu needs a CUDA device (torch.cuda.is_available() is False)")
    template = args.template_dir or ensure_whisper_base()
    plan = FixedTokenPlan(
        runtime=GPU,
        shape=LARGE_V3_TURBO,
        template_dir=template,
        tokens=args.tokens,
        batch_sizes=QUICK_BATCH_SIZES if args.quick else BATCH_SIZES,
        repeats=1 if args.quick else FixedTokenPlan.repeats,
        systems=args.systems,
        engine=Engine(torch_compile=args.compile),
    )
    with tempfile.TemporaryDirectory(prefix="whisper-lmi-bench-") as work:
        results = run_fixed_tokens(plan, Path(work))
    notes = (*gpu_goals(results.runs, results.host), *gpu_notes(args.tokens), *args.note)
    return Report(f"whisper-lmi benchmark: GPU, large-v3-turbo shape, random weights, {args.tokens} tokens per window",
                  describe_environment(command, load), results.runs, results.host, results.flops, notes)


CPU_NOTES = (
    "RTFx = audio seconds / wall seconds of the scenario; latency from a request's arrival to its answer "
    "(one by one: each request arrives when the previous is answered; at once: all arrive together).",
    "Peak memory: peak RSS above the RSS just before the scenario (after gc and malloc_trim), sampled every 2 ms "
    "from /proc/self/statm: the working memory, weights excluded; memory an allocator keeps cached from the warm-up "
    "or an earlier scenario is not counted again.",
    "WER: Whisper's English normaliser for English, the basic normaliser for the other languages; corpus WER over "
    "the scenario's requests.",
    "Workload: the bundled speech clips (en, de, fr, es); long clips are English clips packed end to end (0.3 s "
    "gaps), none crossing a 30 s window edge, to ~90 s and 5 min. Each system is warmed up once on a short clip.",
    "ours includes the wav encoding of each request (the client's work, 1-2 ms per 10 s of audio here) and host "
    "decoding; the baseline and faster-whisper get the float32 waveform.",
    "faster-whisper's setting (--faster-whisper): batched-vad, issue 14's baseline: BatchedInferencePipeline, the "
    "fastest of sequential / workers / batched when compared on this machine at 1 thread each (8 short clips at once: "
    "38-44 s batched vs 61-66 s sequential; one 90 s clip: 21-23 s vs 25 s), with its own VAD (its default) packing "
    "the speech of a request that is alone in its call into windows of up to 30 s; a burst is one call at fixed 30 s "
    "edges. CTranslate2 uses the same number of threads as torch.",
)


def gpu_notes(tokens: int) -> tuple[str, ...]:
    return (
        "Random weights in large-v3-turbo's shape (d_model 1280, 32 encoder and 4 decoder layers, 20 heads, 128 mel "
        "bins, ffn 5120, 448/1500 positions), bf16 safetensors built locally; vocabulary, tokenizer and generation "
        "settings from the embedded whisper-base, so the vocabulary is 51,865 tokens instead of turbo's 51,866.",
        f"Every system decodes exactly {tokens} tokens per 30 s window after <|startoftranscript|><|en|>"
        f"<|transcribe|><|notimestamps|> (language given, no detection); WER is meaningless here (n/a).",
        "Bursts: the same 30 s clip N times at once; each figure is the median of the repeats after one warm-up "
        "run of the same burst. Peak memory: torch.cuda.max_memory_allocated per scenario (weights included); "
        "CTranslate2 allocations are not seen by torch.",
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.compare", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--gpu", action="store_true", help="the fixed-token GPU mode (turbo shape, random weights)")
    parser.add_argument("--markdown", type=Path, help="also write the results as Markdown to this file")
    parser.add_argument("--systems", type=_systems, default=SYSTEMS, help=f"comma-separated subset of {SYSTEMS}")
    parser.add_argument("--faster-whisper", choices=FASTER_WHISPER_MODES, default=DEFAULT_FASTER_WHISPER_MODE,
                        help="faster-whisper's setting on CPU (see faster_whisper_setup)")
    parser.add_argument("--tokens", type=int, default=FIXED_TOKENS, help="GPU mode: tokens decoded per window")
    parser.add_argument("--template-dir", type=Path,
                        help="GPU mode: the vocabulary and tokenizer's directory (default: the embedded whisper-base)")
    parser.add_argument("--compile", action="store_true", help="ours with option torch_compile=true")
    parser.add_argument("--threads", type=int, help="CPU threads for every system (torch and CTranslate2); "
                        "default: torch's (the usable cores)")
    parser.add_argument("--option", type=_option, action="append", default=[], metavar="KEY=VALUE",
                        help="CPU mode: a serving option for ours (e.g. vad=off), repeatable")
    parser.add_argument("--note", action="append", default=[], help="a line for the report's notes (repeatable)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each scenario and the service's log lines")
    return parser.parse_args(argv)


def _option(value: str) -> tuple[str, str]:
    key, sep, setting = value.partition("=")
    if not sep or key.strip() not in Settings.model_fields:
        raise argparse.ArgumentTypeError(f"{value!r}: expected KEY=VALUE with a serving option as KEY")
    return key.strip(), setting.strip()


def _systems(value: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in value.split(",") if name.strip())
    unknown = sorted(set(names) - set(SYSTEMS))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown system(s) {unknown}; choose from {', '.join(SYSTEMS)}")
    return names


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.threads:
        torch.set_num_threads(args.threads)
    command = shlex.join(["python", "-m", "benchmarks.compare", *(sys.argv[1:] if argv is None else argv)])
    load = os.getloadavg()[0]
    report = gpu_report(args, command, load) if args.gpu else cpu_report(args, command, load)
    print(format_text(report))
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(format_markdown(report), encoding="utf-8")
        print(f"\nwrote {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
