"""Stage 4: log-mel windows -> encoder states -> language ids -> tokens -> text, one GPU batch at a time.

The encoder is transformers' own module; the text decoder runs on :mod:`serving.token_search` (static caches,
cross-attention keys and values computed once per window, CUDA graphs on a GPU). Language detection and generation
both reuse the encoder's output.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from serving.decoder_runtime import DecoderRuntime
from serving.loading import LoadedModel, input_device
from serving.token_search import DecodedWindow, TokenSearch, WindowPrompt
from serving.vocabulary import Vocabulary, load_vocabulary

logger = logging.getLogger(__name__)

MAX_PROMPT_TOKENS = 223  # Whisper keeps at most the last (n_text_ctx // 2 - 1) prompt tokens


@dataclass(frozen=True)
class DecodeOptions:
    """How one window is to be decoded (language may differ per window and is passed separately)."""

    task: str
    prompt: str | None
    temperature: float
    timestamps: bool = False


@dataclass(frozen=True)
class EngineOptions:
    """How the model is driven (from the serving options; benchmarks set ``min_new_tokens``)."""

    capacity: int = 16  # most windows in one encoder/decoder batch
    max_new_tokens: int = 440
    min_new_tokens: int = 0  # > 0 forces a length: benchmarks on random weights; 0 in serving
    cuda_graphs: bool = True  # capture the decoding step (one GPU; ignored on CPU and when partitioned)
    torch_compile: bool = False  # compile the decoding step and the encoder (slower start, faster steps)


class WhisperDecoder:
    def __init__(self, loaded: LoadedModel, options: EngineOptions) -> None:
        self.model = loaded.model
        self.tokenizer = loaded.processor.tokenizer
        self.vocabulary: Vocabulary = load_vocabulary(self.tokenizer, self.model.generation_config)
        self.options = options
        runtime = DecoderRuntime(self.model, options.capacity)
        use_graphs = options.cuda_graphs and runtime.device.type == "cuda" and not loaded.placement.partitioned
        self.search = TokenSearch(runtime, self.vocabulary, use_graphs, compile_step=options.torch_compile)
        self.encoder = self.model.get_encoder()
        if options.torch_compile:
            self.encoder = torch.compile(self.encoder, dynamic=True)
        self.search.capture_graphs()

    @property
    def is_multilingual(self) -> bool:
        return self.vocabulary.multilingual

    @torch.inference_mode()
    def encode(self, features: torch.Tensor) -> torch.Tensor:
        features = features.to(input_device(self.model), self.model.dtype)
        return self.encoder(input_features=features).last_hidden_state

    def detect_languages(self, states: torch.Tensor) -> list[str]:
        if not self.is_multilingual:
            return ["en"] * states.shape[0]
        self.search.bind(states)
        return [max(probs, key=probs.get) for probs in self.search.detect_languages()]

    def decode(self, states: torch.Tensor, languages: list[str], options: list[DecodeOptions]) -> list[DecodedWindow]:
        """Decode each window (row of ``states``) with its own language and options, all in one search."""
        self.search.bind(states)
        return self.search.decode([self._prompt(lang, opts) for lang, opts in zip(languages, options)])

    def text(self, tokens: tuple[int, ...]) -> str:
        return self.tokenizer.decode(list(tokens), skip_special_tokens=True).strip()

    def _prompt(self, language: str, options: DecodeOptions) -> WindowPrompt:
        prompt_ids = self._prompt_ids(options.prompt)
        prefix, sot_index = self.vocabulary.initial_tokens(language, options.task, options.timestamps, prompt_ids)
        return WindowPrompt(
            prefix=prefix,
            sot_index=sot_index,
            timestamps=options.timestamps,
            temperature=options.temperature,
            max_new_tokens=self.options.max_new_tokens,
            min_new_tokens=self.options.min_new_tokens,
        )

    def _prompt_ids(self, prompt: str | None) -> tuple[int, ...]:
        if not prompt:
            return ()
        ids = self.tokenizer.encode(" " + prompt.strip(), add_special_tokens=False)
        return tuple(ids[-MAX_PROMPT_TOKENS:])
