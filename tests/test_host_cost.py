"""``python -m benchmarks.host_cost``'s measurements run end to end on one short window (structure only: the figures
themselves are the benchmark's, docs/benchmarks.md)."""

from __future__ import annotations

import argparse
import threading
import time

import numpy as np

from benchmarks.host_cost import ENCODINGS, codec_row, table
from benchmarks.model_thread import GPU_LIKE, Profile, Schedule, alone_blocked_s
from serving.constants import SAMPLE_RATE


def test_one_codec_row_measures_both_paths_for_both_stand_ins():
    window = (0.1 * np.sin(np.arange(2 * SAMPLE_RATE) / 5)).astype(np.float32)
    baselines = {profile: alone_blocked_s(profile) for profile in (Profile(), GPU_LIKE)}
    args = argparse.Namespace(seconds=0.3, windows=2, workers=2)
    mp3 = next(encoding for encoding in ENCODINGS if encoding.container == "mp3")
    row = codec_row(mp3, window, baselines, args)
    assert set(row.thread_loss_ms) == set(row.pool_loss_ms) == {"CPU-like", "GPU-like"}
    assert all(value >= 0 for value in (*row.thread_loss_ms.values(), *row.pool_loss_ms.values(), row.pool_cpu_ms))
    assert row.decode_ms > 0 and row.counter_share > 0 and row.parallel.threads_s > 0
    printed = table([row], args)
    assert printed.count("\n") == 2 and "| mp3 44.1 kHz stereo |" in printed


def test_a_thread_schedule_splits_its_wall_time():
    """The kernel adds a thread's running time when it leaves the CPU: the sleep (as the stand-in's) makes it."""
    start = Schedule.now(threading.get_native_id())
    sum(range(1_000_000))
    time.sleep(0.05)
    spent = Schedule.now(threading.get_native_id()) - start
    assert spent.running_s > 0 and spent.queued_s >= 0 and spent.blocked_s > 0.02
