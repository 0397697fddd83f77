"""The systems under comparison, one small class each with the same interface.

``name``, ``dispatch`` (how a burst of requests reaches it), ``workers`` (threads for ``Dispatch.THREADS``),
``transcribe(batch: list[np.ndarray 16 kHz float32]) -> list[str]`` and ``close()``.

* :class:`OursService`: the real service path, wav bytes in (host decoding included), JSON out.
* :class:`OursCore`: the transcriber core with ``Job``s, for the fixed-token mode (the service cannot force a length).
* :class:`Baseline`: transformers' ASR pipeline called once per request, as the SageMaker Whisper samples do.
* :class:`FasterWhisper`: faster-whisper (CTranslate2) on the same weights, greedy, no VAD, no timestamps.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import gc
import io
import json
import logging
import math
import wave
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import pipeline

from serving.api.params import TranscriptionParams
from serving.api.requests import RawRequest
from serving.batching.runner import Runner, RunnerOptions
from serving.batching.scheduler import Scheduler, SchedulerOptions
from serving.batching.sessions import Job
from serving.constants import SAMPLE_RATE, WINDOW_SAMPLES, WINDOW_SECONDS
from serving.endpoint.service import TranscriptionService
from serving.engine.decoding import EngineOptions
from serving.engine.loading import load_model
from serving.engine.placement import DTYPES, resolve_placement
from serving.longform.quality import Thresholds
from serving.settings import Settings, load_settings

logger = logging.getLogger(__name__)

SERVING_MAX_NEW_TOKENS = Settings.model_fields["max_new_tokens"].default
SERVING_MAX_BATCH_WINDOWS = Settings.model_fields["max_batch_windows"].default
PROMPT_TOKENS = 4  # <|startoftranscript|> <|language|> <|task|> <|notimestamps|> (the language given)
# Quality thresholds no window can fail (random weights fail them all): one decoding per window, no fallback.
NEVER_FALL_BACK = Thresholds(compression_ratio=math.inf, logprob=-math.inf, no_speech=1.0)
PCM16_SCALE = 32768  # PyAV decodes s16 as sample / 32768: encoding with the same scale round-trips exactly


class Dispatch(enum.Enum):
    """How a burst of concurrent requests reaches a system."""

    BATCH = "one call with the whole burst (DJL dynamic batching)"
    SERIAL = "one request at a time (a one-worker endpoint)"
    THREADS = "one request per thread, several threads"


class BenchmarkError(RuntimeError):
    """A system answered something other than a transcript."""


class Unavailable(RuntimeError):
    """A system that cannot run here (reported as "not run: <reason>", never as a failure of the benchmark)."""


@dataclass(frozen=True)
class Runtime:
    """Where every system runs: ``cpu`` (float32) or ``cuda`` (GPU 0, ``dtype``)."""

    device: str
    dtype: torch.dtype

    @property
    def is_gpu(self) -> bool:
        return self.device == "cuda"

    @property
    def device_id(self) -> str:
        """DJL's worker device id: -1 for CPU."""
        return "0" if self.is_gpu else "-1"

    @property
    def dtype_option(self) -> str:
        """``option.dtype``'s name for it: fp32, fp16, bf16."""
        return {dtype: name for name, dtype in DTYPES.items()}[self.dtype]

    @property
    def ct2_compute_type(self) -> str:
        """CTranslate2's name for it: float32, float16, bfloat16."""
        return str(self.dtype).removeprefix("torch.")

    def synchronize(self) -> None:
        if self.is_gpu:
            torch.cuda.synchronize()


CPU = Runtime("cpu", torch.float32)


@dataclass(frozen=True)
class Decoding:
    """What every system is asked to decode: the same token budget and, where set, the same language."""

    max_new_tokens: int = SERVING_MAX_NEW_TOKENS
    min_new_tokens: int = 0
    language: str | None = None  # None: each system detects it from the first 30 s

    @classmethod
    def fixed(cls, tokens: int, language: str = "en") -> "Decoding":
        """Exactly ``tokens`` tokens per window after the same prompt (random weights never stop on their own)."""
        return cls(tokens, tokens, language)

    @property
    def is_fixed(self) -> bool:
        return self.min_new_tokens == self.max_new_tokens


@dataclass(frozen=True)
class Engine:
    """How ours drives the model beyond the serving options (the serving defaults unless a run asks otherwise)."""

    cuda_graphs: bool = Settings.model_fields["cuda_graphs"].default
    torch_compile: bool = Settings.model_fields["torch_compile"].default


