"""What beam search costs: decoding time with ``beam_size`` beams against greedy decoding (beam 1) on the same
windows, ours and faster-whisper's CTranslate2 on the same weights and features, as ratios (no absolute goal).

    python -m benchmarks.beam_cost                    # the embedded whisper-base on the CPU, six committed clips
    python -m benchmarks.beam_cost --beam-size 5 --repeats 3 --threads 2 --timestamps

Each clip is one 30 s window decoded alone (one request's window), encoder excluded: the encoder's cost does not
depend on the beams. Times are the median of ``--repeats`` runs after one warm-up run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from scripts.material.audio_files import read_audio
from scripts.material.data import AUDIO_DIR
from serving.constants import WINDOW_SAMPLES

CLIPS = (  # (committed clip, language)
    ("en_espeak_tea.wav", "en"), ("en_awb_train.wav", "en"), ("en_kal_dog.wav", "en"),
    ("en_slt_weather.wav", "en"), ("es_despacio.flac", "es"), ("fr_cafe.flac", "fr"),
)


@dataclass(frozen=True)
class ClipCost:
    clip: str
    tokens: int  # greedy tokens of the window
    greedy_s: float
    beam_s: float

    @property
    def ratio(self) -> float:
        return self.beam_s / self.greedy_s


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def windows(paths: list[Path]) -> np.ndarray:
    padded = []
    for path in paths:
        audio = read_audio(path)[:WINDOW_SAMPLES]
        padded.append(np.pad(audio, (0, WINDOW_SAMPLES - audio.shape[0])))
    return np.stack(padded)


def ours(decoder, features: torch.Tensor, languages: list[str], names: list[str], beam_size: int, repeats: int,
         timestamps: bool) -> list[ClipCost]:
    from serving.engine.decoding import SearchOptions

    costs = []
    for i, (name, language) in enumerate(zip(names, languages)):
        states = decoder.encode(features[i : i + 1])
        greedy = [decoder.window_prompt(language, "transcribe", (), timestamps, 0.0)]
        beams = [decoder.window_prompt(language, "transcribe", (), timestamps, 0.0, SearchOptions(beam_size))]
        def decode(prompts, states=states):
            return decoder.decode(states, prompts)

        tokens = len(decode(greedy)[0].tokens)
        costs.append(ClipCost(name, tokens, median_seconds(lambda: decode(greedy), repeats),  # noqa: B023
                              median_seconds(lambda: decode(beams), repeats)))  # noqa: B023
    return costs


def ctranslate2(model, features: torch.Tensor, prefixes: list[tuple[int, ...]], names: list[str], beam_size: int,
                repeats: int) -> list[ClipCost]:
    """faster-whisper's CTranslate2 model, encoder output computed once per clip (as ours)."""
    import ctranslate2 as ct2

    costs = []
    for i, name in enumerate(names):
        encoded = model.encode(ct2.StorageView.from_array(features[i : i + 1].numpy()), to_cpu=True)

        def generate(beams: int, encoded=encoded, prefix=prefixes[i]):
            return model.generate(encoded, [list(prefix)], beam_size=beams, patience=1, length_penalty=1,
                                  max_length=448, suppress_blank=True, suppress_tokens=[-1],
                                  max_initial_timestamp_index=50)

        tokens = len(generate(1)[0].sequences_ids[0])
        costs.append(ClipCost(name, tokens, median_seconds(lambda: generate(1), repeats),
                              median_seconds(lambda: generate(beam_size), repeats)))
    return costs


def report(title: str, costs: list[ClipCost]) -> str:
    lines = [title, f"  {'clip':<20} {'tokens':>6} {'greedy s':>9} {'beam s':>8} {'ratio':>6}"]
    for c in costs:
        lines.append(f"  {c.clip:<20} {c.tokens:>6} {c.greedy_s:>9.3f} {c.beam_s:>8.3f} {c.ratio:>6.2f}")
    total = sum(c.beam_s for c in costs) / sum(c.greedy_s for c in costs)
    lines.append(f"  all clips: beam/greedy {total:.2f} (median per clip {statistics.median(c.ratio for c in costs):.2f})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--clips", type=int, default=len(CLIPS))
    parser.add_argument("--timestamps", action="store_true", help="decode with timestamp tokens (verbose_json)")
    parser.add_argument("--no-ctranslate2", action="store_true", help="ours only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from scripts.conversion.embedded_model import ensure_whisper_base
    from serving.engine.decoding import EngineOptions, WhisperDecoder
    from serving.engine.features import LogMel
    from serving.engine.loading import load_model
    from serving.engine.placement import resolve_placement
    from serving.settings import load_settings

    chosen = CLIPS[: args.clips]
    names, languages = [name for name, _ in chosen], [language for _, language in chosen]
    settings = load_settings({"model_id": str(ensure_whisper_base())}, environ={})
    loaded = load_model(settings, None, resolve_placement(settings, "-1"))
    decoder = WhisperDecoder(loaded, EngineOptions(capacity=max(16, args.beam_size), cuda_graphs=False))
    features = LogMel(loaded.processor.feature_extractor.mel_filters, "cpu")(windows([AUDIO_DIR / n for n in names]))
    mode = "timestamps" if args.timestamps else "text"
    print(report(f"ours, beam {args.beam_size} vs greedy, {mode} mode, {args.threads} threads",
                 ours(decoder, features, languages, names, args.beam_size, args.repeats, args.timestamps)))
    if not args.no_ctranslate2:
        from scripts.scoring.reference import faster_whisper_model

        prefixes = [decoder.vocabulary.initial_tokens(lang, "transcribe", args.timestamps)[0] for lang in languages]
        model = faster_whisper_model(args.threads).model
        print(report(f"faster-whisper (CTranslate2), beam {args.beam_size} vs greedy, {mode} mode",
                     ctranslate2(model, features, prefixes, names, args.beam_size, args.repeats)))


if __name__ == "__main__":
    main()
