"""FLOP audit of one 30 s window: what the encoder and the decoder measurably compute vs the analytic count.

Measured with ``torch.utils.flop_counter.FlopCounterMode`` (matrix products, convolutions and attention kernels):
the encoder alone on one window's features; the decoder as (the core transcribing that window with N forced
tokens) minus (the encoder) minus (the log-mel). A ratio near 1 means no work is wasted or skipped; well above 1,
work is repeated (no KV cache, padded batches); near 0, the work ran outside PyTorch's dispatcher (CUDA graph replay).

Analytic counts (multiply-add = 2 FLOPs; softmax, norms and activations not counted, as FlopCounterMode does not):
  encoder  = conv1 2*3000*(3*mels)*d + conv2 2*1500*(3*d)*d
             + layers * (8*S*d^2 [q,k,v,o] + 4*S^2*d [scores, weighted sum] + 4*S*d*ffn)
  decoder  = cross-attention keys/values once per window: layers * 4*S*d^2
             + for each of the (prompt + N - 1) positions run: layers * (8*d^2 self + 4*t*d self-attention
               + 4*d^2 cross q,o + 4*S*d cross-attention + 4*d*ffn), and 2*d*vocab logits for each of the N tokens
with S = 1500 encoder positions, t = the position's context length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from benchmarks.systems import PROMPT_TOKENS
from serving.constants import FRAMES_PER_WINDOW

CONV_KERNEL = 3


@dataclass(frozen=True)
class FlopAudit:
    tokens: int
    encoder_measured: float
    encoder_analytic: float
    decoder_measured: float
    decoder_analytic: float
    decoder_per_token_analytic: float  # one decoded position with a short context, logits included

    @property
    def encoder_ratio(self) -> float:
        return self.encoder_measured / self.encoder_analytic

    @property
    def decoder_ratio(self) -> float:
        return self.decoder_measured / self.decoder_analytic


def analytic_encoder_flops(config) -> float:
    d, ffn, layers = config.d_model, config.encoder_ffn_dim, config.encoder_layers
    frames, positions = FRAMES_PER_WINDOW, config.max_source_positions
    convolutions = 2 * frames * CONV_KERNEL * config.num_mel_bins * d + 2 * positions * CONV_KERNEL * d * d
    per_layer = 8 * positions * d * d + 4 * positions * positions * d + 4 * positions * d * ffn
    return float(convolutions + layers * per_layer)


def analytic_decoder_position_flops(config, context: int) -> float:
    """One decoder position (all layers) attending to ``context`` positions, logits not included."""
    d, ffn, source = config.d_model, config.decoder_ffn_dim, config.max_source_positions
    per_layer = 8 * d * d + 4 * context * d + 4 * d * d + 4 * source * d + 4 * d * ffn
    return float(config.decoder_layers * per_layer)


def analytic_decoder_flops(config, tokens: int) -> float:
    d, source = config.d_model, config.max_source_positions
    cross_keys_values = config.decoder_layers * 4 * source * d * d
    positions = sum(analytic_decoder_position_flops(config, t) for t in range(1, PROMPT_TOKENS + tokens))
    logits = tokens * 2 * d * config.vocab_size
    return float(cross_keys_values + positions + logits)


def analytic_flops_per_token(config) -> float:
    return analytic_decoder_position_flops(config, PROMPT_TOKENS) + 2 * config.d_model * config.vocab_size


def audit(core, window: np.ndarray, log_mel) -> FlopAudit:
    """Count ``core`` (an eager OursCore with a fixed decoding length) transcribing one window."""
    model = core.loaded.model
    tokens = core.decoding.max_new_tokens
    with torch.inference_mode():
        logmel_flops = _count(lambda: log_mel(window[None]))
        features = log_mel(window[None]).to(model.dtype)
        encoder_flops = _count(lambda: model.get_encoder()(input_features=features))
    total_flops = _count(lambda: core.run_in_this_thread(window))
    return FlopAudit(
        tokens=tokens,
        encoder_measured=encoder_flops,
        encoder_analytic=analytic_encoder_flops(model.config),
        decoder_measured=total_flops - encoder_flops - logmel_flops,
        decoder_analytic=analytic_decoder_flops(model.config, tokens),
        decoder_per_token_analytic=analytic_flops_per_token(model.config),
    )


def _count(run) -> float:
    with FlopCounterMode(display=False, custom_mapping=_cpu_attention_formula()) as counter:
        run()
    return float(counter.get_total_flops())


def _cpu_attention_formula() -> dict:
    """FlopCounterMode knows the GPU attention kernels; count the CPU one the same way."""
    op = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    if op is None:
        return {}

    def formula(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
        return sdpa_flop_count(query_shape, key_shape, value_shape)

    return {op: formula}
