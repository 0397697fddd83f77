"""The sections of ``docs/accuracy.md``: the English evaluation set (ours in each variant, faster-whisper at beam 1
and 5, per speed and per voice, the options measured), the languages of the bundled non-English clips, the long file
(chunked and sequential, words dropped or doubled, seam errors) and word timestamps against faster-whisper's."""

from __future__ import annotations

import time
from dataclasses import replace

import jiwer
from transformers.models.whisper.english_normalizer import BasicTextNormalizer

from scripts.accuracy.ours import LIMITS, Ours, Variant, has_beam_search
from scripts.conversion.cache import cache_root
from scripts.material.audio_files import encode_audio
from scripts.material.clips import REFERENCES as BUNDLED
from scripts.material.clips import clip_bytes
from scripts.material.eval_speech import ensure_eval_set, load_references
from scripts.material.longform_audio import build_long_audio
from scripts.scoring.accuracy import SystemRun, wer_table, worst_clips
from scripts.scoring.longform_errors import lost_or_doubled, seam_errors
from scripts.scoring.reference import FALLBACK, faster_whisper_transcribe
from scripts.scoring.wer import wer
from scripts.scoring.word_reference import Word, faster_whisper_words, match_words, timing_difference
from serving.api.params import parse_params
from serving.audio.decode import decode_audio
from serving.batching.sessions import Job

EVAL_SET_FOLDER = "eval-speech"  # under the cache root: the English evaluation set, made on first use
SECTIONS = ("english", "languages", "long", "words")
REFERENCE_SEED = 0  # CTranslate2's sampling seed for faster-whisper's own fallback


def _faster_whisper(name: str, audio: list[bytes], **options) -> tuple[SystemRun, list[str]]:
    started = time.perf_counter()
    results = [faster_whisper_transcribe(a, **options) for a in audio]
    seconds = time.perf_counter() - started
    return SystemRun(name, tuple(t for t, _ in results), seconds if seconds > 5 else None), [l for _, l in results]


# ---- the sections of the report --------------------------------------------------------------------------------


def english_set(ours: Ours, every: int, reference_beams: tuple[int, ...]) -> list[str]:
    directory = ensure_eval_set(cache_root() / EVAL_SET_FOLDER)
    references = load_references(directory)
    names = list(references)[::every]
    rows = [references[n] for n in names]
    audio = [(directory / n).read_bytes() for n in names]
    fw1, _ = _faster_whisper("faster-whisper beam 1", audio)
    fw1_fallback, _ = _faster_whisper(f"faster-whisper beam 1, its fallback (seed {REFERENCE_SEED})", audio,
                                      **FALLBACK, random_seed=REFERENCE_SEED)
    fw5 = _faster_whisper("faster-whisper beam 5", audio, beam_size=5)[0] if 5 in reference_beams else \
        SystemRun("faster-whisper beam 5", None)
    padding, timestamps = ours.default_padding(), ours.default_timestamps()
    variants = [Variant(p, timestamps) for p in ("audio", "features")] + [Variant(padding, not timestamps)]
    runs = []
    for variant in variants:
        out, seconds = ours.transcribe(variant, audio)
        runs.append(SystemRun(variant.name, tuple(o["text"] for o in out), seconds))
    default = next(r for v, r in zip(variants, runs) if v.padding == ours.default_padding() and
                   v.timestamps == ours.default_timestamps())
    alike = [replace(v, fallback=False) for v in variants]  # decoded as the reference decoder: temperature 0, once
    alike_runs = []
    for variant in alike:
        out, seconds = ours.transcribe(variant, audio)
        alike_runs.append(SystemRun(variant.name, tuple(o["text"] for o in out), seconds))
    runs.append(next(r for v, r in zip(alike, alike_runs) if v.padding == padding and v.timestamps == timestamps))
    beam = Variant(beam_size=5)
    beam_note = "ours beam 5: `beam_size` is not a request parameter on this branch yet (no figures)."
    if has_beam_search():
        out, seconds = ours.transcribe(beam, audio)
        runs.append(SystemRun(beam.name, tuple(o["text"] for o in out), seconds))
        beam_note = ""
    else:
        runs.append(SystemRun(beam.name, None))
    if fw5.texts is None:
        beam_note += " faster-whisper beam 5: not run (`--reference-beams 1`)."
    minutes = sum(r["seconds"] for r in rows) / 60
    subset = f" (one clip in {every} of the 120: `--every {every}`)" if every > 1 else ""
    lines = [
        "## English evaluation set",
        "",
        f"{len(rows)} clips{subset}, {minutes:.1f} min: 40 sentences with numbers, names and short final words, 8 voices "
        "(flite slt, rms, awb, kal16; espeak-ng en-us, en-gb-x-rp, en-us+f3, en-gb-scotland) at 3 speeds, each "
        "(voice, speed) speaking 5 sentences (`scripts/material/eval_corpus.py`). WER after Whisper's English "
        "normaliser; no VAD. Ours falls back to higher temperatures on failed windows (5 samples each, the likeliest "
        "kept), as openai/whisper's CLI and faster-whisper do by default, unless its column says `temperature 0 "
        "only`. faster-whisper beam 1 and 5 decode at temperature 0 only (the reference decoder); the column "
        f"`its fallback` runs faster-whisper's own defaults (temperatures 0 to 1, best_of 5), its samples seeded "
        f"(`ctranslate2.set_random_seed({REFERENCE_SEED})` before each clip) so that they repeat.",
        "",
        *wer_table(rows, [*runs, fw1, fw1_fallback, fw5], against=fw1),
    ]
    lines += ["", *_choices(ours, [*variants, *alike], [*runs[: len(variants)], *alike_runs], rows, fw1)]
    if beam_note:
        lines += ["", beam_note]
    behind = worst_clips(rows, names, default, fw1)
    if behind:
        lines += ["", f"Where {default.name} is furthest behind faster-whisper beam 1:", "", *behind]
    else:
        lines += ["", f"{default.name} is behind faster-whisper beam 1 on no clip."]
    return lines