# ------------------------------------------------------------------------------------------------------------ ours
def wav_bytes(audio: np.ndarray) -> bytes:
    """16-bit mono wav at 16 kHz, what a client would send."""
    pcm = np.clip(np.round(audio * PCM16_SCALE), -PCM16_SCALE, PCM16_SCALE - 1).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def serving_properties(
    model_dir: Path, runtime: Runtime, decoding: Decoding, max_batch_windows: int, engine: Engine
) -> dict:
    """The options of the first DJL Input (``option.`` stripped), as serving.properties would give them."""
    return {
        "model_id": str(model_dir),
        "dtype": runtime.dtype_option,
        "max_batch_windows": str(max_batch_windows),
        "max_new_tokens": str(decoding.max_new_tokens),
        "cuda_graphs": str(engine.cuda_graphs).lower(),
        "torch_compile": str(engine.torch_compile).lower(),
        "device_id": runtime.device_id,
    }


class OursService:
    """``TranscriptionService.handle`` with wav requests: parsing, host decoding, batching, rendering included."""

    name = "ours"
    dispatch = Dispatch.BATCH
    workers = 1

    def __init__(
        self,
        model_dir: Path,
        runtime: Runtime,
        decoding: Decoding,
        max_batch_windows: int = SERVING_MAX_BATCH_WINDOWS,
        engine: Engine = Engine(),
        options: Mapping[str, str] | None = None,
    ) -> None:
        """``options``: further serving options (``{"vad": "off"}``), over the ones the benchmark sets."""
        if decoding.min_new_tokens:
            raise ValueError("the service cannot force a minimum length; use OursCore for the fixed-token mode")
        properties = {**serving_properties(model_dir, runtime, decoding, max_batch_windows, engine), **(options or {})}
        self.service = TranscriptionService.start(properties, async_mode=False)
        self.headers = {"Content-Type": "audio/wav", "response_format": "json"}
        if decoding.language:
            self.headers["language"] = decoding.language

    def transcribe(self, batch: list[np.ndarray]) -> list[str]:
        responses = self.service.handle([RawRequest(self.headers, wav_bytes(audio)) for audio in batch])
        return [_response_text(response) for response in responses]

    def close(self) -> None:
        self.service.close()
        self.service = None
        _release_memory()


def _response_text(response) -> str:
    if response.status != 200:
        raise BenchmarkError(f"ours answered {response.status}: {response.body[:300]!r}")
    return json.loads(response.body)["text"]


def load_ours(model_dir: Path, runtime: Runtime, decoding: Decoding, max_batch_windows: int):
    """Load the model as ``TranscriptionService.start`` does: settings, placement, weights."""
    properties = serving_properties(model_dir, runtime, decoding, max_batch_windows, Engine())
    settings = load_settings(properties, environ={})
    placement = resolve_placement(settings, runtime.device_id)
    return load_model(settings, None, placement)


def make_runner(loaded, max_batch_windows: int, decoding: Decoding, engine: Engine) -> Runner:
    """The one place the core's runner is constructed (adapt here when its signature changes).

    No VAD; with a fixed length no temperature fallback either: every window is decoded once, N tokens.
    """
    engine_options = EngineOptions(
        capacity=max_batch_windows,
        max_new_tokens=decoding.max_new_tokens,
        min_new_tokens=decoding.min_new_tokens,
        cuda_graphs=engine.cuda_graphs,
        torch_compile=engine.torch_compile,
    )
    thresholds = NEVER_FALL_BACK if decoding.is_fixed else Thresholds()
    return Runner(loaded, RunnerOptions(engine=engine_options, thresholds=thresholds))


class OursCore:
    """The transcriber core with ``Job``s: min_new_tokens = max_new_tokens = N forces N tokens per window."""

    name = "ours"
    dispatch = Dispatch.BATCH
    workers = 1

    def __init__(
        self, loaded, decoding: Decoding, max_batch_windows: int = SERVING_MAX_BATCH_WINDOWS, engine: Engine = Engine()
    ) -> None:
        self.loaded = loaded
        self.decoding = decoding
        self.runner = make_runner(loaded, max_batch_windows, decoding, engine)
        self.transcriber = Scheduler(self.runner, SchedulerOptions(max_batch_wait_ms=0))
        self.params = TranscriptionParams(language=decoding.language)

    def transcribe(self, batch: list[np.ndarray]) -> list[str]:
        jobs = [Job.new(audio, self.params) for audio in batch]
        return [result.text for result in self.transcriber.transcribe_all(jobs)]

    def run_in_this_thread(self, audio: np.ndarray) -> None:
        """One short clip's windows through the runner on the calling thread (the scheduler runs the model on its
        own thread, where a FLOP counter of this thread sees nothing)."""
        session = self.runner.open(Job.new(audio, self.params))
        tasks = session.pending()
        self.runner.run(tasks, {session.request: session})

    def close(self) -> None:
        """Drop the core (its caches and graphs); the loaded model stays with whoever loaded it."""
        self.transcriber.close()
        self.transcriber = self.runner = None
        _release_memory()


