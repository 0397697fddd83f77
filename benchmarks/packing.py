"""Issue 14 item 2 in one run: chunked long form with windows packed by speech (``option.chunk_windows=speech``, the
default) against the fixed overlap (``fixed``): windows per hour of audio, WER, words dropped or doubled, wall time.

    python -m benchmarks.packing [--seconds 300] [--markdown docs/longform.md]

With ``--markdown`` its section replaces the one of the same heading in that file (appended when there is none).

Two files of the same sentences (``scripts.material.longform_audio``): joined without pauses (speech runs across
every window edge: packing finds no pause to cut at), and joined with the pauses of ordinary speech between sentences
(0.4-1.0 s of digital silence, in a fixed cycle). Ours runs with its defaults (Silero VAD on, greedy, language given);
faster-whisper (beam 1, no VAD, the reference decoder of ``scripts.scoring.reference``, cached) gives the WER a
sequential decoder reaches on the same weights. Windows are counted as the runner decodes them: the plan's windows,
its repair and tail windows, and temperature-fallback retries.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from scripts.conversion.embedded_model import ensure_whisper_base
from scripts.material.audio_files import encode_audio
from scripts.material.longform_audio import LongAudio, build_long_audio
from scripts.scoring.longform_errors import lost_or_doubled
from scripts.scoring.reference import THREADS_VARIABLE, faster_whisper_transcribe
from scripts.scoring.wer import wer
from serving.api.params import parse_params
from serving.batching.scheduler import Scheduler
from serving.batching.sessions import Job
from serving.constants import SAMPLE_RATE
from serving.endpoint.service import load_model, resolve_placement, runner_options, scheduler_options
from serving.batching.runner import Runner
from serving.settings import load_settings

PAUSES_SECONDS = (0.4, 0.6, 0.8, 1.0)  # between sentences, in turn
MODES = ("speech", "fixed")


@dataclass(frozen=True)
class Material:
    name: str
    waveform: np.ndarray
    text: str

    @property
    def seconds(self) -> float:
        return self.waveform.size / SAMPLE_RATE


@dataclass(frozen=True)
class Row:
    material: str
    system: str
    planned: int | None  # the plan's first windows
    decoded: int | None  # every window the runner decoded
    wer: float
    problems: int
    seconds: float | None


class CountingRunner:
    """A runner that counts the windows it decodes (everything else is the runner's)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.windows = 0

    def __getattr__(self, name: str):
        return getattr(self.runner, name)

    def run(self, batch, sessions):  # whole batches (scheduling=batches, and beams)
        self.windows += len(batch)
        return self.runner.run(batch, sessions)

    def join(self, batch, sessions):  # windows joining the running batch (scheduling=steps, the default)
        self.windows += len(batch)
        return self.runner.join(batch, sessions)


def with_pauses(long_audio: LongAudio) -> Material:
    """The long file's sentences with a pause after each but the last."""
    pieces = []
    for index, sentence in enumerate(long_audio.sentences):
        pieces.append(long_audio.waveform[round(sentence.start * SAMPLE_RATE) : round(sentence.end * SAMPLE_RATE)])
        if index + 1 < len(long_audio.sentences):
            pieces.append(np.zeros(round(PAUSES_SECONDS[index % len(PAUSES_SECONDS)] * SAMPLE_RATE), np.float32))
    return Material("sentences with pauses", np.concatenate(pieces), long_audio.text)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--markdown")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads for each system (torch and CTranslate2)")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ[THREADS_VARIABLE] = str(args.threads)
    torch.set_num_threads(args.threads)
    long_audio = build_long_audio(args.seconds)
    materials = [Material("sentences without pauses", np.asarray(long_audio.waveform), long_audio.text),
                 with_pauses(long_audio)]
    rows = []
    for mode in MODES:
        settings = load_settings({"model_id": str(ensure_whisper_base()), "chunk_windows": mode}, environ={})
        runner = CountingRunner(Runner(load_model(settings, None, resolve_placement(settings, "-1")),
                                       runner_options(settings)))
        scheduler = Scheduler(runner, scheduler_options(settings, async_mode=False, budgets=False))
        try:
            rows += [_ours(scheduler, runner, material, mode) for material in materials]
        finally:
            scheduler.close()
    rows += [_reference(material) for material in materials]
    lines = _report(args, materials, rows)
    print("\n".join(lines))
    if args.markdown:
        write_section(Path(args.markdown), lines)
    return 0


