"""Results as a compact text table (stdout) and as Markdown (docs/benchmarks.md): hardware, versions, command."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata

import torch

from benchmarks.flops import FlopAudit
from benchmarks.host_cost import HostCost
from benchmarks.runner import Measurement, SystemRun
from scripts.paths import PROJECT_ROOT

OURS = "ours"
OTHERS = ("baseline", "faster-whisper")
PACKAGES = ("torch", "transformers", "ctranslate2", "faster-whisper", "av", "numpy")
HOST_GOAL_MS = 5.0
GFLOP = 1e9


@dataclass(frozen=True)
class Environment:
    cpu: str
    cores: int  # logical CPUs of the machine
    usable_cores: int  # this process's affinity
    torch_threads: int
    gpu: str
    python: str
    versions: dict[str, str]
    command: str
    load_average: tuple[float, float]  # 1-minute load average at the start and at the end
    code: str  # the commit measured (git describe --always --dirty)


@dataclass(frozen=True)
class Report:
    title: str
    environment: Environment
    runs: tuple[SystemRun, ...]
    host: HostCost | None = None
    flops: FlopAudit | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def describe_environment(command: str, load_at_start: float) -> Environment:
    return Environment(
        cpu=_cpu_model(),
        cores=os.cpu_count() or 0,
        usable_cores=len(os.sched_getaffinity(0)),
        torch_threads=torch.get_num_threads(),
        gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
        python=platform.python_version(),
        versions={name: _version(name) for name in PACKAGES},
        command=command,
        load_average=(load_at_start, os.getloadavg()[0]),
        code=_code_version(),
    )


def _code_version() -> str:
    """The commit of this checkout, ``-dirty`` when files differ from it; "unknown" outside a git checkout."""
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return done.stdout.strip() if done.returncode == 0 else "unknown"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


# ------------------------------------------------------------------------------------------------------- figures
@dataclass(frozen=True)
class Ratio:
    scenario: str
    other: str
    ours_rtfx: float
    other_rtfx: float

    @property
    def value(self) -> float:
        return self.ours_rtfx / self.other_rtfx


def ratios(runs: Sequence[SystemRun]) -> list[Ratio]:
    """ours RTFx / other RTFx for every scenario both ran, then "overall" (total audio / total wall over those)."""
    by_name = {run.name: run for run in runs}
    ours = by_name.get(OURS)
    found: list[Ratio] = []
    if ours is None:
        return found
    mine = {m.scenario: m for m in ours.measurements}
    for other in OTHERS:
        if other not in by_name:
            continue
        common = [(mine[m.scenario], m) for m in by_name[other].measurements if m.scenario in mine]
        found += [Ratio(a.scenario, other, a.rtfx, b.rtfx) for a, b in common]
        if len(common) > 1:
            mine_total, other_total = _total_rtfx([a for a, _ in common]), _total_rtfx([b for _, b in common])
            found.append(Ratio("overall", other, mine_total, other_total))
    return found


def _total_rtfx(measurements: Sequence[Measurement]) -> float:
    return sum(m.audio_seconds for m in measurements) / sum(m.wall_seconds for m in measurements)


# ---------------------------------------------------------------------------------------------------------- text
MEASUREMENT_COLUMNS = (
    "scenario", "system", "requests", "audio s", "wall s", "RTFx", "p50 s", "p99 s", "peak MiB", "WER",
)


def measurement_rows(runs: Sequence[SystemRun]) -> list[tuple[str, ...]]:
    rows = []
    for scenario in _scenarios(runs):
        for run in runs:
            for m in run.measurements:
                if m.scenario == scenario:
                    rows.append(_measurement_row(m))
    return rows


def _scenarios(runs: Sequence[SystemRun]) -> list[str]:
    return list(dict.fromkeys(m.scenario for run in runs for m in run.measurements))


def _measurement_row(m: Measurement) -> tuple[str, ...]:
    wer = "n/a" if m.wer is None else f"{m.wer:.1%}"
    return (
        m.scenario, m.system, str(m.requests), f"{m.audio_seconds:.1f}", f"{m.wall_seconds:.2f}", f"{m.rtfx:.2f}",
        f"{m.p50:.3f}", f"{m.p99:.3f}", f"{m.peak_mib:.0f}", wer,
    )


def ratio_rows(runs: Sequence[SystemRun]) -> list[tuple[str, ...]]:
    return [(r.scenario, f"{OURS}/{r.other}", f"{r.ours_rtfx:.2f}", f"{r.other_rtfx:.2f}", f"{r.value:.2f}x")
            for r in ratios(runs)]


RATIO_COLUMNS = ("scenario", "ratio", "ours RTFx", "other RTFx", "ours/other")


def format_text(report: Report) -> str:
    lines = [report.title, ""]
    lines += _text_table(MEASUREMENT_COLUMNS, measurement_rows(report.runs))
    lines += [""] + _text_table(RATIO_COLUMNS, ratio_rows(report.runs))
    lines += [f"{run.name}: not run: {run.not_run}" for run in report.runs if run.not_run]
    if report.host:
        lines += ["", *_host_lines(report.host)]
    if report.flops:
        lines += ["", *_flop_lines(report.flops)]
    return "\n".join(lines)


def _text_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(columns, *rows)]
    left = {0, 1}  # names left-aligned, numbers right-aligned

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return [line(columns), line(["-" * w for w in widths]), *(line(row) for row in rows)]


def _host_lines(host: HostCost) -> list[str]:
    lines = [f"host cost per 30 s window (goal <= {HOST_GOAL_MS:g} ms), median ms:"]
    lines += [f"  decode + resample, {label}: {ms:.2f}" for label, ms in host.decode_ms.items()]
    lines.append(f"  log-mel on {host.log_mel_device}: {host.log_mel_ms:.2f} alone, "
                 f"{host.log_mel_batched_ms:.2f} per window in a batch")
    lines += [f"  total, {label} + batched log-mel: {host.total_ms(label):.2f}" for label in host.decode_ms]
    return lines


def _flop_lines(flops: FlopAudit) -> list[str]:
    return [
        f"FLOP audit, one 30 s window, {flops.tokens} tokens (measured / analytic):",
        f"  encoder {flops.encoder_measured / GFLOP:,.1f} / {flops.encoder_analytic / GFLOP:,.1f} GFLOP "
        f"= {flops.encoder_ratio:.3f}",
        f"  decoder {flops.decoder_measured / GFLOP:,.1f} / {flops.decoder_analytic / GFLOP:,.1f} GFLOP "
        f"= {flops.decoder_ratio:.3f} (analytic {flops.decoder_per_token_analytic / GFLOP:.3f} GFLOP per token)",
    ]


# ------------------------------------------------------------------------------------------------------ markdown
def format_markdown(report: Report) -> str:
    env = report.environment
    parts = [
        f"# {report.title}",
        "",
        "Produced by:",
        "",
        f"```bash\n{env.command}\n```",
        "",
        "## Hardware and software",
        "",
        *_markdown_table(("item", "value"), _environment_rows(env)),
        "",
        "## Results",
        "",
        *_markdown_table(MEASUREMENT_COLUMNS, measurement_rows(report.runs)),
        "",
        "## Ratios (real-time factor, ours / other)",
        "",
        *_markdown_table(RATIO_COLUMNS, ratio_rows(report.runs)),
        "",
        "## Systems",
        "",
        *[_system_line(run) for run in report.runs],
    ]
    if report.host:
        parts += ["", "## Host cost", "", *[f"    {line}" for line in _host_lines(report.host)]]
    if report.flops:
        parts += ["", "## FLOP audit", "", *[f"    {line}" for line in _flop_lines(report.flops)]]
    if report.notes:
        parts += ["", "## Notes", "", *[f"* {note}" for note in report.notes]]
    return "\n".join(parts) + "\n"


def _system_line(run: SystemRun) -> str:
    if run.not_run:
        return f"* **{run.name}**: {run.setup} — **not run**: {run.not_run}"
    return (f"* **{run.name}**: {run.setup} (loaded in {run.load_seconds:.1f} s; 1-min load average "
            f"{run.load_average:.1f} when it started)")


def _environment_rows(env: Environment) -> list[tuple[str, str]]:
    return [
        ("code", env.code),
        ("CPU", env.cpu),
        ("cores", f"{env.cores} logical, {env.usable_cores} usable by this process"),
        ("torch threads", str(env.torch_threads)),
        ("GPU", env.gpu),
        ("1-min load average", f"{env.load_average[0]:.1f} at the start, {env.load_average[1]:.1f} at the end"),
        ("Python", env.python),
        *[(name, version) for name, version in env.versions.items()],
    ]


def _markdown_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"

    return [line(columns), line(["---"] * len(columns)), *(line(row) for row in rows)]
