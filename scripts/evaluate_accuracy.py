"""Issue 15's accuracy report in one command: ours against faster-whisper on the same weights and against the
references, on the English evaluation set (120 clips, 8 voices, 3 speeds; made into the cache on first use), the
bundled non-English clips (language detection), the long file (chunked and sequential) and word timestamps.

    python -m scripts.evaluate_accuracy [--markdown docs/accuracy.md] [--every 1] [--long-seconds 300] [--threads 1]

Every transcript is cached on disk (ours under ``ours-transcripts``, keyed by the audio, the variant and a digest
of the decoding code: ``serving/engine``, ``longform``, ``batching``, ``audio``; faster-whisper's under
``reference-transcripts``), so a second run with unchanged code only scores. Ours runs without VAD on the clips (the
reference decoder runs without it too: both see the same audio). On a crowded machine, ``--every 3`` (40 clips, each
sentence once) and ``--reference-beams 1`` keep a run short; the report says what it covers.

Our variants: the front end (option ``log_mel_padding``: ``audio`` pads the audio to 30 s then takes the log-mel, as
transformers does; ``features`` zeroes the frames past the audio, as faster-whisper does), timestamp tokens in every
format or only in the timed ones (option ``timestamps_in_every_format``; the responses are ``json``), and beam search
where the request parameters have ``beam_size`` (a column of dashes when they do not).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from scripts.conversion.cache import cache_root
from scripts.conversion.embedded_model import ensure_whisper_base
from scripts.material.audio_files import encode_audio
from scripts.material.clips import REFERENCES as BUNDLED, clip_bytes
from scripts.material.eval_speech import ensure_eval_set, load_references
from scripts.material.longform_audio import build_long_audio
from scripts.paths import PROJECT_ROOT
from scripts.scoring.accuracy import SystemRun, wer_table, worst_clips
from scripts.scoring.longform_errors import lost_or_doubled, seam_errors
from scripts.scoring.reference import THREADS_VARIABLE, faster_whisper_transcribe
from scripts.scoring.reference_cache import cached
from scripts.scoring.wer import wer
from scripts.scoring.word_reference import Word, faster_whisper_words, match_words, timing_difference
from serving.api.params import TranscriptionParams, parse_params
from serving.audio.decode import AudioLimits, decode_audio
from serving.batching.scheduler import Scheduler
from serving.batching.sessions import Job
from serving.endpoint.service import start_scheduler
from serving.settings import Settings, load_settings

LIMITS = AudioLimits(10**9, 24 * 3600)
BEAM = "beam_size"  # the request parameter beam search adds (issue 15 item 3)
COMMAND = "python -m scripts.evaluate_accuracy"
EVAL_SET_FOLDER = "eval-speech"  # under the cache root: the English evaluation set, made on first use


@dataclass(frozen=True)
class Variant:
    """One way of running ours: the serving options that differ and the request's parameters."""

    padding: str | None = None  # option log_mel_padding; None: the server's default
    timestamps: bool | None = None  # option timestamps_in_every_format; None: the server's default
    response_format: str = "json"
    beam_size: int | None = None
    long_form: str | None = None
    language: str | None = None

    @property
    def name(self) -> str:
        parts = ["ours", f"beam {self.beam_size}" if self.beam_size else "greedy"]
        if self.padding:
            parts.append(f"pad {self.padding}")
        if self.timestamps is not None:
            parts.append("timestamp tokens" if self.timestamps else "no timestamp tokens")
        if self.long_form:
            parts.append(self.long_form)
        return ", ".join(parts)

    def options(self) -> dict[str, str]:
        """The serving options this variant sets (the others at their defaults)."""
        chosen = {"log_mel_padding": self.padding, "timestamps_in_every_format": self.timestamps}
        return {key: str(value).lower() for key, value in chosen.items() if value is not None}

    def params(self) -> TranscriptionParams:
        values = {"response_format": self.response_format}
        if self.beam_size:
            values[BEAM] = self.beam_size
        if self.long_form:
            values["long_form"] = self.long_form
        if self.language:
            values["language"] = self.language
        return parse_params(values)


def has_beam_search() -> bool:
    return BEAM in TranscriptionParams.model_fields