# -------------------------------------------------------------------------------------------------------- baseline
class Baseline:
    """transformers' ASR pipeline (chunk_length_s=30) called once per request, or with its own ``batch_size``."""

    name = "baseline"
    workers = 1

    def __init__(self, model_dir: Path, runtime: Runtime, decoding: Decoding) -> None:
        self.pipe = pipeline(
            "automatic-speech-recognition",
            model=str(model_dir),
            chunk_length_s=WINDOW_SECONDS,
            device=runtime.device,
            dtype=runtime.dtype,
        )
        self.generate_kwargs = _generate_kwargs(decoding)
        self.batch_size: int | None = None

    @property
    def dispatch(self) -> Dispatch:
        return Dispatch.SERIAL if self.batch_size is None else Dispatch.BATCH

    def with_batch_size(self, batch_size: int) -> "Baseline":
        """The same pipeline, a burst in one call with its own ``batch_size``."""
        other = copy.copy(self)
        other.batch_size = batch_size
        return other

    def transcribe(self, batch: list[np.ndarray]) -> list[str]:
        if self.batch_size is None:
            outputs = [self.pipe(audio, generate_kwargs=self.generate_kwargs) for audio in batch]
        else:
            outputs = self.pipe(list(batch), batch_size=self.batch_size, generate_kwargs=self.generate_kwargs)
        return [output["text"].strip() for output in outputs]

    def close(self) -> None:
        self.pipe = None
        _release_memory()


def _generate_kwargs(decoding: Decoding) -> dict:
    kwargs: dict = {"max_new_tokens": decoding.max_new_tokens}
    if decoding.min_new_tokens:
        kwargs["min_new_tokens"] = decoding.min_new_tokens
    if decoding.language:
        kwargs.update(language=decoding.language, task="transcribe")
    return kwargs


# -------------------------------------------------------------------------------------------------- faster-whisper
@dataclass(frozen=True)
class FasterWhisperSetup:
    """CTranslate2 threading and batching.

    ``batched``: every call goes through BatchedInferencePipeline, all windows of all the call's requests in batches
    of ``batch_size`` (cut at fixed 30 s edges), so a burst is one call; otherwise each request is one
    ``WhisperModel.transcribe`` (sequential windows), a burst spread over ``num_workers`` threads. ``vad`` (batched):
    a request alone in its call is cut by faster-whisper's own VAD instead (its default: speech chunks merged into
    windows of up to 30 s, as ours packs them).
    """

    cpu_threads: int = 0  # 0: CTranslate2's default
    num_workers: int = 1
    batched: bool = False
    batch_size: int = SERVING_MAX_BATCH_WINDOWS
    vad: bool = False

    def describe(self) -> str:
        threads = f"cpu_threads={self.cpu_threads}, num_workers={self.num_workers}"
        if self.batched:
            cut = "fixed 30 s edges"
            if self.vad:
                cut = "its VAD for a request alone in a call, fixed 30 s edges for a burst"
            return f"{threads}; BatchedInferencePipeline(batch_size={self.batch_size}), a burst in one call; {cut}"
        return f"{threads}; WhisperModel.transcribe per request" + (
            f", a burst on {self.num_workers} threads" if self.num_workers > 1 else ", a burst one at a time"
        )