def write_section(path: Path, lines: list[str]) -> None:
    """``lines`` (headed by a ``## `` line) in place of the section of that heading in ``path``, up to the next
    heading of that level or above; appended when the file has no such section."""
    existing = path.read_text().split("\n") if path.exists() else []
    if existing and existing[-1] == "":
        existing.pop()
    heading = lines[0]
    if heading in existing:
        start = existing.index(heading)
        end = next((i for i in range(start + 1, len(existing)) if existing[i].startswith(("# ", "## "))), len(existing))
        existing[start:end] = [*lines, ""] if end < len(existing) else lines
    else:
        existing += ["", *lines] if existing else lines
    path.write_text("\n".join(existing) + "\n")


def _ours(scheduler: Scheduler, runner: CountingRunner, material: Material, mode: str) -> Row:
    params = parse_params({"language": "en", "response_format": "verbose_json", "long_form": "chunked"})
    job = Job.new(material.waveform, params)
    planned = len(runner.open(job).plan.tasks)
    scheduler.transcribe_all([Job.new(material.waveform[: SAMPLE_RATE * 5], params)])  # warm-up
    before = runner.windows
    started = time.perf_counter()
    (result,) = scheduler.transcribe_all([job])
    seconds = time.perf_counter() - started
    return Row(material.name, f"ours, chunked, chunk_windows={mode}", planned, runner.windows - before,
               wer([material.text], [result.text]), len(lost_or_doubled(result.text, material.text)), seconds)


def _reference(material: Material) -> Row:
    text, _ = faster_whisper_transcribe(encode_audio(material.waveform, "flac"), language="en")
    return Row(material.name, "faster-whisper beam 1 (sequential, no VAD)", None, None, wer([material.text], [text]),
               len(lost_or_doubled(text, material.text)), None)


def _report(args, materials: list[Material], rows: list[Row]) -> list[str]:
    seconds = {m.name: m.seconds for m in materials}
    lines = [
        "## Windows packed by speech (issue 14 item 2)",
        "",
        f"Command: `python -m benchmarks.packing --seconds {args.seconds:g} --threads {args.threads}`; "
        f"{platform.machine()}, whisper-base (embedded), CPU float32, {args.threads} thread(s) per system; 1-min load "
        f"average {os.getloadavg()[0]:.1f} at the end (a shared machine: wall times are noisy, windows are not).",
        "",
        "Files: " + "; ".join(f"{m.name} ({m.seconds:.1f} s)" for m in materials) + ". Pauses between sentences: "
        f"{', '.join(f'{p:g}' for p in PAUSES_SECONDS)} s in turn (digital silence).",
        "",
        "| file | system | windows planned | windows decoded | decoded per hour of audio | WER | words dropped or "
        "doubled | wall time (s) | RTFx |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        hours = seconds[row.material] / 3600
        per_hour = f"{row.decoded / hours:.0f}" if row.decoded is not None else "-"
        wall = f"{row.seconds:.1f} | {seconds[row.material] / row.seconds:.1f}" if row.seconds else "- | -"
        lines.append(f"| {row.material} | {row.system} | {row.planned if row.planned is not None else '-'} | "
                     f"{row.decoded if row.decoded is not None else '-'} | {per_hour} | {row.wer * 100:.2f}% | "
                     f"{row.problems} | {wall} |")
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