def _choices(ours: Ours, variants: list[Variant], runs: list[SystemRun], rows: list[dict],
             reference: SystemRun) -> list[str]:
    """The two options measured here, each value's WER against the references and against faster-whisper, with the
    fallback (the default) and at temperature 0 only, and the server's default."""
    texts = [r["text"] for r in rows]
    figures = {}
    for variant, run in zip(variants, runs):
        figures[(variant.padding, variant.timestamps, variant.fallback)] = (
            wer(texts, list(run.texts)), wer(list(reference.texts), list(run.texts)))

    def line(option: str, values: dict, default) -> str:
        shown = "; ".join(f"`{value}`: {a * 100:.2f}% (against {reference.name}: {b * 100:.2f}%), temperature 0 "
                          f"only {c * 100:.2f}% ({d * 100:.2f}%)" for value, ((a, b), (c, d)) in values.items())
        return f"- `{option}`: {shown}. Default: `{str(default).lower()}`."

    timestamps, padding = ours.default_timestamps(), ours.default_padding()
    return [
        "Options measured on this set (WER against the references):", "",
        line("log_mel_padding", {p: (figures[(p, timestamps, None)], figures[(p, timestamps, False)])
                                 for p in ("audio", "features")}, padding),
        line("timestamps_in_every_format", {str(t).lower(): (figures[(padding, t, None)], figures[(padding, t, False)])
                                            for t in (True, False)}, timestamps),
    ]


def languages(ours: Ours) -> list[str]:
    """Detection and WER on the bundled non-English clips, ours with each front end (the default's WER)."""
    names = sorted(n for n, info in BUNDLED.items() if info["language"] != "en")
    audio = [clip_bytes(n) for n in names]
    _, theirs = _faster_whisper("faster-whisper beam 1", audio)
    spoken = [BUNDLED[n]["language"] for n in names]
    lines = ["## Languages", "", f"Detected language on the {len(names)} bundled non-English clips "
             "(`tests/data/audio`, espeak-ng German, French, Spanish); faster-whisper: "
             f"{', '.join(theirs)} (spoken: {', '.join(spoken)}).", ""]
    outputs = {}
    for padding in ("audio", "features"):
        outputs[padding], _ = ours.transcribe(Variant(padding), audio)
        detected = [o["language"] for o in outputs[padding]]
        lines.append(f"- ours, `log_mel_padding={padding}`: {', '.join(detected)}; agrees with faster-whisper on "
                     f"{sum(d == t for d, t in zip(detected, theirs))} of {len(names)}, with the spoken language on "
                     f"{sum(d == s for d, s in zip(detected, spoken))}.")
    out = outputs[ours.default_padding()]
    lines += ["", "| language | clips | ours (default front end) | faster-whisper |", "|---|---|---|---|"]
    basic = BasicTextNormalizer()
    for language in sorted(set(spoken)):
        picked = [i for i, s in enumerate(spoken) if s == language]
        refs = [basic(BUNDLED[names[i]]["text"]) for i in picked]
        mine = jiwer.wer(refs, [basic(out[i]["text"]) for i in picked])
        fw, _ = _faster_whisper("", [audio[i] for i in picked])
        other = jiwer.wer(refs, [basic(t) for t in fw.texts])
        lines.append(f"| {language} | {len(picked)} | {mine * 100:.1f}% | {other * 100:.1f}% |")
    return lines