class Ours:
    """Our schedulers, one per set of serving options, started when first needed; transcripts cached on disk."""

    def __init__(self) -> None:
        self._schedulers: dict[tuple, Scheduler] = {}
        self._source = _source_digest()

    def default_padding(self) -> str:
        return Settings.model_fields["log_mel_padding"].default

    def default_timestamps(self) -> bool:
        return Settings.model_fields["timestamps_in_every_format"].default

    def transcribe(self, variant: Variant, audio: list[bytes]) -> tuple[list[dict], float | None]:
        """Per clip: ``{"text", "language"}``; the wall time when anything was computed (None: all cached)."""
        key_of = [a + json.dumps(asdict(variant), sort_keys=True).encode() + self._source for a in audio]
        missing = [i for i, key in enumerate(key_of) if not _cache_path_exists(key)]
        seconds = None
        if missing:
            scheduler = self._scheduler(variant.options())
            jobs = [Job.new(decode_audio(audio[i], LIMITS), variant.params()) for i in missing]
            started = time.perf_counter()
            results = scheduler.transcribe_all(jobs)
            seconds = time.perf_counter() - started
            for i, result in zip(missing, results):
                cached("ours-transcripts", key_of[i], lambda r=result: {"text": r.text, "language": r.language})
        return [cached("ours-transcripts", key, _never) for key in key_of], seconds

    def _scheduler(self, chosen: dict[str, str]) -> Scheduler:
        key = tuple(sorted(chosen.items()))
        if key not in self._schedulers:
            options = {"model_id": str(ensure_whisper_base()), "vad": "off", **chosen}
            self._schedulers[key] = start_scheduler(load_settings(options, environ={}), "-1")
        return self._schedulers[key]

    def close(self) -> None:
        for scheduler in self._schedulers.values():
            scheduler.close()


def _never():
    raise RuntimeError("a transcript missing from the cache after it was computed")


def _cache_path_exists(key: bytes) -> bool:
    from scripts.scoring.reference_cache import _path

    return _path("ours-transcripts", key).is_file()


DECODING_CODE = ("serving/engine", "serving/longform", "serving/batching", "serving/audio")


def _source_digest() -> bytes:
    """A digest of the code a transcript depends on (not the rendering, the endpoint or the options' parsing)."""
    digest = hashlib.sha256()
    for path in sorted(p for folder in DECODING_CODE for p in (PROJECT_ROOT / folder).rglob("*.py")):
        digest.update(path.relative_to(PROJECT_ROOT).as_posix().encode() + path.read_bytes())
    return digest.hexdigest().encode()


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
    fw5 = _faster_whisper("faster-whisper beam 5", audio, beam_size=5)[0] if 5 in reference_beams else \
        SystemRun("faster-whisper beam 5", None)
    variants = [Variant(padding, timestamps) for timestamps in (True, False) for padding in ("audio", "features")]
    runs = []
    for variant in variants:
        out, seconds = ours.transcribe(variant, audio)
        runs.append(SystemRun(variant.name, tuple(o["text"] for o in out), seconds))
    default = next(r for v, r in zip(variants, runs) if v.padding == ours.default_padding() and
                   v.timestamps == ours.default_timestamps())
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
        "normaliser; no VAD; temperature 0 (ours falls back to higher temperatures on failed windows, "
        "faster-whisper here does not).",
        "",
        *wer_table(rows, [*runs, fw1, fw5], against=fw1),
    ]
    if beam_note:
        lines += ["", beam_note]
    lines += ["", f"Where {default.name} is furthest behind faster-whisper beam 1:", "",
              *worst_clips(rows, names, default, fw1)]
    return lines


def languages(ours: Ours) -> list[str]:
    names = sorted(n for n, info in BUNDLED.items() if info["language"] != "en")
    audio = [clip_bytes(n) for n in names]
    _, theirs = _faster_whisper("faster-whisper beam 1", audio)
    out, _ = ours.transcribe(Variant(), audio)
    agree = sum(o["language"] == t for o, t in zip(out, theirs))
    lines = ["## Languages", "",
             f"Detected language on the {len(names)} bundled non-English clips (`tests/data/audio`): ours agrees with "
             f"faster-whisper on {agree} of {len(names)}, and with the spoken language on "
             f"{sum(o['language'] == BUNDLED[n]['language'] for o, n in zip(out, names))}.", "",
             "| language | clips | ours | faster-whisper |", "|---|---|---|---|"]
    from transformers.models.whisper.english_normalizer import BasicTextNormalizer
    import jiwer
    basic = BasicTextNormalizer()
    for language in sorted({BUNDLED[n]["language"] for n in names}):
        picked = [i for i, n in enumerate(names) if BUNDLED[n]["language"] == language]
        refs = [basic(BUNDLED[names[i]]["text"]) for i in picked]
        mine = jiwer.wer(refs, [basic(out[i]["text"]) for i in picked])
        fw, _ = _faster_whisper("", [audio[i] for i in picked])
        other = jiwer.wer(refs, [basic(t) for t in fw.texts])
        lines.append(f"| {language} | {len(picked)} | {mine * 100:.1f}% | {other * 100:.1f}% |")
    return lines


