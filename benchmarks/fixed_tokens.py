"""The fixed-token mode (``--gpu``): a large-v3-turbo-shaped Whisper with random weights, every system forced to
decode exactly N tokens per 30 s window after the same prompt (English, transcribe, no timestamps).

* ours: the transcriber core at max_batch_windows = 1, 2, 4, ... 256 on bursts of that many 30 s clips, plus ten
  clips one by one (latency of one clip);
* baseline: the pipeline one request at a time (the same ten clips), and with its own ``batch_size`` on bursts;
* faster-whisper: the same, through BatchedInferencePipeline, when CTranslate2 can run on this device.
Then the FLOP audit of one window and the host cost per window.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from benchmarks.ct2_probe import probe
from benchmarks.flops import FlopAudit, audit
from benchmarks.host_cost import REPEATS as HOST_REPEATS
from benchmarks.host_cost import HostCost, make_log_mel, measure_host_cost
from benchmarks.random_model import TINY, WhisperShape, build_random_whisper, convert_to_ct2
from benchmarks.runner import Measurement, SystemRun, measure, measure_median
from benchmarks.systems import (
    Baseline,
    Decoding,
    Engine,
    FasterWhisper,
    FasterWhisperSetup,
    OursCore,
    Runtime,
    load_ours,
)
from benchmarks.workload import Request, Scenario, repeated, window_request

logger = logging.getLogger(__name__)

FIXED_TOKENS = 110
BATCH_SIZES = tuple(2**k for k in range(9))  # 1 ... 256
BASELINE_BATCH_SIZES = (16, 64)
LATENCY_REQUESTS = 10
REPEATS = 3


@dataclass(frozen=True)
class FixedTokenPlan:
    runtime: Runtime
    shape: WhisperShape
    template_dir: Path  # vocabulary, tokenizer and generation settings
    tokens: int = FIXED_TOKENS
    batch_sizes: tuple[int, ...] = BATCH_SIZES
    baseline_batch_sizes: tuple[int, ...] = BASELINE_BATCH_SIZES
    latency_requests: int = LATENCY_REQUESTS
    repeats: int = REPEATS
    host_repeats: int = HOST_REPEATS
    engine: Engine = Engine()
    systems: tuple[str, ...] = ("ours", "baseline", "faster-whisper")


@dataclass(frozen=True)
class FixedTokenResults:
    runs: tuple[SystemRun, ...]
    flops: FlopAudit | None  # None when ours did not run
    host: HostCost


def run_fixed_tokens(plan: FixedTokenPlan, work_dir: Path) -> FixedTokenResults:
    runtime = plan.runtime
    model_dir = build_random_whisper(plan.shape, plan.template_dir, work_dir / "model", runtime.dtype, runtime.device)
    window = window_request()
    decoding = Decoding.fixed(plan.tokens)
    latency = repeated(window, plan.latency_requests, False, f"30 s x{plan.latency_requests}, one by one")
    host = measure_host_cost(window.audio, model_dir, runtime, plan.host_repeats)
    runs, flops = [], None
    if "ours" in plan.systems:
        ours, flops = _ours(model_dir, plan, decoding, window, latency)
        runs.append(ours)
    if "baseline" in plan.systems:
        runs.append(_baseline(model_dir, plan, decoding, window, latency))
    if "faster-whisper" in plan.systems:
        runs.append(_faster_whisper(model_dir, work_dir, plan, decoding, window, latency))
    return FixedTokenResults(tuple(runs), flops, host)


def burst(window: Request, size: int) -> Scenario:
    return repeated(window, size, True, f"30 s x{size}, at once")


def _ours(model_dir: Path, plan: FixedTokenPlan, decoding: Decoding, window: Request, latency: Scenario):
    """One load; per batch size a fresh core sized to it (its caches and CUDA graphs), dropped before the next."""
    load_average = os.getloadavg()[0]
    started = time.perf_counter()
    loaded = load_ours(model_dir, plan.runtime, decoding, max(plan.batch_sizes))
    load_seconds = time.perf_counter() - started
    measurements = [_measure_core(loaded, decoding, plan, 1, latency, window)]
    for size in plan.batch_sizes:
        measurements.append(_measure_core(loaded, decoding, plan, size, burst(window, size), window))
    eager = OursCore(loaded, decoding, 1, Engine(cuda_graphs=False))  # FlopCounterMode cannot see graph replays
    try:
        flops = audit(eager, window.audio, make_log_mel(model_dir, plan.runtime))
    finally:
        eager.close()
    setup = (f"transcriber core, max_batch_windows = the burst size, {plan.runtime.dtype_option}, {plan.engine}, "
             f"exactly {plan.tokens} tokens per window (min_new_tokens = max_new_tokens)")
    return SystemRun("ours", setup, load_seconds, tuple(measurements), load_average=load_average), flops


def _measure_core(loaded, decoding: Decoding, plan: FixedTokenPlan, size: int, scenario: Scenario, window: Request):
    core = OursCore(loaded, decoding, size, plan.engine)
    try:
        if scenario.concurrent:
            return measure_median(core, scenario, plan.runtime, plan.repeats)
        core.transcribe([window.audio])
        return measure(core, scenario, plan.runtime, score=False)
    finally:
        core.close()


def _baseline(model_dir: Path, plan: FixedTokenPlan, decoding: Decoding, window: Request, latency: Scenario):
    load_average = os.getloadavg()[0]
    started = time.perf_counter()
    baseline = Baseline(model_dir, plan.runtime, decoding)
    load_seconds = time.perf_counter() - started
    try:
        baseline.transcribe([window.audio])
        measurements: list[Measurement] = [measure(baseline, latency, plan.runtime, score=False)]
        for size in plan.baseline_batch_sizes:
            batched = baseline.with_batch_size(size)
            measurements.append(measure_median(batched, burst(window, size), plan.runtime, plan.repeats))
    finally:
        baseline.close()
    setup = (f"transformers pipeline, {plan.runtime.dtype_option}, generate_kwargs min_new_tokens = max_new_tokens = "
             f"{plan.tokens}; one call per request one by one, its own batch_size = the burst size at once")
    return SystemRun("baseline", setup, load_seconds, tuple(measurements), load_average=load_average)


def _faster_whisper(
    model_dir: Path, work_dir: Path, plan: FixedTokenPlan, decoding: Decoding, window: Request, latency: Scenario
) -> SystemRun:
    setup = FasterWhisperSetup(cpu_threads=torch.get_num_threads(), batched=True)
    try:
        reason = faster_whisper_unavailable(plan.runtime, plan.template_dir, work_dir)
        if not reason:
            return _run_faster_whisper(model_dir, work_dir, plan, decoding, window, latency, setup)
    except Exception as exc:  # noqa: BLE001 - any failure of the reference means "not run", with its traceback
        logger.exception("faster-whisper failed")
        reason = f"{type(exc).__name__}: {exc}"
    logger.warning("faster-whisper not run: %s", reason)
    return SystemRun("faster-whisper", setup.describe(), 0.0, not_run=reason)


def _run_faster_whisper(
    model_dir: Path,
    work_dir: Path,
    plan: FixedTokenPlan,
    decoding: Decoding,
    window: Request,
    latency: Scenario,
    setup: FasterWhisperSetup,
) -> SystemRun:
    load_average = os.getloadavg()[0]
    started = time.perf_counter()
    ct2_dir = convert_to_ct2(model_dir, work_dir / "ct2", plan.runtime.ct2_compute_type)
    system = FasterWhisper(ct2_dir, plan.runtime, decoding, setup)
    load_seconds = time.perf_counter() - started
    try:
        system.transcribe([window.audio])
        measurements = [measure(system, latency, plan.runtime, score=False)]
        for size in plan.batch_sizes:
            sized = system.with_batch_size(size)
            measurements.append(measure_median(sized, burst(window, size), plan.runtime, plan.repeats))
    finally:
        system.close()
    describe = f"{setup.describe()} with batch_size = the burst size; end-of-text suppressed, {plan.tokens} tokens"
    return SystemRun("faster-whisper", describe, load_seconds, tuple(measurements), load_average=load_average)


def faster_whisper_unavailable(runtime: Runtime, template_dir: Path, work_dir: Path) -> str:
    """Why faster-whisper cannot run here ("" when it can): not installed, or CTranslate2 fails on this device."""
    for package in ("faster_whisper", "ctranslate2"):
        if importlib.util.find_spec(package) is None:
            return f"{package} is not installed"
    if not runtime.is_gpu:
        return ""
    tiny = build_random_whisper(TINY, template_dir, work_dir / "probe-model", runtime.dtype)
    ct2_dir = convert_to_ct2(tiny, work_dir / "probe-ct2", runtime.ct2_compute_type)
    return probe(ct2_dir, "cuda", runtime.ct2_compute_type)
