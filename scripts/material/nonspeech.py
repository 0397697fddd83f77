"""Audio without speech (and speech inside long silence), generated in numpy with fixed seeds, for issue 3's
"silence without hallucination": a transcript of any of the non-speech samples must be empty, and the speech sample's
must be its sentences with nothing added in the silence around them.

Levels are RMS in dBFS (0 dBFS: RMS 1.0, i.e. a square wave at full scale). Every sample is float32, mono, 16 kHz,
deterministic, and 10-45 s long; ``samples()`` lists them all. ``scripts.material.audio_files.encode_audio`` turns
any of them into wav or flac bytes for the HTTP/DJL path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scripts.material.longform_audio import build_long_audio, with_silence
from serving.constants import SAMPLE_RATE

NOISE_LEVELS_DBFS = (-30.0, -20.0, -10.0)
TONE_HZ = 440.0
TONE_DBFS = -12.0
PINK_DBFS = -20.0
SPEECH_SILENCE_SECONDS = 5.0  # before and after the speech
SPEECH_MIN_SECONDS = 10.0  # the speech in the middle: the first corpus sentences lasting at least this
SEED = 20_240_603


@dataclass(frozen=True, eq=False)
class Sample:
    name: str
    waveform: np.ndarray  # float32, mono, SAMPLE_RATE
    text: str  # what a transcript must say: "" for no speech


def digital_silence(seconds: float) -> np.ndarray:
    return np.zeros(_samples(seconds), dtype=np.float32)


def white_noise(seconds: float, dbfs: float, seed: int = SEED) -> np.ndarray:
    """Uniform white noise at ``dbfs`` RMS; uniform, not Gaussian, so that even -10 dBFS never clips."""
    amplitude = _rms(dbfs) * np.sqrt(3.0)  # the RMS of U(-a, a) is a / sqrt(3)
    return np.random.default_rng(seed).uniform(-amplitude, amplitude, _samples(seconds)).astype(np.float32)


def tone(seconds: float, hz: float = TONE_HZ, dbfs: float = TONE_DBFS) -> np.ndarray:
    """A sine at ``hz`` and ``dbfs`` RMS."""
    t = np.arange(_samples(seconds)) / SAMPLE_RATE
    return (_rms(dbfs) * np.sqrt(2.0) * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def pink_noise(seconds: float, dbfs: float = PINK_DBFS, seed: int = SEED) -> np.ndarray:
    """Gaussian noise shaped to a 1/f power spectrum (DC removed), scaled to ``dbfs`` RMS."""
    n = _samples(seconds)
    spectrum = np.fft.rfft(np.random.default_rng(seed).standard_normal(n))
    frequencies = np.fft.rfftfreq(n, d=1 / SAMPLE_RATE)
    spectrum[0] = 0.0
    spectrum[1:] /= np.sqrt(frequencies[1:])
    noise = np.fft.irfft(spectrum, n)
    return (noise * (_rms(dbfs) / np.sqrt(np.mean(noise**2)))).astype(np.float32)


def speech_in_silence(
    lead_seconds: float = SPEECH_SILENCE_SECONDS, trail_seconds: float = SPEECH_SILENCE_SECONDS
) -> Sample:
    """The first corpus sentences (at least SPEECH_MIN_SECONDS, no pauses) between stretches of digital silence."""
    speech = build_long_audio(SPEECH_MIN_SECONDS)
    return Sample("speech_in_silence", with_silence(speech.waveform, lead_seconds, trail_seconds), speech.text)


def samples() -> tuple[Sample, ...]:
    """Every non-speech sample (text "") and the speech in silence, each 10-45 s."""
    return (
        Sample("digital_silence", digital_silence(45.0), ""),
        *(
            Sample(f"white_noise_{-level:.0f}dbfs", white_noise(seconds, level, SEED + i), "")
            for i, (seconds, level) in enumerate(zip((10.0, 20.0, 35.0), NOISE_LEVELS_DBFS))
        ),
        Sample("tone_440hz", tone(15.0), ""),
        Sample("pink_noise", pink_noise(40.0), ""),
        speech_in_silence(),
    )


def _samples(seconds: float) -> int:
    if seconds <= 0:
        raise ValueError(f"seconds must be positive, not {seconds}")
    return round(seconds * SAMPLE_RATE)


def _rms(dbfs: float) -> float:
    return 10.0 ** (dbfs / 20.0)
