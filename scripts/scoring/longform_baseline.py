"""faster-whisper on the long test file: its WER, wall time and seam errors, the figures a long-form algorithm is
measured against (issue 3). The reference decoder as everywhere in this project: whisper-base from the PyPI wheels,
greedy, temperature 0, no VAD, not conditioned on the previous window (``scripts.scoring.reference``).
``python -m scripts.longform_baseline`` prints them."""

from __future__ import annotations

import time
from collections import Counter

from scripts.material.audio_files import encode_audio
from scripts.material.longform_audio import build_long_audio
from scripts.scoring.longform_errors import seam_errors
from scripts.scoring.reference import faster_whisper_model, faster_whisper_transcribe
from scripts.scoring.wer import wer


def print_baseline(min_seconds: float = 300.0, n: int = 3, radius_words: int = 8) -> None:
    """Transcribe the long file (at least ``min_seconds``) with faster-whisper and print the figures; seam errors are
    ``n``-grams within ``radius_words`` words of a seam."""
    long_audio = build_long_audio(min_seconds)
    audio = encode_audio(long_audio.waveform, "wav")
    faster_whisper_model()  # loaded before the clock starts
    started, cpu_started = time.perf_counter(), time.process_time()
    text, language = faster_whisper_transcribe(audio)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    errors = seam_errors(text, long_audio, n=n, radius_words=radius_words)
    print(f"audio {long_audio.seconds:.1f} s, {len(long_audio.sentences)} sentences, {len(long_audio.seams)} seams "
          f"({sum(seam.inside for seam in long_audio.seams)} inside a sentence)")
    print(f"faster-whisper: language {language}, WER {wer([long_audio.text], [text]):.2%}, wall {seconds:.1f} s "
          f"({long_audio.seconds / seconds:.1f}x real time), CPU {cpu_seconds:.1f} s (all threads)")
    kinds = Counter(error.kind for error in errors)
    seams_hit = len({error.seconds for error in errors})
    print(f"seam errors (n={n}, radius {radius_words} words): {len(errors)} at {seams_hit} of "
          f"{len(long_audio.seams)} seams {dict(kinds)}")
    for error in errors:
        print(f"  {error.seconds:5.0f} s  {error.kind:8s} {error.ngram!r} (reference {error.reference_count}, "
              f"hypothesis {error.hypothesis_count})")
    print(f"transcript: {text}")
