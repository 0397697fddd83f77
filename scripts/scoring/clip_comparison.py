"""Ours against faster-whisper on the committed clips: each clip's two transcripts and detected languages, the
English WER of both over the distinct English sentences (Whisper's English normaliser), and per other language the
WER of both (the basic normaliser) and the languages we detected."""

from __future__ import annotations

import jiwer
from transformers.models.whisper.english_normalizer import BasicTextNormalizer

from scripts.material.clips import REFERENCES, english_speech_clips
from scripts.scoring.wer import wer


def print_comparison(names: list[str], ours: list[dict], theirs: list[tuple[str, str]]) -> None:
    """``ours``: our JSON responses, ``theirs``: faster-whisper's (text, language), both in the order of ``names``."""
    english = set(english_speech_clips())
    basic = BasicTextNormalizer()
    for name, mine, (text, language) in zip(names, ours, theirs):
        print(f"{name:20s} ours [{mine['language']}] {mine['text']}\n{'':20s} f-w  [{language}] {text}")
    subset = [n for n in names if n in english]
    refs = [REFERENCES[n]["text"] for n in subset]
    print(f"English WER over {len(subset)} clips: ours {wer(refs, [ours[names.index(n)]['text'] for n in subset]):.2%}"
          f", faster-whisper {wer(refs, [theirs[names.index(n)][0] for n in subset]):.2%}")
    for language in ("de", "fr", "es"):
        subset = [n for n in names if REFERENCES[n]["language"] == language]
        refs = [basic(REFERENCES[n]["text"]) for n in subset]
        mine = jiwer.wer(refs, [basic(ours[names.index(n)]["text"]) for n in subset])
        other = jiwer.wer(refs, [basic(theirs[names.index(n)][0]) for n in subset])
        detected = [ours[names.index(n)]["language"] for n in subset]
        print(f"{language}: detected {detected}; WER ours {mine:.1%}, faster-whisper {other:.1%}")
