"""The model's side of one batch: log-mel windows -> encoder states -> language probabilities -> tokens -> word
timings. Every call takes the encoder states it works on; nothing is carried over between calls.

The encoder is transformers' own module; the text decoder runs on :mod:`serving.engine.token_search` (static caches,
cross-attention keys and values computed once per window, CUDA graphs on a GPU), or on
:mod:`serving.engine.beam_search` for windows decoded with beams (eager steps: no CUDA graph yet). Language detection
and generation both reuse the encoder's output. A batch mixing beams, several samples (``best_of``) and single rows
decodes each kind apart; the cross-attention keys and values are then computed again for each kind's windows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import torch

from serving.constants import ENCODER_POSITIONS, MAX_PROMPT_TOKENS, SECONDS_PER_TIMESTAMP
from serving.engine.alignment import word_timings
from serving.engine.beam_search import BeamSearch, Hypothesis, ranking_score
from serving.engine.decoded import DecodedWindow, WordTiming
from serving.engine.decoder_runtime import DecoderRuntime
from serving.engine.degeneration import DegenerationCheck
from serving.engine.loading import LoadedModel, input_device
from serving.engine.running_batch import RunningBatch
from serving.engine.token_search import TokenSearch, WindowPrompt
from serving.engine.token_text import PlainText, TokenText
from serving.engine.vocabulary import ENGLISH, Vocabulary, load_vocabulary

logger = logging.getLogger(__name__)

# Windows per encoder pass on the CPU: one window's activations (its 1,500 x 4 x width MLP hidden states: 12 MB for
# whisper-base) stay in the cache, a batch's do not (``python -m benchmarks.encoder_batch``). Bitwise the same states.
CPU_ENCODER_WINDOWS = 1


@dataclass(frozen=True)
class AlignmentRequest:
    """Word timings wanted for one window."""

    row: int  # the window's row in the encoder states
    language: str
    task: str
    text_tokens: tuple[int, ...]
    frames: int  # mel frames of the window that hold audio


@dataclass(frozen=True)
class SearchOptions:
    """A request's candidates per window, as openai/whisper's options: ``beam_size`` beams at temperature 0,
    ``best_of`` samples above, the likeliest kept (``length_penalty``: see :mod:`serving.engine.beam_search`)."""

    beam_size: int = 1  # 1: greedy
    patience: float = 1.0
    length_penalty: float | None = None  # None: divide by the length
    best_of: int = 1


@dataclass(frozen=True)
class EngineOptions:
    """How the model is driven (from the serving options; benchmarks set ``min_new_tokens``)."""

    capacity: int = 16  # most windows in one encoder/decoder batch
    max_new_tokens: int = 440
    min_new_tokens: int = 0  # > 0 forces a length: benchmarks on random weights; 0 in serving
    cuda_graphs: bool = True  # capture the decoding step (one GPU; ignored on CPU and when partitioned)
    torch_compile: bool = False  # compile the decoding step and the encoder (slower start, faster steps)
    stop_degenerate: bool = True  # end a window while it decodes once it loops (serving.engine.degeneration)
    compression_ratio: float = 2.4  # ... or once its text compresses better than this (the quality threshold)
    beam_rule: str = "ctranslate2"  # which end-of-text candidates finish a beam hypothesis (beam_search.BeamRule)


class WhisperDecoder:
    def __init__(self, loaded: LoadedModel, options: EngineOptions) -> None:
        self.model = loaded.model
        self.tokenizer = loaded.processor.tokenizer
        self.vocabulary: Vocabulary = load_vocabulary(self.tokenizer, self.model.generation_config)
        self.options = options
        runtime = DecoderRuntime(self.model, options.capacity)
        use_graphs = options.cuda_graphs and runtime.device.type == "cuda" and not loaded.placement.partitioned
        self.text = TokenText(self.tokenizer, self.vocabulary.eot)
        degeneration = (DegenerationCheck(self.text.decode, self.vocabulary.eot, options.compression_ratio)
                        if options.stop_degenerate else None)
        self.search = TokenSearch(runtime, self.vocabulary, use_graphs, compile_step=options.torch_compile,
                                  degeneration=degeneration)
        self.beams = BeamSearch(runtime, self.vocabulary, self.search.rules)
        self.running = RunningBatch(self.search)  # windows joining and leaving between steps (same caches)
        self.encoder = self.model.get_encoder()
        if options.torch_compile:
            self.encoder = torch.compile(self.encoder, dynamic=True)
        self.search.capture_graphs()
        self.plain_text = PlainText(self.tokenizer)
        self.alignment_heads = _alignment_heads(self.model)

    @property
    def is_multilingual(self) -> bool:
        return self.vocabulary.multilingual

    @torch.inference_mode()
    def encode(self, features: torch.Tensor) -> torch.Tensor:
        """Encoder states (windows, positions, width) of log-mel ``features`` (windows, mels, frames): in one pass on
        an accelerator, ``CPU_ENCODER_WINDOWS`` at a time on the CPU."""
        features = features.to(input_device(self.model), self.model.dtype)
        if features.device.type != "cpu" or features.shape[0] <= CPU_ENCODER_WINDOWS:
            return self.encoder(input_features=features).last_hidden_state
        parts = features.split(CPU_ENCODER_WINDOWS)
        return torch.cat([self.encoder(input_features=part).last_hidden_state for part in parts])

    def detect_languages(self, states: torch.Tensor) -> list[dict[str, float]]:
        """Per window, each language's probability (English-only models: English, certainly)."""
        if not self.is_multilingual:
            return [{ENGLISH: 1.0}] * states.shape[0]
        return self.search.detect_languages(states)

    def decode(self, states: torch.Tensor, prompts: list[WindowPrompt]) -> list[DecodedWindow]:
        """Decode each window (row of ``states``) with its own prompt: beam search for the windows that ask for beams
        at temperature 0, ``best_of`` samples for those that ask for several above (openai/whisper's options), one
        greedy or sampled row for the others; the beams in one search, every other row in another."""
        beams = [i for i, p in enumerate(prompts) if p.beam_size > 1 and p.temperature == 0]
        if not beams and all(p.best_of == 1 or p.temperature == 0 for p in prompts):
            return self.search.decode(states, prompts)
        results: list[DecodedWindow | None] = [None] * len(prompts)
        if beams:
            subset = states if len(beams) == len(prompts) else states[beams]
            for i, window in zip(beams, self.beams.decode(subset, [prompts[i] for i in beams])):
                results[i] = window
        others = [i for i in range(len(prompts)) if i not in set(beams)]
        if others:
            for i, window in zip(others, self._sample_best(states, [prompts[i] for i in others], others)):
                results[i] = window
        return results

    def _sample_best(self, states: torch.Tensor, prompts: list[WindowPrompt], rows: list[int]) -> list[DecodedWindow]:
        """One row per window, or ``best_of`` rows drawing different samples (``sample_seed``) when it samples; the
        likeliest sample of each window after the length penalty (openai's ``MaximumLikelihoodRanker``)."""
        expanded = [(row, replace(p, sample_seed=seed)) for row, p in zip(rows, prompts)
                    for seed in range(p.best_of if p.temperature > 0 else 1)]
        decoded: list[DecodedWindow] = []
        capacity = self.search.runtime.capacity
        for start in range(0, len(expanded), capacity):
            part = expanded[start : start + capacity]
            picked = [row for row, _ in part]
            subset = states if picked == list(range(states.shape[0])) else states[picked]
            decoded += self.search.decode(subset, [p for _, p in part])
        results, at = [], 0
        for p in prompts:
            count = p.best_of if p.temperature > 0 else 1
            results.append(best_sample(decoded[at : at + count], p.length_penalty))
            at += count
        return results

    def align(self, states: torch.Tensor, requests: list[AlignmentRequest]) -> list[list[WordTiming]]:
        """Word timings of windows' text (openai's ``find_alignment``), all requests in one pass."""
        if not requests:
            return []
        with torch.inference_mode():
            self.search.runtime.bind(states)
        return self.align_bound(requests)

    def align_bound(self, requests: list[AlignmentRequest]) -> list[list[WordTiming]]:
        """:meth:`align` over windows already bound to the cache rows ``request.row`` (the running batch's slots);
        no cache changes."""
        if not requests:
            return []
        sequences, offsets = [], []
        for r in requests:
            prefix, _ = self.vocabulary.initial_tokens(r.language, r.task, timestamps=False)
            sequences.append([*prefix, *r.text_tokens, self.vocabulary.eot])
            offsets.append(len(prefix) - 1)  # the query at <|notimestamps|> predicts the first text token
        tokens = _padded(sequences, self.vocabulary.eot, self.search.device)
        rows = torch.tensor([r.row for r in requests], device=self.search.device)
        with torch.inference_mode():
            scores, hidden = self.search.runtime.alignment(tokens, self.alignment_heads, rows)
        return [
            self._timings(r, scores[i], hidden[i], offsets[i]) for i, r in enumerate(requests)
        ]

    def _timings(self, request: AlignmentRequest, scores, hidden, offset: int) -> list[WordTiming]:
        count = len(request.text_tokens)
        if count == 0:
            return []
        rows = offset + count + 2  # the whole sequence: the prefix, the text tokens and the end of text
        window = slice(offset, offset + count + 1)  # the queries that predict the text tokens and the end of text
        with torch.inference_mode():
            probs = self.search.runtime.logits(hidden[offset : offset + count])[:, : self.vocabulary.eot].softmax(-1)
            chosen = torch.tensor(request.text_tokens, device=probs.device).unsqueeze(1)
            picked = probs.gather(1, chosen).squeeze(1).tolist()
        words = self.text.split_words(list(request.text_tokens), request.language)
        return word_timings(scores[:, :rows], picked, words, request.frames, text_rows=window)

    def prompt_tokens(self, text: str | None) -> tuple[int, ...]:
        """A request's prompt as text tokens (the last MAX_PROMPT_TOKENS, as Whisper keeps): special-token text in it
        stays text (:class:`~serving.engine.token_text.PlainText`)."""
        if not text:
            return ()
        ids = self.plain_text.encode(" " + text.strip())
        return tuple(ids[-MAX_PROMPT_TOKENS:])

    def window_prompt(
        self, language: str, task: str, prompt: tuple[int, ...], timestamps: bool, temperature: float,
        search: SearchOptions | None = None, max_new_tokens: int | None = None, speech_until: float | None = None,
    ) -> WindowPrompt:
        """How to decode one window: its forced tokens (the prompt's last MAX_PROMPT_TOKENS, then Whisper's start
        sequence), its limits (``max_new_tokens`` lowers the serving option's, never below ``min_new_tokens``) and
        its candidates (beams at temperature 0, samples above). ``speech_until``: seconds into the window that its
        text must reach, in timestamp mode: no end of text before a timestamp at or after it."""
        most = self.options.max_new_tokens
        limit = most if max_new_tokens is None else min(max(max_new_tokens, self.options.min_new_tokens), most)
        prefix, sot_index = self.vocabulary.initial_tokens(language, task, timestamps, prompt[-MAX_PROMPT_TOKENS:])
        search = search or SearchOptions()
        return WindowPrompt(
            prefix=prefix,
            sot_index=sot_index,
            timestamps=timestamps,
            temperature=temperature,
            max_new_tokens=limit,
            min_new_tokens=self.options.min_new_tokens,
            beam_size=search.beam_size if temperature == 0 else 1,
            patience=search.patience,
            length_penalty=search.length_penalty,
            best_of=search.best_of if temperature > 0 else 1,
            beam_rule=self.options.beam_rule,
            end_not_before=self._timestamp_token(speech_until) if timestamps and speech_until is not None else -1,
        )

    def _timestamp_token(self, seconds: float) -> int:
        index = min(ENCODER_POSITIONS, max(0, round(seconds / SECONDS_PER_TIMESTAMP)))
        return self.vocabulary.timestamp_begin + index


def best_sample(samples: list[DecodedWindow], length_penalty: float | None) -> DecodedWindow:
    """The highest-ranked of a window's samples, the first on a tie (openai's ranker over best_of samples)."""
    scores = [ranking_score(Hypothesis(s.tokens, s.sum_logprob, s.ended), length_penalty) for s in samples]
    return samples[scores.index(max(scores))]


def _padded(sequences: list[list[int]], pad: int, device: torch.device) -> torch.Tensor:
    width = max(len(sequence) for sequence in sequences)
    return torch.tensor([sequence + [pad] * (width - len(sequence)) for sequence in sequences], device=device)


def _alignment_heads(model) -> list[tuple[int, int]]:
    """The checkpoint's alignment heads; without them, every head of the second half of the decoder (openai)."""
    config = model.config
    layers, heads = config.decoder_layers, config.decoder_attention_heads
    listed = getattr(model.generation_config, "alignment_heads", None) or []
    chosen = [(int(layer), int(head)) for layer, head in listed if layer < layers and head < heads]
    return chosen or [(layer, head) for layer in range(layers // 2, layers) for head in range(heads)]