class FasterWhisper:
    """faster-whisper: beam 1, no VAD, no timestamps, no conditioning on previous text, temperature 0 (no fallback)."""

    name = "faster-whisper"

    def __init__(self, ct2_dir: Path, runtime: Runtime, decoding: Decoding, setup: FasterWhisperSetup) -> None:
        try:  # a development dependency, absent from the GPU image
            from faster_whisper import BatchedInferencePipeline, WhisperModel
        except ImportError as exc:
            raise Unavailable(f"faster-whisper is not installed ({exc})") from None

        self.model = WhisperModel(
            str(ct2_dir),
            device=runtime.device,
            compute_type=runtime.ct2_compute_type,
            cpu_threads=setup.cpu_threads,
            num_workers=setup.num_workers,
        )
        self.setup = setup
        self.decoding = decoding
        self.pipeline = BatchedInferencePipeline(self.model) if setup.batched else None
        self.options = _faster_whisper_options(self.model, decoding)

    @property
    def dispatch(self) -> Dispatch:
        if self.setup.batched:
            return Dispatch.BATCH
        return Dispatch.THREADS if self.setup.num_workers > 1 else Dispatch.SERIAL

    @property
    def workers(self) -> int:
        return self.setup.num_workers

    def with_batch_size(self, batch_size: int) -> "FasterWhisper":
        """The same model, batched ``batch_size`` windows at a time."""
        from faster_whisper import BatchedInferencePipeline

        other = copy.copy(self)
        other.setup = dataclasses.replace(self.setup, batched=True, batch_size=batch_size)
        other.pipeline = self.pipeline or BatchedInferencePipeline(self.model)
        return other

    def transcribe(self, batch: list[np.ndarray]) -> list[str]:
        if self.pipeline is not None:
            return self._batched(batch)
        return [self._sequential(audio) for audio in batch]

    def _sequential(self, audio: np.ndarray) -> str:
        segments, _ = self.model.transcribe(audio, **self.options)
        return self._join(list(segments))

    def _batched(self, batch: list[np.ndarray]) -> list[str]:
        """All windows of all requests in one pipeline call; each request's language detected on its own windows."""
        if self.setup.vad and len(batch) == 1:
            segments, _ = self.pipeline.transcribe(
                batch[0], batch_size=self.setup.batch_size, **{**self.options, "vad_filter": True}
            )
            return [self._join(list(segments))]
        owners, timestamps = [], []
        for request, audio in enumerate(batch):
            offset = len(timestamps) * WINDOW_SECONDS
            for window in window_timestamps(audio.shape[0]):
                owners.append(request)
                timestamps.append({"start": offset + window["start"], "end": offset + window["end"]})
        joined = np.concatenate([_pad_to_windows(audio) for audio in batch])
        options = {**self.options, "multilingual": self.options["language"] is None and len(batch) > 1}
        segments, _ = self.pipeline.transcribe(
            joined, clip_timestamps=timestamps, batch_size=self.setup.batch_size, **options
        )
        per_request: list[list] = [[] for _ in batch]
        for segment in segments:
            per_request[owners[round(segment.start / WINDOW_SECONDS)]].append(segment)
        return [self._join(found) for found in per_request]

    def _join(self, segments: list) -> str:
        if self.decoding.is_fixed:
            _check_token_counts(segments, self.decoding.max_new_tokens)
        return " ".join(segment.text.strip() for segment in segments)

    def close(self) -> None:
        self.model = self.pipeline = None
        _release_memory()


def _faster_whisper_options(model, decoding: Decoding) -> dict:
    options = dict(
        beam_size=1,
        temperature=0.0,
        vad_filter=False,
        condition_on_previous_text=False,
        without_timestamps=True,
        language=decoding.language,
        max_new_tokens=decoding.max_new_tokens,
    )
    if decoding.min_new_tokens:
        if not decoding.is_fixed:
            raise ValueError("faster-whisper can force an exact length only (min_new_tokens == max_new_tokens)")
        # No end-of-text, so every window runs to the length limit; and no window is dropped as silence.
        # CTranslate2 caps a Whisper generation at max_length // 2 (openai/whisper's sample_len), where faster-whisper
        # passes max_length = prompt + max_new_tokens: asking for 2N - prompt makes the cap exactly N.
        eot = model.hf_tokenizer.token_to_id("<|endoftext|>")
        options.update(
            max_new_tokens=2 * decoding.max_new_tokens - PROMPT_TOKENS,
            suppress_tokens=[-1, eot],
            no_speech_threshold=None,
            log_prob_threshold=None,
        )
    return options


def window_count(samples: int) -> int:
    return max(1, -(-samples // WINDOW_SAMPLES))


def window_timestamps(samples: int) -> list[dict[str, float]]:
    """Fixed 30 s windows of ``samples`` as BatchedInferencePipeline's ``clip_timestamps`` (the cut ours makes)."""
    seconds = samples / SAMPLE_RATE
    return [
        {"start": float(k * WINDOW_SECONDS), "end": float(min((k + 1) * WINDOW_SECONDS, seconds))}
        for k in range(window_count(samples))
    ]


def _pad_to_windows(audio: np.ndarray) -> np.ndarray:
    padded = np.zeros(window_count(audio.shape[0]) * WINDOW_SAMPLES, dtype=np.float32)
    padded[: audio.shape[0]] = audio
    return padded


def _check_token_counts(segments, tokens: int) -> None:
    counts = [len(segment.tokens) for segment in segments]
    if any(count != tokens for count in counts):
        raise BenchmarkError(f"faster-whisper decoded {counts} tokens per window, not {tokens}")


def _release_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
