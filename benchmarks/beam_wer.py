"""Word error rate of greedy decoding and of beam search under each finishing rule (``option.beam_rule``) on the
committed long-form sentence clips (tests/data/longform: one sentence each, English, one window), text mode, the
embedded whisper-base on the CPU. The evidence behind ``option.beam_rule``'s default; the full evaluation set is
``docs/accuracy.md``'s.

    python -m benchmarks.beam_wer [--beam-size 5] [--clips N]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from scripts.material.audio_files import read_audio
from scripts.material.data import AUDIO_DIR
from scripts.material.longform_corpus import SENTENCES
from scripts.scoring.wer import wer
from serving.constants import WINDOW_SAMPLES

RULES = ("openai", "ctranslate2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--clips", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from scripts.conversion.embedded_model import ensure_whisper_base
    from serving.engine.decoding import EngineOptions, SearchOptions, WhisperDecoder
    from serving.engine.features import LogMel
    from serving.engine.loading import load_model
    from serving.engine.placement import resolve_placement
    from serving.settings import load_settings

    settings = load_settings({"model_id": str(ensure_whisper_base())}, environ={})
    loaded = load_model(settings, None, resolve_placement(settings, "-1"))
    decoders = {rule: WhisperDecoder(loaded, EngineOptions(cuda_graphs=False, beam_rule=rule)) for rule in RULES}
    mel = LogMel(loaded.processor.feature_extractor.mel_filters, "cpu")
    files = sorted((AUDIO_DIR.parent / "longform").glob("*.ogg"))[: args.clips]
    references: list[str] = []
    hypotheses: dict[str, list[str]] = {"greedy": [], **{f"beam {args.beam_size}, {rule}": [] for rule in RULES}}
    for path in files:
        audio = read_audio(path)[:WINDOW_SAMPLES]
        first = decoders[RULES[0]]
        states = first.encode(mel(np.pad(audio, (0, WINDOW_SAMPLES - audio.shape[0]))[None]))
        references.append(SENTENCES[int(path.name.split("_")[0])][1])
        greedy = first.window_prompt("en", "transcribe", (), False, 0.0)
        hypotheses["greedy"].append(first.text.decode(first.decode(states, [greedy])[0].tokens))
        for rule, decoder in decoders.items():
            beams = decoder.window_prompt("en", "transcribe", (), False, 0.0, SearchOptions(args.beam_size))
            hypotheses[f"beam {args.beam_size}, {rule}"].append(decoder.text.decode(decoder.decode(states, [beams])[0].tokens))
    for name, texts in hypotheses.items():
        print(f"{name}: WER {100 * wer(references, texts):.2f} % over {len(references)} clips")


if __name__ == "__main__":
    main()
