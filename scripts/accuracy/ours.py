"""Ours on a list of clips, in one variant (serving options and request parameters): transcripts cached on disk under
``ours-transcripts``, keyed by the audio, the variant and a digest of the decoding code (``serving/engine``,
``longform``, ``batching``, ``audio``), so unchanged code is never run twice on the same clip. Ours runs without VAD
here: faster-whisper, the reference, runs without it too, and both see the same audio."""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass

from scripts.conversion.embedded_model import ensure_whisper_base
from scripts.paths import PROJECT_ROOT
from scripts.scoring.reference_cache import cache_path, cached
from serving.api.params import TranscriptionParams, parse_params
from serving.audio.decode import AudioLimits, decode_audio
from serving.batching.scheduler import Scheduler
from serving.batching.sessions import Job
from serving.endpoint.service import start_scheduler
from serving.settings import Settings, load_settings

LIMITS = AudioLimits(10**9, 24 * 3600)
BEAM = "beam_size"  # the request parameter beam search adds (issue 15 item 3)
# Thresholds no window reaches: every window is decoded once, at temperature 0, as the reference decoder does.
NO_FALLBACK_OPTIONS = {"compression_ratio_threshold": "1e9", "logprob_threshold": "-1e9"}


@dataclass(frozen=True)
class Variant:
    """One way of running ours: the serving options that differ and the request's parameters."""

    padding: str | None = None  # option log_mel_padding; None: the server's default
    timestamps: bool | None = None  # option timestamps_in_every_format; None: the server's default
    response_format: str = "json"
    beam_size: int | None = None
    long_form: str | None = None
    language: str | None = None
    conditioned: bool | None = None  # request parameter condition_on_previous_text; None: its default (true)
    fallback: bool | None = None  # False: no temperature fallback (its thresholds out of reach); None: the default

    @property
    def name(self) -> str:
        parts = ["ours", f"beam {self.beam_size}" if self.beam_size else "greedy"]
        if self.padding:
            parts.append(f"pad {self.padding}")
        if self.timestamps is not None:
            parts.append("timestamp tokens" if self.timestamps else "no timestamp tokens")
        if self.long_form:
            parts.append(self.long_form)
        if self.conditioned is False:
            parts.append("not conditioned on previous text")
        if self.fallback is False:
            parts.append("temperature 0 only")
        return ", ".join(parts)

    def options(self) -> dict[str, str]:
        """The serving options this variant sets (the others at their defaults)."""
        chosen = {"log_mel_padding": self.padding, "timestamps_in_every_format": self.timestamps}
        options = {key: str(value).lower() for key, value in chosen.items() if value is not None}
        return {**options, **(NO_FALLBACK_OPTIONS if self.fallback is False else {})}

    def params(self) -> TranscriptionParams:
        values = {"response_format": self.response_format}
        if self.beam_size:
            values[BEAM] = self.beam_size
        if self.long_form:
            values["long_form"] = self.long_form
        if self.language:
            values["language"] = self.language
        if self.conditioned is not None:
            values["condition_on_previous_text"] = self.conditioned
        return parse_params(values)


def has_beam_search() -> bool:
    return BEAM in TranscriptionParams.model_fields


class Ours:
    """Our scheduler for one set of serving options at a time (another set closes it first: one model in memory, not
    one per set: the full run held four and was killed for memory), started when needed; transcripts cached on
    disk."""

    def __init__(self) -> None:
        self._scheduler: tuple[tuple, Scheduler] | None = None
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
            scheduler = self.scheduler(variant.options())
            jobs = [Job.new(decode_audio(audio[i], LIMITS), variant.params()) for i in missing]
            started = time.perf_counter()
            results = scheduler.transcribe_all(jobs)
            seconds = time.perf_counter() - started
            for i, result in zip(missing, results):
                cached("ours-transcripts", key_of[i], lambda r=result: {"text": r.text, "language": r.language})
        return [cached("ours-transcripts", key, _never) for key in key_of], seconds

    def scheduler(self, chosen: dict[str, str]) -> Scheduler:
        key = tuple(sorted(chosen.items()))
        if self._scheduler is None or self._scheduler[0] != key:
            self.close()
            options = {"model_id": str(ensure_whisper_base()), "vad": "off", **chosen}
            self._scheduler = (key, start_scheduler(load_settings(options, environ={}), "-1"))
        return self._scheduler[1]

    def close(self) -> None:
        if self._scheduler is not None:
            self._scheduler[1].close()
            self._scheduler = None


def _never():
    raise RuntimeError("a transcript missing from the cache after it was computed")


def _cache_path_exists(key: bytes) -> bool:
    return cache_path("ours-transcripts", key).is_file()


DECODING_CODE = ("serving/engine", "serving/longform", "serving/batching", "serving/audio")


def _source_digest() -> bytes:
    """A digest of the code a transcript depends on (not the rendering, the endpoint or the options' parsing)."""
    digest = hashlib.sha256()
    for path in sorted(p for folder in DECODING_CODE for p in (PROJECT_ROOT / folder).rglob("*.py")):
        digest.update(path.relative_to(PROJECT_ROOT).as_posix().encode() + path.read_bytes())
    return digest.hexdigest().encode()
