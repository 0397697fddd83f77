"""How to keep Whisper from inventing text for silence, noise and tones: the three candidate mechanisms measured on the
same material, so the choice in ``serving/longform/vad.py`` can be checked.

    python -m benchmarks.silence

For each non-speech sample of ``scripts.material.nonspeech`` and for speech mixed with white noise at falling SNR, it prints:
(1) what whisper-base transcribes with VAD off (Whisper's own no-speech probability and log-probability rules),
(2) the energy-gate statistic: the spread (std, dB) of 20 ms frame energies above -60 dBFS, which separates steady
sounds from speech only while the speech is well above the noise, and (3) Silero VAD's speech regions.
"""

from __future__ import annotations

import numpy as np

from scripts.conversion.embedded_model import ensure_whisper_base
from scripts.material.clips import clip_bytes
from scripts.material.nonspeech import samples
from serving.api.params import parse_params
from serving.audio.decode import AudioLimits, decode_audio
from serving.batching.sessions import Job
from serving.constants import SAMPLE_RATE
from serving.endpoint.service import start_scheduler, vad_model
from serving.longform.vad import SileroVad, VadOptions, speech_regions
from serving.settings import load_settings

FRAME = SAMPLE_RATE // 50  # 20 ms
SILENT_DBFS = -60.0
SNRS_DB = (20, 10, 5, 0)


def energy_spread(waveform: np.ndarray) -> float:
    frames = waveform[: waveform.size // FRAME * FRAME].reshape(-1, FRAME).astype(np.float64)
    levels = 10 * np.log10((frames**2).mean(axis=1) + 1e-12)
    active = levels[levels > SILENT_DBFS]
    return float(active.std()) if active.size else 0.0


def noisy_speech() -> list[tuple[str, np.ndarray]]:
    speech = decode_audio(clip_bytes("en_slt_weather.wav"), AudioLimits(10**9, 3600))
    rms = float(np.sqrt((speech**2).mean()))
    rng = np.random.default_rng(0)
    return [
        (f"speech + white noise, SNR {snr} dB", (speech + rng.standard_normal(speech.size) * rms / 10 ** (snr / 20))
         .astype(np.float32))
        for snr in SNRS_DB
    ]


def main() -> int:
    settings = load_settings({"model_id": str(ensure_whisper_base()), "vad": "off"}, environ={})
    transcriber = start_scheduler(settings, "-1")
    vad = SileroVad(vad_model(load_settings({}, environ={})))
    material = [(s.name, s.waveform) for s in samples()] + noisy_speech()
    texts = transcriber.transcribe_all([Job.new(w, parse_params({})) for _, w in material])
    print(f"{'sample':36s} {'Whisper alone (VAD off)':42s} {'energy spread':>13s}  Silero speech regions (s)")
    for (name, waveform), text in zip(material, texts):
        regions = speech_regions(vad.probabilities(waveform), waveform.size, VadOptions())
        shown = [(round(r.onset / SAMPLE_RATE, 2), round(r.offset / SAMPLE_RATE, 2)) for r in regions]
        print(f"{name:36s} {text.text[:40]!r:42s} {energy_spread(waveform):10.2f} dB  {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