LONG_VARIANTS = (  # (long_form, beam_size, condition_on_previous_text) of ours on the long file
    ("chunked", None, None), ("sequential", None, None), ("sequential", None, False),
    ("chunked", 5, None), ("sequential", 5, False),
)
LONG_REFERENCES = ({}, {"condition_on_previous_text": True}, {"beam_size": 5})  # faster-whisper's, over its defaults


def long_file(ours: Ours, seconds: float) -> list[str]:
    """Ours (greedy and beam 5; chunked, whose windows are never conditioned, and sequential with and without the
    previous text as prompt) against faster-whisper (not conditioned, as the reference decoder runs, and conditioned,
    as ours runs sequentially by default)."""
    long_audio = build_long_audio(seconds)
    audio = encode_audio(long_audio.waveform, "flac")
    lines = ["## Long file", "",
             f"{long_audio.seconds:.1f} s, {len(long_audio.sentences)} sentences joined without pauses "
             f"(`scripts/material/longform_audio.py`), language given (en). Chunked windows are never prompted with "
             "the previous text; sequential ones are by default (`condition_on_previous_text`), as faster-whisper's "
             "are by default (the reference decoder above runs without it).", "",
             "| system | WER | words dropped or doubled | seam errors (3-grams within 8 words of a 30 s edge) | "
             "wall time (s) |",
             "|---|---|---|---|---|"]
    systems = []
    for mode, beam, conditioned in LONG_VARIANTS:
        variant = Variant(response_format="verbose_json", long_form=mode, language="en", beam_size=beam,
                          conditioned=conditioned)
        (out,), wall = ours.transcribe(variant, [audio])
        systems.append((variant.name, out["text"], wall))
    for options in LONG_REFERENCES:
        started = time.perf_counter()
        text, _ = faster_whisper_transcribe(audio, language="en", **options)
        wall = time.perf_counter() - started
        name = f"faster-whisper beam {options.get('beam_size', 1)}" + (
            ", conditioned on previous text" if options.get("condition_on_previous_text") else "")
        systems.append((name, text, wall if wall > 5 else None))
    for name, text, wall in systems:
        problems = lost_or_doubled(text, long_audio.text)
        seams = seam_errors(text, long_audio)
        lines.append(f"| {name} | {wer([long_audio.text], [text]) * 100:.2f}% | {len(problems)} | {len(seams)} | "
                     f"{f'{wall:.0f}' if wall else 'cached'} |")
    return lines


def word_timestamps(ours: Ours) -> list[str]:
    names = sorted(BUNDLED)
    params = parse_params({"response_format": "verbose_json", "timestamp_granularities": "word"})
    audio = [decode_audio(clip_bytes(n), LIMITS) for n in names]
    results = ours.scheduler({}).transcribe_all([Job.new(a, params) for a in audio])
    pairs = []
    for waveform, result in zip(audio, results):
        pairs += match_words([Word(w.word, w.start, w.end, w.probability) for w in result.words],
                             faster_whisper_words(waveform))
    timing = timing_difference(pairs)
    return ["## Word timestamps", "",
            f"Ours against faster-whisper's on the {len(names)} bundled clips ({timing.pairs} matched words): start "
            f"mean {timing.mean_start * 1000:.0f} ms, max {timing.max_start * 1000:.0f} ms; end mean "
            f"{timing.mean_end * 1000:.0f} ms, max {timing.max_end * 1000:.0f} ms."]


def build_report(command: str, threads: int, every: int = 1, reference_beams: tuple[int, ...] = (1, 5),
                 long_seconds: float = 300.0, sections: frozenset[str] = frozenset(SECTIONS)) -> str:
    """The Markdown of ``docs/accuracy.md``: the sections asked for, headed by the command that produced them."""
    ours = Ours()
    lines = ["# Accuracy (issue 15)", "",
             f"Produced by `{command}` ({threads} CPU thread(s) per system; whisper-base, embedded, CPU float32). "
             f"Ours runs with its default options (`log_mel_padding={ours.default_padding()}`, "
             f"`timestamps_in_every_format={str(ours.default_timestamps()).lower()}`) unless a column names another. "
             "Reference decoder: faster-whisper on the same CTranslate2 weights, temperature 0, no VAD.", ""]
    try:
        if "english" in sections:
            lines += english_set(ours, every, reference_beams) + [""]
        if "languages" in sections:
            lines += languages(ours) + [""]
        if "long" in sections and long_seconds > 0:
            lines += long_file(ours, long_seconds) + [""]
        elif "long" in sections:
            lines += ["## Long file", "", "Not run (`--long-seconds 0`).", ""]
        if "words" in sections:
            lines += word_timestamps(ours) + [""]
    finally:
        ours.close()
    return "\n".join(lines)