def long_file(ours: Ours, seconds: float) -> list[str]:
    long_audio = build_long_audio(seconds)
    audio = encode_audio(long_audio.waveform, "flac")
    lines = ["## Long file", "",
             f"{long_audio.seconds:.1f} s, {len(long_audio.sentences)} sentences joined without pauses "
             f"(`scripts/material/longform_audio.py`), language given (en).", "",
             "| system | WER | words dropped or doubled | seam errors (3-grams within 8 words of a 30 s edge) |",
             "|---|---|---|---|"]
    systems = []
    for mode in ("chunked", "sequential"):
        variant = Variant(response_format="verbose_json", long_form=mode, language="en")
        (out,), _ = ours.transcribe(variant, [audio])
        systems.append((variant.name, out["text"]))
    for beam in (1, 5):
        text, _ = faster_whisper_transcribe(audio, language="en", **({"beam_size": beam} if beam > 1 else {}))
        systems.append((f"faster-whisper beam {beam}", text))
    for name, text in systems:
        problems = lost_or_doubled(text, long_audio.text)
        seams = seam_errors(text, long_audio)
        lines.append(f"| {name} | {wer([long_audio.text], [text]) * 100:.2f}% | {len(problems)} | {len(seams)} |")
    return lines


def word_timestamps(ours: Ours) -> list[str]:
    names = sorted(BUNDLED)
    params = parse_params({"response_format": "verbose_json", "timestamp_granularities": "word"})
    audio = [decode_audio(clip_bytes(n), LIMITS) for n in names]
    results = ours._scheduler({}).transcribe_all([Job.new(a, params) for a in audio])
    pairs = []
    for waveform, result in zip(audio, results):
        pairs += match_words([Word(w.word, w.start, w.end, w.probability) for w in result.words],
                             faster_whisper_words(waveform))
    timing = timing_difference(pairs)
    return ["## Word timestamps", "",
            f"Ours against faster-whisper's on the {len(names)} bundled clips ({timing.pairs} matched words): start "
            f"mean {timing.mean_start * 1000:.0f} ms, max {timing.max_start * 1000:.0f} ms; end mean "
            f"{timing.mean_end * 1000:.0f} ms, max {timing.max_end * 1000:.0f} ms."]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--markdown", type=Path, help="write the report here (docs/accuracy.md)")
    parser.add_argument("--long-seconds", type=float, default=300.0, help="the long file's length; 0: skip it")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads for each system (torch and CTranslate2); 1 suits a shared machine")
    parser.add_argument("--every", type=int, default=1,
                        help="score every n-th clip of the English set only (3: 40 clips, every sentence once)")
    parser.add_argument("--reference-beams", default="1,5", help="faster-whisper's beam sizes on the English set")
    parser.add_argument("--sections", default="english,languages,long,words",
                        help="comma-separated: english, languages, long, words")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ[THREADS_VARIABLE] = str(args.threads)
    torch.set_num_threads(args.threads)
    wanted = set(args.sections.split(","))
    ours = Ours()
    lines = ["# Accuracy (issue 15)", "",
             f"Produced by `{COMMAND}{' --markdown ' + str(args.markdown) if args.markdown else ''}` on "
             f"{platform.machine()}, {args.threads} torch threads; whisper-base (embedded), CPU float32. Ours runs "
             f"with `log_mel_padding={ours.default_padding()}` unless a column names another. Reference decoder: "
             "faster-whisper on the same CTranslate2 weights, temperature 0, no VAD.", ""]
    try:
        if "english" in wanted:
            beams = tuple(int(b) for b in args.reference_beams.split(","))
            lines += english_set(ours, args.every, beams) + [""]
        if "languages" in wanted:
            lines += languages(ours) + [""]
        if "long" in wanted and args.long_seconds > 0:
            lines += long_file(ours, args.long_seconds) + [""]
        if "words" in wanted:
            lines += word_timestamps(ours) + [""]
    finally:
        ours.close()
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
