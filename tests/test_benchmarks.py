"""The comparative benchmark's pieces on a tiny workload and the tiny random model: structure, not speed."""

import math
import threading

import numpy as np
import pytest

from benchmarks.compare import compare
from benchmarks.ct2_probe import probe
from benchmarks.fixed_tokens import FixedTokenPlan, run_fixed_tokens
from benchmarks.random_model import TINY, convert_to_ct2
from benchmarks.report import Report, describe_environment, format_markdown, format_text, ratios
from benchmarks.runner import burst
from benchmarks.systems import CPU, Decoding, Dispatch, FasterWhisperSetup, window_timestamps
from benchmarks.workload import WorkloadShape, packed_request, scenarios
from serving.constants import SAMPLE_RATE, WINDOW_SAMPLES

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SYSTEMS = ("ours", "baseline", "faster-whisper")
TINY_SHAPE = WorkloadShape(short_single=1, short_burst=2, long_seconds=(35,), long_burst=False)


@pytest.fixture(scope="module")
def tiny_ct2_dir(tiny_random_dir, tmp_path_factory):
    return convert_to_ct2(tiny_random_dir, tmp_path_factory.mktemp("ct2"), "float32")


def test_long_clips_are_packed_without_crossing_a_window_edge():
    request = packed_request(90)
    assert request.audio.shape == (90 * SAMPLE_RATE,)
    assert request.language == "en" and request.reference.count(".") >= 10
    for edge in range(WINDOW_SAMPLES, request.audio.size, WINDOW_SAMPLES):
        assert np.all(request.audio[edge - 10 : edge + 10] == 0)  # silence at each 30 s edge


def test_faster_whisper_windows_match_ours():
    assert window_timestamps(4 * SAMPLE_RATE) == [{"start": 0.0, "end": 4.0}]
    assert window_timestamps(65 * SAMPLE_RATE) == [
        {"start": 0.0, "end": 30.0}, {"start": 30.0, "end": 60.0}, {"start": 60.0, "end": 65.0}
    ]


def test_the_ctranslate2_probe_says_why_it_cannot_run(tiny_ct2_dir, tmp_path):
    assert probe(tiny_ct2_dir, "cpu", "float32") == ""
    reason = probe(tmp_path / "no-model", "cpu", "float32")
    assert reason.startswith("CTranslate2 on cpu failed (exit code 1):") and "no-model" in reason


class Recorder:
    """A stand-in system that answers each clip with its length and records which thread ran it."""

    name = "recorder"

    def __init__(self, dispatch: Dispatch, workers: int = 1) -> None:
        self.dispatch, self.workers = dispatch, workers
        self.calls: list[int] = []
        self.threads: set[int] = set()
        self.barrier = threading.Barrier(workers) if workers > 1 else None

    def transcribe(self, batch):
        self.calls.append(len(batch))
        self.threads.add(threading.get_ident())
        if self.barrier is not None:
            self.barrier.wait(timeout=10)  # every worker holds a request at the same time
        return [str(audio.size) for audio in batch]


@pytest.mark.parametrize("dispatch,workers,calls", [
    (Dispatch.BATCH, 1, [4]), (Dispatch.SERIAL, 1, [1, 1, 1, 1]), (Dispatch.THREADS, 2, [1, 1, 1, 1]),
])
def test_a_burst_reaches_each_system_as_its_dispatch_says(dispatch, workers, calls):
    system = Recorder(dispatch, workers)
    requests = [packed_request(seconds) for seconds in (5, 6, 7, 8)]
    texts, latencies = burst(system, requests, CPU)
    assert texts == [str(r.audio.size) for r in requests]  # answers in request order
    assert system.calls == calls and len(system.threads) == workers
    assert len(latencies) == 4 and all(latency > 0 for latency in latencies)
    if dispatch is Dispatch.BATCH:
        assert len(set(latencies)) == 1  # everyone answered at the end of the one call
    if dispatch is Dispatch.SERIAL:
        assert latencies == sorted(latencies) and len(set(latencies)) == 4  # queued one behind the other


def test_cpu_comparison_reports_every_system_with_ratios_and_markdown(tiny_random_dir, tiny_ct2_dir, tmp_path):
    workload = scenarios(TINY_SHAPE)
    setup = FasterWhisperSetup(cpu_threads=1, batched=True)
    runs = compare(tiny_random_dir, tiny_ct2_dir, CPU, Decoding(max_new_tokens=4), workload, setup)

    assert [run.name for run in runs] == list(SYSTEMS) and not any(run.not_run for run in runs)
    for run in runs:
        assert [m.scenario for m in run.measurements] == [s.name for s in workload]
        for m, scenario in zip(run.measurements, workload):
            assert m.requests == len(scenario.requests) == len(m.latencies)
            assert m.audio_seconds == pytest.approx(scenario.audio_seconds) and m.rtfx > 0
            assert 0 < m.p50 <= m.p99 and m.peak_mib >= 0 and m.wer >= 0  # random weights: WER is noise
    found = {(r.scenario, r.other) for r in ratios(runs)}
    for other in ("baseline", "faster-whisper"):
        assert {(s.name, other) for s in workload} | {("overall", other)} == {f for f in found if f[1] == other}
    assert all(math.isfinite(r.value) and r.value > 0 for r in ratios(runs))

    report = Report("tiny", describe_environment("python -m benchmarks.compare --quick", 0.0), tuple(runs))
    path = tmp_path / "benchmarks.md"
    path.write_text(format_markdown(report))
    markdown = path.read_text()
    assert "python -m benchmarks.compare --quick" in markdown and "| torch threads |" in markdown
    assert all(f"| {s.name} | {name} |" in markdown for s in workload for name in SYSTEMS)
    assert "ours/faster-whisper" in format_text(report)


def test_fixed_token_mode_runs_every_system_and_audits_flops(tiny_random_dir, tmp_path):
    plan = FixedTokenPlan(
        runtime=CPU, shape=TINY, template_dir=tiny_random_dir, tokens=4, batch_sizes=(1, 2),
        baseline_batch_sizes=(2,), latency_requests=2, repeats=1, host_repeats=1,
    )
    results = run_fixed_tokens(plan, tmp_path)

    assert [run.name for run in results.runs] == list(SYSTEMS) and not any(run.not_run for run in results.runs)
    ours, baseline, faster = (tuple(m.scenario for m in run.measurements) for run in results.runs)
    assert ours == faster == ("30 s x2, one by one", "30 s x1, at once", "30 s x2, at once")
    assert baseline == ("30 s x2, one by one", "30 s x2, at once")
    assert all(m.wer is None for run in results.runs for m in run.measurements)
    assert results.flops.encoder_ratio == pytest.approx(1.0, abs=0.01)  # the analytic count is what ran
    assert 0.8 < results.flops.decoder_ratio < 1.5 and results.flops.tokens == 4  # N tokens, decoded once
    assert set(results.host.decode_ms) == {"wav 16 kHz mono", "wav 44.1 kHz stereo", "mp3 44.1 kHz stereo",
                                           "flac 44.1 kHz stereo", "opus 48 kHz stereo", "aac 44.1 kHz stereo (m4a)"}
