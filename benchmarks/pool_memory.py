"""The serving process's peak memory for one hour-long compressed request: decoded in the request's thread, and by
the decoder pool (``serving/audio/pool.py``: the waveform mapped from shared memory). The waveform is read once
(summed) so that its pages count in the resident size wherever they came from.

    python -m benchmarks.pool_memory
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable

import numpy as np

from scripts.material.audio_files import encode_audio
from serving.audio.decode import AudioLimits
from serving.audio.pool import AudioDecoder, DecoderOptions
from serving.constants import SAMPLE_RATE

HOUR_S = 3600
LIMITS = AudioLimits(max_bytes=1 << 30, max_seconds=HOUR_S + 60)
SAMPLE_S = 0.002
MIB = 2**20


def resident_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096 / MIB


def peak_growth_mib(run: Callable[[], object]) -> float:
    """How far the resident size rose above where it was, at its highest while ``run`` ran (sampled every 2 ms)."""
    gc.collect()
    done, peak, base = threading.Event(), [resident_mib()], resident_mib()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], resident_mib())
            time.sleep(SAMPLE_S)

    watcher = threading.Thread(target=watch)
    watcher.start()
    run()
    done.set()
    watcher.join()
    return peak[0] - base


def main() -> int:
    flac = encode_audio(np.zeros(HOUR_S * SAMPLE_RATE, np.float32), "flac")
    print(f"1 h of silence as FLAC: {len(flac)} bytes; waveform {HOUR_S * SAMPLE_RATE * 4 / MIB:.0f} MiB")
    for workers in (0, 1):
        decoder = AudioDecoder(DecoderOptions(LIMITS, workers))
        decoder.decode(encode_audio(np.zeros(SAMPLE_RATE, np.float32), "flac"))  # the worker started
        try:
            growth = peak_growth_mib(lambda: float(decoder.decode(flac).sum()))
        finally:
            decoder.close()
        where = "in the request's thread" if workers == 0 else "by the pool (shared memory)"
        print(f"decoded {where}: peak resident +{growth:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
