"""Whisper's text decoder run from the model's own weights, with static caches sized once.

transformers' ``generate`` rebuilds caches, processors and masks on every call and spends most of a step on the host.
This runtime keeps, per decoder layer, a self-attention key/value cache of ``max_target_positions`` and the
cross-attention keys and values of the bound windows (computed once per window, not once per step), in buffers
allocated for ``capacity`` rows and reused. On an accelerator every tensor shape of a step depends only on the row
count, so a step can be captured in a CUDA graph (see :mod:`serving.engine.step_graphs`); on the CPU a step's
self-attention reads only the positions written so far (a tenth of the step's time on whisper-base at 10 rows), and
the cross-attention keys are kept transposed, (heads, head_dim, sources) per row, so that a step's one query per row
multiplies them as they lie: a step's cross-attention is memory-bound (every row reads its window's keys and values,
37 MB per row and step for whisper-base), and two matrix products over keys in that layout read them faster than the
fused attention kernel does (``python -m benchmarks.cross_attention``).

The arithmetic is the Hugging Face ``WhisperDecoder``'s (pre-norm layers, GELU, tied output projection, attention
scaled by ``head_dim ** -0.5``); the weights are the loaded model's tensors (the fused projections are copies), so a
model partitioned over several GPUs keeps each layer where Accelerate placed it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from serving.engine.output_projection import OutputProjection


@dataclass(frozen=True)
class _Layer:
    device: torch.device
    norm_self: tuple[torch.Tensor, torch.Tensor]
    qkv: tuple[torch.Tensor, torch.Tensor]  # q;k;v stacked (Whisper's k_proj has no bias: zeros)
    out_self: tuple[torch.Tensor, torch.Tensor]
    norm_cross: tuple[torch.Tensor, torch.Tensor]
    q_cross: tuple[torch.Tensor, torch.Tensor]
    kv_cross: tuple[torch.Tensor, torch.Tensor]  # k;v stacked
    out_cross: tuple[torch.Tensor, torch.Tensor]
    norm_ffn: tuple[torch.Tensor, torch.Tensor]
    fc1: tuple[torch.Tensor, torch.Tensor]
    fc2: tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class DecoderShape:
    layers: int
    heads: int
    width: int
    positions: int  # max_target_positions (448)
    vocab: int

    @property
    def head_dim(self) -> int:
        return self.width // self.heads


class DecoderRuntime:
    """Prefill, single-token steps and alignment attention over a fixed set of cache rows."""

    def __init__(self, model, capacity: int, keys_transposed: bool | None = None) -> None:
        decoder = model.get_decoder()
        config = model.config
        self.shape = DecoderShape(
            config.decoder_layers, config.decoder_attention_heads, config.d_model,
            config.max_target_positions, decoder.embed_tokens.weight.shape[0],
        )
        self.dtype = decoder.embed_tokens.weight.dtype
        self.embed = decoder.embed_tokens.weight
        self.positions = decoder.embed_positions.weight
        self.device = self.embed.device
        self.final_norm = (decoder.layer_norm.weight, decoder.layer_norm.bias)
        self.output = model.proj_out.weight  # tied to embed_tokens in every Whisper checkpoint
        on_cpu = self.device.type == "cpu"
        self._project = OutputProjection(self.output, blocked=on_cpu)
        self.layers = [_layer(layer) for layer in decoder.layers]
        self.capacity = capacity
        self.sources = config.max_source_positions  # encoder states per window (1,500)
        self._scale = math.sqrt(self.shape.head_dim)
        # cross_k rows are (heads, head_dim, sources) when transposed (default: on the CPU), else laid out as cross_v
        self._keys_transposed = on_cpu if keys_transposed is None else keys_transposed
        # Allocated once: captured CUDA graphs hold these addresses.
        self.self_k, self.self_v = self._cache(self.shape.positions), self._cache(self.shape.positions)
        self.cross_k = self._cache(self.sources, transposed=self._keys_transposed)
        self.cross_v = self._cache(self.sources)
        self._bound: torch.Tensor | None = None  # the states whose keys and values the cross caches hold
        # On the CPU (no graphs, no device to wait for) a step attends only to the positions written so far; on an
        # accelerator every step has the same shapes, so that it can be captured in a graph.
        self._trim_positions = on_cpu

    # ---- caches -----------------------------------------------------------------------------------------------

    def _cache(self, length: int, transposed: bool = False) -> list[torch.Tensor]:
        s = self.shape
        per_head = (s.head_dim, length) if transposed else (length, s.head_dim)
        size = (self.capacity, s.heads, *per_head)
        return [torch.zeros(size, dtype=self.dtype, device=layer.device) for layer in self.layers]

    @torch.inference_mode()
    def bind(self, states: torch.Tensor) -> None:
        """Make the cross caches' rows ``[0, rows)`` hold the keys and values of ``states`` (rows, sources, width).
        Computed once per states tensor: binding the same tensor again costs nothing; any other tensor (a subset, a
        new batch) is computed afresh, so a caller never depends on what an earlier call left bound."""
        if states is self._bound:
            return
        rows, sources, _ = states.shape
        if rows > self.capacity or sources != self.sources:
            raise ValueError(f"cannot bind {tuple(states.shape)}: capacity {self.capacity}, {self.sources} sources")
        self._write_cross(states, torch.arange(rows))
        self._bound = states

    @torch.inference_mode()
    def bind_rows(self, states: torch.Tensor, rows: torch.Tensor) -> None:
        """Make the cross caches' rows ``rows`` (n,) hold the keys and values of ``states`` (n, sources, width),
        leaving every other row as it is (the running batch: windows join between steps)."""
        if states.shape[0] != rows.shape[0] or states.shape[1] != self.sources:
            raise ValueError(f"cannot bind {tuple(states.shape)} to {rows.shape[0]} rows")
        self._write_cross(states, rows)
        self._bound = None  # no one states tensor is bound now: the next bind() computes afresh

    def _write_cross(self, states: torch.Tensor, rows: torch.Tensor) -> None:
        """Every layer's cross-attention keys and values of ``states`` (n, sources, width) into cache rows ``rows``
        (n,): transposed keys a window at a time (:meth:`_write_windows`), else from one product per layer."""
        if self._keys_transposed:
            self._write_windows(states, rows.tolist())
            return
        s = self.shape
        for index, layer in enumerate(self.layers):
            kv = F.linear(states.to(layer.device, self.dtype), *layer.kv_cross)
            k, v = kv.view(states.shape[0], self.sources, 2, s.heads, s.head_dim).permute(2, 0, 3, 1, 4)
            at = rows.to(layer.device)
            self.cross_k[index].index_copy_(0, at, k.contiguous())
            self.cross_v[index].index_copy_(0, at, v.contiguous())

    def _write_windows(self, states: torch.Tensor, rows: Sequence[int]) -> None:
        """Transposed keys: each window's cross-attention keys and values (``states[j]`` into cache row ``rows[j]``)
        computed straight into the cache, a window at a time: the keys as ``W_k @ states^T``, (width, sources) =
        (heads, head_dim, sources); the values head by head. No product's output is copied into the cache layout."""
        s = self.shape
        for index, layer in enumerate(self.layers):
            weight, bias = layer.kv_cross  # keys' rows first
            key_bias = bias[: s.width].unsqueeze(1)
            value_weight = weight[s.width :].view(s.heads, s.head_dim, s.width).transpose(1, 2)
            value_bias = bias[s.width :].view(s.heads, 1, s.head_dim)
            for window, row in zip(states.to(layer.device, self.dtype), rows):
                keys = self.cross_k[index][row].view(s.width, self.sources)
                torch.addmm(key_bias, weight[: s.width], window.t(), out=keys)
                heads = window.expand(s.heads, -1, -1)
                torch.baddbmm(value_bias, heads, value_weight, out=self.cross_v[index][row])

    # ---- forward passes ---------------------------------------------------------------------------------------

    def step(self, tokens: torch.Tensor, positions: torch.Tensor, group: int = 1, first: int = 0) -> torch.Tensor:
        """One token per row (rows ``[0, len(tokens))``) at its own position -> float32 logits (rows, vocab).

        The token's key and value are written at its position; it attends to every cached position up to its own.
        ``group`` consecutive rows share one bound window (beam search: a window's beams), row ``r`` attending to
        bound window ``first + r // group``; the default is one row per window from window 0.
        """
        rows = tokens.shape[0]
        x = (self.embed[tokens] + self.positions[positions]).unsqueeze(1)  # (rows, 1, width)
        upto = int(positions.max()) + 1 if self._trim_positions else self.shape.positions
        visible = torch.arange(upto, device=self.device) <= positions.unsqueeze(1)
        mask = visible.view(rows, 1, 1, upto)
        index = torch.arange(rows, device=self.device)
        for i, layer in enumerate(self.layers):
            x = x.to(layer.device)
            q, k, v = self._self_qkv(layer, x)
            at = positions.to(layer.device)
            self.self_k[i][index.to(layer.device), :, at] = k[:, :, 0]  # (rows, heads, head_dim) at each row's position
            self.self_v[i][index.to(layer.device), :, at] = v[:, :, 0]
            attended = F.scaled_dot_product_attention(
                q, self.self_k[i][:rows, :, :upto], self.self_v[i][:rows, :, :upto], attn_mask=mask.to(layer.device)
            )
            x = x + F.linear(_merge_heads(attended), *layer.out_self)
            if group == 1 and first == 0:
                x = x + self._cross_attention(i, layer, x)[0]
            else:
                x = x + self._grouped_cross_attention(i, layer, x, group, first)
            x = x + self._feed_forward(layer, x)
        return self._logits(x[:, 0])

    @torch.inference_mode()
    def reorder(self, source: torch.Tensor, upto: int) -> None:
        """Self-attention cache row ``r`` takes what row ``source[r]`` held, for rows ``[0, len(source))`` and
        positions ``[0, upto)`` (beam search: the beams that survive a step, or one prefilled row per beam)."""
        rows = source.shape[0]
        for cache in (*self.self_k, *self.self_v):
            index = source.to(cache.device)
            cache[:rows, :, :upto].copy_(cache[:, :, :upto].index_select(0, index))

    def prefill(self, tokens: torch.Tensor, first: int = 0) -> torch.Tensor:
        """Rows of prefix tokens (rows, length), right-padded, from position 0 -> hidden states (rows, length, width)
        before the final norm (see :meth:`logits_at`). Keys and values of every position are cached; a padded position is overwritten by the row's first
        generated token before anything attends to it. Row ``r`` attends to bound window ``first + r``."""
        return self._sequence(tokens, capture=None, first=first)[0]  # caches rows 0..n-1

    def prefill_rows(self, tokens: torch.Tensor, rows: torch.Tensor, cache: bool = True) -> torch.Tensor:
        """:meth:`prefill` for the bound rows ``rows`` (n,): row ``rows[j]`` attends to its own bound window and, with
        ``cache``, keeps the keys and values of sequence j; no other row is touched (``cache=False``: language
        detection beside rows that are decoding)."""
        return self._sequence(tokens, capture=None, rows=rows, write=cache)[0]

    def alignment(
        self, tokens: torch.Tensor, heads: list[tuple[int, int]], rows: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced ``tokens`` (n, length) over the bound windows ``rows`` (n,) (see :meth:`bind`) -> the raw
        cross-attention scores of the given (layer, head) pairs (n, len(heads), length, sources) and the hidden states."""
        hidden, captured = self._sequence(tokens, capture=heads, rows=rows)
        return torch.stack([captured[pair] for pair in heads], dim=1), hidden

    def logits_at(self, hidden: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Float32 logits of ``hidden`` (rows, length, width) at one position per row."""
        picked = hidden[torch.arange(hidden.shape[0], device=hidden.device), index.to(hidden.device)]
        return self._logits(picked)

    def _sequence(self, tokens: torch.Tensor, capture: list[tuple[int, int]] | None, rows: torch.Tensor | None = None,
                  first: int = 0, write: bool = False):
        """Causal pass over whole sequences; ``rows`` picks bound windows for the sequences (default: 0, 1, ...,
        whose self-attention caches take the keys and values; with ``rows``, only when ``write``)."""
        count, length = tokens.shape
        if length > self.shape.positions:
            raise ValueError(f"{length} tokens exceed the decoder's {self.shape.positions} positions")
        tokens = tokens.to(self.device)
        x = self.embed[tokens] + self.positions[:length]
        captured: dict[tuple[int, int], torch.Tensor] = {}
        for i, layer in enumerate(self.layers):
            x = x.to(layer.device)
            q, k, v = self._self_qkv(layer, x)
            if rows is None:
                self.self_k[i][:count, :, :length].copy_(k)
                self.self_v[i][:count, :, :length].copy_(v)
            elif write:
                at = rows.to(layer.device)
                self.self_k[i][at, :, :length] = k
                self.self_v[i][at, :, :length] = v
            attended = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + F.linear(_merge_heads(attended), *layer.out_self)
            out, q, keys = self._cross_attention(i, layer, x, rows, first)
            for head in (head for layer_index, head in capture or () if layer_index == i):
                captured[(i, head)] = q[:, head].float() @ self._keys_by_sources(keys[:, head]).float() / self._scale
            x = x + out
            x = x + self._feed_forward(layer, x)
        return x.to(self.device), captured

    def _self_qkv(self, layer: _Layer, x: torch.Tensor):
        rows, length, _ = x.shape
        s = self.shape
        qkv = F.linear(_layer_norm(x, layer.norm_self), *layer.qkv)
        return qkv.view(rows, length, 3, s.heads, s.head_dim).permute(2, 0, 3, 1, 4)

    def _cross_attention(self, i: int, layer: _Layer, x: torch.Tensor, rows: torch.Tensor | None = None,
                         first: int = 0):
        """Attention over the bound windows (rows ``[first, first + len(x))``, or the given ``rows``) -> (the
        layer's output to add, the queries, the keys)."""
        s = self.shape
        count, length, _ = x.shape
        q = F.linear(_layer_norm(x, layer.norm_cross), *layer.q_cross)
        q = q.view(count, length, s.heads, s.head_dim).transpose(1, 2)
        if rows is None:
            keys, values = self.cross_k[i][first : first + count], self.cross_v[i][first : first + count]
        else:
            index = rows.to(layer.device)
            keys, values = self.cross_k[i].index_select(0, index), self.cross_v[i].index_select(0, index)
        attended = self._attend(q, keys, values)
        return F.linear(_merge_heads(attended), *layer.out_cross), q, keys

    def _grouped_cross_attention(self, i: int, layer: _Layer, x: torch.Tensor, group: int, first: int) -> torch.Tensor:
        """One query per row (rows, 1, width), ``group`` consecutive rows over one bound window: the window's keys
        and values are read in place, never copied per row."""
        s = self.shape
        rows = x.shape[0]
        windows = rows // group
        q = F.linear(_layer_norm(x, layer.norm_cross), *layer.q_cross)
        q = q.view(windows, group, s.heads, s.head_dim).transpose(1, 2)  # (windows, heads, group, head_dim)
        keys, values = self.cross_k[i][first : first + windows], self.cross_v[i][first : first + windows]
        attended = self._attend(q, keys, values)  # (windows, heads, group, head_dim)
        merged = attended.transpose(1, 2).reshape(rows, 1, s.width)
        return F.linear(merged, *layer.out_cross)

    def _attend(self, q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        """Cross-attention of queries (n, heads, length, head_dim) over cached keys and values (unmasked)."""
        if self._keys_transposed:
            return attend_transposed_keys(q, keys, values)
        return F.scaled_dot_product_attention(q, keys, values)

    def _keys_by_sources(self, keys: torch.Tensor) -> torch.Tensor:
        """Cached cross-attention keys (..., head_dim, sources) whatever their layout, as a view."""
        return keys if self._keys_transposed else keys.transpose(-1, -2)

    @staticmethod
    def _feed_forward(layer: _Layer, x: torch.Tensor) -> torch.Tensor:
        hidden = F.gelu(F.linear(_layer_norm(x, layer.norm_ffn), *layer.fc1))
        return F.linear(hidden, *layer.fc2)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Float32 logits of hidden states (any leading shape) from :meth:`prefill` or :meth:`alignment`."""
        return self._logits(hidden)

    def _logits(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = _layer_norm(hidden.to(self.device), self.final_norm)
        return self._project(hidden)


def attend_transposed_keys(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """Unmasked attention of queries (n, heads, length, head_dim) over keys (n, heads, head_dim, sources) and values
    (n, heads, sources, head_dim), scaled by ``head_dim ** -0.5``: two matrix products and a softmax."""
    scores = torch.matmul(q, keys).mul_(q.shape[-1] ** -0.5)
    return torch.matmul(torch.softmax(scores, dim=-1), values)


LAYER_NORM_EPS = 1e-5  # nn.LayerNorm's default, which every Whisper layer norm uses


def _layer_norm(x: torch.Tensor, weight_bias: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    weight, bias = weight_bias
    return F.layer_norm(x, weight.shape, weight, bias, eps=LAYER_NORM_EPS)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    rows, heads, length, head_dim = x.shape
    return x.transpose(1, 2).reshape(rows, length, heads * head_dim)


def _pair(linear) -> tuple[torch.Tensor, torch.Tensor]:
    bias = linear.bias if linear.bias is not None else torch.zeros_like(linear.weight[:, 0])
    return linear.weight, bias


def _stacked(*linears) -> tuple[torch.Tensor, torch.Tensor]:
    pairs = [_pair(linear) for linear in linears]
    return torch.cat([w for w, _ in pairs]).contiguous(), torch.cat([b for _, b in pairs]).contiguous()


def _norm(module) -> tuple[torch.Tensor, torch.Tensor]:
    return module.weight, module.bias


def _layer(layer) -> _Layer:
    attn, cross = layer.self_attn, layer.encoder_attn
    return _Layer(
        device=layer.fc1.weight.device,
        norm_self=_norm(layer.self_attn_layer_norm),
        qkv=_stacked(attn.q_proj, attn.k_proj, attn.v_proj),
        out_self=_pair(attn.out_proj),
        norm_cross=_norm(layer.encoder_attn_layer_norm),
        q_cross=_pair(cross.q_proj),
        kv_cross=_stacked(cross.k_proj, cross.v_proj),
        out_cross=_pair(cross.out_proj),
        norm_ffn=_norm(layer.final_layer_norm),
        fc1=_pair(layer.fc1),
        fc2=_pair(layer.fc2),
    )
