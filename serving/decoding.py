"""Stage 4: log-mel windows -> encoder states -> language ids -> tokens -> text, one GPU batch at a time.

The encoder runs once per window: language detection and generation both reuse its output.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from transformers.modeling_outputs import BaseModelOutput

from serving.languages import code_of_token, language_token
from serving.loading import LoadedModel, input_device

logger = logging.getLogger(__name__)

MAX_PROMPT_TOKENS = 223  # Whisper keeps at most the last (n_text_ctx // 2 - 1) prompt tokens


@dataclass(frozen=True)
class DecodeOptions:
    """What must be equal for windows to be generated in one call (language may differ per window)."""

    task: str
    prompt: str | None
    temperature: float


class WhisperDecoder:
    def __init__(self, loaded: LoadedModel, max_new_tokens: int, min_new_tokens: int = 0) -> None:
        self.model = loaded.model
        self.tokenizer = loaded.processor.tokenizer
        self.generation_config = loaded.model.generation_config
        self.max_new_tokens = max_new_tokens
        self.min_new_tokens = min_new_tokens  # benchmarks force a fixed length on random weights; 0 in serving
        self.lang_id_to_code = {i: code_of_token(t) for t, i in self.generation_config.lang_to_id.items()}

    @property
    def is_multilingual(self) -> bool:
        return bool(getattr(self.generation_config, "is_multilingual", False))

    @torch.inference_mode()
    def encode(self, features: torch.Tensor) -> torch.Tensor:
        encoder = self.model.get_encoder()
        features = features.to(input_device(self.model), self.model.dtype)
        return encoder(input_features=features).last_hidden_state

    @torch.inference_mode()
    def detect_languages(self, states: torch.Tensor) -> list[str]:
        if not self.is_multilingual:
            return ["en"] * states.shape[0]
        ids = self.model.detect_language(encoder_outputs=BaseModelOutput(last_hidden_state=states))
        return [self.lang_id_to_code[int(i)] for i in ids.tolist()]

    @torch.inference_mode()
    def generate(self, states: torch.Tensor, languages: list[str], options: DecodeOptions) -> list[str]:
        prompt_ids = self._prompt_ids(options.prompt)
        kwargs = dict(
            encoder_outputs=BaseModelOutput(last_hidden_state=states),
            max_new_tokens=self._max_new_tokens(prompt_ids),
            min_new_tokens=min(self.min_new_tokens, self._max_new_tokens(prompt_ids)),
            return_timestamps=False,
            do_sample=options.temperature > 0,
            temperature=options.temperature if options.temperature > 0 else None,
            num_beams=1,
        )
        if self.is_multilingual:
            kwargs.update(language=[language_token(code) for code in languages], task=options.task)
        if prompt_ids is not None:
            kwargs["prompt_ids"] = prompt_ids
        sequences = self.model.generate(**kwargs)
        if not torch.is_tensor(sequences):
            sequences = sequences["sequences"]
        return [text.strip() for text in self.tokenizer.batch_decode(sequences, skip_special_tokens=True)]

    def _prompt_ids(self, prompt: str | None) -> torch.Tensor | None:
        if not prompt:
            return None
        ids = self.tokenizer.get_prompt_ids(prompt.strip(), return_tensors="pt")
        # ids[0] is <|startofprev|>; keep only the last MAX_PROMPT_TOKENS text tokens, as Whisper does.
        ids = torch.cat([ids[:1], ids[1:][-MAX_PROMPT_TOKENS:]])
        return ids.to(self.model.device)

    def _max_new_tokens(self, prompt_ids: torch.Tensor | None) -> int:
        context = self.model.config.max_target_positions
        used = 4 + (0 if prompt_ids is None else prompt_ids.shape[0])  # sot, language, task, notimestamps
        return max(1, min(self.max_new_tokens, context - used))
