"""CTranslate2 Whisper models (``model.bin``) read back into transformers' Whisper layout.

The binary format is the one ``ctranslate2/specs/model_spec.py`` (``ModelSpec._serialize``) writes and
``src/models/model.cc`` (``Model::load``) reads, all little-endian:

    u32 binary_version | str spec_name | u32 spec_revision | u32 n_variables
    n_variables x (str name | u8 rank | rank x u32 dim | u8 dtype_id | u32 n_bytes | n_bytes data)
    u32 n_aliases | n_aliases x (str alias | str target)

where ``str`` is ``u16 length (including a trailing NUL) | bytes | NUL``. Scalars (``encoder/num_heads``,
``decoder/activation``, ...) are rank-0 variables. Variables that the converter found equal to an earlier one
(alphabetically) are stored once and referenced through an alias: in Whisper, ``decoder/projection/weight`` is an
alias of ``decoder/embeddings/weight`` (transformers ties ``proj_out`` to ``embed_tokens`` the same way).

The name mapping is the reverse of ``ctranslate2/converters/transformers.py`` (``WhisperLoader`` on top of
``BartLoader``): self-attention ``linear_0`` is q;k;v stacked row-wise, cross-attention ``linear_0`` is q and
``linear_1`` is k;v; the last linear of an attention block is ``out_proj``. ``k_proj`` has no bias in Whisper; the
converter stores zeros in its place, which are dropped here.
"""

from __future__ import annotations

import io
import logging
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import torch

logger = logging.getLogger(__name__)

SPEC_NAME = "WhisperSpec"
SUPPORTED_SPEC_REVISION = 3
# v4 introduced per-variable dtype ids and byte counts; v4 to v6 share the layout read here.
SUPPORTED_BINARY_VERSIONS = range(4, 7)

# Order of CTranslate2's DataType enum (include/ctranslate2/types.h, model_spec._dtype_to_type_id).
_DTYPE_NAMES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")
_FLOAT_DTYPES = {"float32", "float16", "bfloat16"}

_LAYER_RE = re.compile(r"^(encoder|decoder)/layer_(\d+)/")
# The version stamp of openai/whisper-base's generation_config.json (see generation_config_dict).
OFFICIAL_GENERATION_CONFIG_VERSION = "4.31.0.dev0"


class CT2FormatError(ValueError):
    """The bytes are not a CTranslate2 Whisper model this module can read."""


# --------------------------------------------------------------------------------------------------------------
# Reading model.bin
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CT2Model:
    """The variables of a CTranslate2 model, aliases kept apart (``model[alias]`` resolves them)."""

    binary_version: int
    spec_name: str
    spec_revision: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str]

    def __contains__(self, name: str) -> bool:
        return name in self.variables or name in self.aliases

    def __getitem__(self, name: str) -> np.ndarray:
        return self.variables[self.aliases.get(name, name)]

    def scalar(self, name: str) -> int | float:
        value = self[name]
        if value.ndim != 0:
            raise CT2FormatError(f"{name} is not a scalar (shape {value.shape})")
        return value.item()

    def count_layers(self, stack: str) -> int:
        """Number of ``<stack>/layer_<i>/`` blocks (stack is ``encoder`` or ``decoder``)."""
        indices = {int(m.group(2)) for name in self.variables if (m := _LAYER_RE.match(name)) and m.group(1) == stack}
        if indices != set(range(len(indices))):
            raise CT2FormatError(f"{stack} layers are not numbered 0..n-1: {sorted(indices)}")
        return len(indices)


class _Reader:
    """Little-endian primitive reads from a binary stream; a short read is a truncated file."""

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self.position = 0

    def exact(self, size: int) -> bytes:
        data = self._stream.read(size)
        if data is None or len(data) != size:
            got = 0 if data is None else len(data)
            raise CT2FormatError(f"model.bin is truncated: wanted {size} bytes at offset {self.position}, got {got}")
        self.position += size
        return data

    def unpack(self, fmt: str) -> int:
        return struct.unpack("<" + fmt, self.exact(struct.calcsize("<" + fmt)))[0]

    def string(self) -> str:
        size = self.unpack("H")
        raw = self.exact(size)
        if not raw.endswith(b"\0"):
            raise CT2FormatError(f"string at offset {self.position - size} is not NUL-terminated")
        return raw[:-1].decode("utf-8")

    def at_end(self) -> bool:
        return self._stream.read(1) in (b"", None)


def _decode_array(raw: bytes, dtype_name: str, shape: tuple[int, ...]) -> np.ndarray:
    if dtype_name == "bfloat16":  # numpy has no bfloat16: widen the 16 high bits into a float32
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        return bits.view(np.float32).reshape(shape)
    return np.frombuffer(raw, dtype=np.dtype(dtype_name).newbyteorder("<")).reshape(shape)


def _read_variable(reader: _Reader) -> tuple[str, np.ndarray]:
    name = reader.string()
    rank = reader.unpack("B")
    shape = tuple(reader.unpack("I") for _ in range(rank))
    type_id = reader.unpack("B")
    num_bytes = reader.unpack("I")
    if type_id >= len(_DTYPE_NAMES):
        raise CT2FormatError(f"variable {name}: unknown dtype id {type_id}")
    dtype_name = _DTYPE_NAMES[type_id]
    itemsize = 2 if dtype_name == "bfloat16" else np.dtype(dtype_name).itemsize
    if num_bytes != itemsize * int(np.prod(shape, dtype=np.int64)):
        raise CT2FormatError(f"variable {name}: {num_bytes} bytes do not fit shape {shape} of {dtype_name}")
    return name, _decode_array(reader.exact(num_bytes), dtype_name, shape)


def _read_header(reader: _Reader) -> tuple[int, str, int]:
    version = reader.unpack("I")
    if version not in SUPPORTED_BINARY_VERSIONS:
        raise CT2FormatError(
            f"binary version {version} is not supported (supported: "
            f"{SUPPORTED_BINARY_VERSIONS.start}..{SUPPORTED_BINARY_VERSIONS.stop - 1})"
        )
    return version, reader.string(), reader.unpack("I")


def read_ct2_model(source: bytes | bytearray | memoryview | BinaryIO) -> CT2Model:
    """Parse a CTranslate2 ``model.bin`` from bytes or a binary stream (read sequentially, never seeked)."""
    stream = io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source
    reader = _Reader(stream)
    version, spec_name, revision = _read_header(reader)
    variables = dict(_read_variable(reader) for _ in range(reader.unpack("I")))
    aliases = {}
    for _ in range(reader.unpack("I")):
        alias, target = reader.string(), reader.string()
        aliases[alias] = target
    if not reader.at_end():
        raise CT2FormatError(f"unexpected data after the alias table at offset {reader.position}")
    dangling = {a: t for a, t in aliases.items() if t not in variables}
    if dangling:
        raise CT2FormatError(f"aliases point at missing variables: {dangling}")
    logger.debug(
        "read %s rev %d (binary v%d): %d variables, %d aliases",
        spec_name,
        revision,
        version,
        len(variables),
        len(aliases),
    )
    return CT2Model(version, spec_name, revision, variables, aliases)


def check_whisper_spec(model: CT2Model) -> None:
    if model.spec_name != SPEC_NAME:
        raise CT2FormatError(f"expected a {SPEC_NAME} model, got {model.spec_name!r}")
    if model.spec_revision != SUPPORTED_SPEC_REVISION:
        raise CT2FormatError(
            f"{SPEC_NAME} revision {model.spec_revision} is not supported (supported: {SUPPORTED_SPEC_REVISION})"
        )
    quantized = sorted(n for n, v in model.variables.items() if v.ndim > 0 and v.dtype.name not in _FLOAT_DTYPES)
    if quantized:
        raise CT2FormatError(f"quantized models are not supported (e.g. {quantized[0]} is {model[quantized[0]].dtype})")


# --------------------------------------------------------------------------------------------------------------
# Dimensions and config
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WhisperDims:
    num_mel_bins: int
    d_model: int
    vocab_size: int
    encoder_layers: int
    encoder_attention_heads: int
    encoder_ffn_dim: int
    decoder_layers: int
    decoder_attention_heads: int
    decoder_ffn_dim: int
    max_source_positions: int
    max_target_positions: int


def whisper_dims(model: CT2Model) -> WhisperDims:
    """Sizes from the variable shapes; head counts from the stored ``num_heads`` scalars (shapes cannot tell)."""
    vocab_size, d_model = model["decoder/embeddings/weight"].shape
    return WhisperDims(
        num_mel_bins=model["encoder/conv1/weight"].shape[1],
        d_model=d_model,
        vocab_size=vocab_size,
        encoder_layers=model.count_layers("encoder"),
        encoder_attention_heads=int(model.scalar("encoder/num_heads")),
        encoder_ffn_dim=model["encoder/layer_0/ffn/linear_0/weight"].shape[0],
        decoder_layers=model.count_layers("decoder"),
        decoder_attention_heads=int(model.scalar("decoder/num_heads")),
        decoder_ffn_dim=model["decoder/layer_0/ffn/linear_0/weight"].shape[0],
        max_source_positions=model["encoder/position_encodings/encodings"].shape[0],
        max_target_positions=model["decoder/position_encodings/encodings"].shape[0],
    )


def check_decoder_flags(model: CT2Model) -> None:
    """The decoder scalars must describe Whisper's decoder, or the mapped weights would mean something else."""
    # decoder/activation 3 is CTranslate2's Activation.GELU (erf form, as Whisper's "gelu").
    expected = {"decoder/pre_norm": 1, "decoder/scale_embeddings": 0, "decoder/alibi": 0, "decoder/activation": 3}
    wrong = {name: model.scalar(name) for name in expected if name in model and model.scalar(name) != expected[name]}
    if wrong:
        raise CT2FormatError(f"decoder flags do not describe a Whisper decoder: {wrong} (expected {expected})")


@dataclass(frozen=True)
class SpecialTokens:
    """Whisper's control token ids, looked up by name in the vocabulary."""

    eot: int
    sot: int
    translate: int
    transcribe: int
    sot_prev: int
    no_timestamps: int

    @property
    def timestamp_begin(self) -> int:
        return self.no_timestamps + 1


def read_vocabulary(text: str) -> list[str]:
    """CTranslate2's ``vocabulary.txt``: one token per ``\\n``-terminated line (the empty token is a real entry)."""
    tokens = text.split("\n")
    return tokens[:-1] if tokens and tokens[-1] == "" else tokens


def special_tokens(vocabulary: Sequence[str]) -> SpecialTokens:
    index = {token: i for i, token in enumerate(vocabulary) if token.startswith("<|")}

    def find(token: str) -> int:
        if token not in index:
            raise CT2FormatError(f"{token} is not in the vocabulary")
        return index[token]

    return SpecialTokens(
        eot=find("<|endoftext|>"),
        sot=find("<|startoftranscript|>"),
        translate=find("<|translate|>"),
        transcribe=find("<|transcribe|>"),
        sot_prev=find("<|startofprev|>"),
        no_timestamps=find("<|notimestamps|>"),
    )


def timestamp_tokens(vocabulary: Sequence[str], specials: SpecialTokens) -> list[str]:
    """``<|0.00|>`` ... ``<|30.00|>``: the tail of the vocabulary after ``<|notimestamps|>``, checked."""
    tail = list(vocabulary[specials.timestamp_begin :])
    for i, token in enumerate(tail):
        expected = "<|%.2f|>" % (i * 0.02)
        if token != expected:
            raise CT2FormatError(f"token {specials.timestamp_begin + i} is {token!r}, expected {expected!r}")
    return tail


def whisper_config_dict(dims: WhisperDims, specials: SpecialTokens, ct2_config: Mapping, dtype: str) -> dict:
    """``config.json`` contents in the layout of the official openai/whisper-* repositories.

    Only keys that transformers 4.x and 5.x both read; generation settings live in ``generation_config.json``
    (suppress lists are kept here too, as the official files have them and WhisperConfig defines them).
    """
    return {
        "architectures": ["WhisperForConditionalGeneration"],
        "model_type": "whisper",
        "activation_function": "gelu",
        "activation_dropout": 0.0,
        "attention_dropout": 0.0,
        "dropout": 0.0,
        "encoder_layerdrop": 0.0,
        "decoder_layerdrop": 0.0,
        "init_std": 0.02,
        "d_model": dims.d_model,
        "encoder_layers": dims.encoder_layers,
        "encoder_attention_heads": dims.encoder_attention_heads,
        "encoder_ffn_dim": dims.encoder_ffn_dim,
        "decoder_layers": dims.decoder_layers,
        "decoder_attention_heads": dims.decoder_attention_heads,
        "decoder_ffn_dim": dims.decoder_ffn_dim,
        "num_hidden_layers": dims.encoder_layers,
        "num_mel_bins": dims.num_mel_bins,
        "max_source_positions": dims.max_source_positions,
        "max_target_positions": dims.max_target_positions,
        "vocab_size": dims.vocab_size,
        "scale_embedding": False,
        "tie_word_embeddings": True,
        "is_encoder_decoder": True,
        "use_cache": True,
        "bos_token_id": specials.eot,
        "eos_token_id": specials.eot,
        "pad_token_id": specials.eot,
        "decoder_start_token_id": specials.sot,
        "begin_suppress_tokens": list(ct2_config.get("suppress_ids_begin") or [220, specials.eot]),
        "suppress_tokens": list(ct2_config.get("suppress_ids") or []),
        "torch_dtype": dtype,
    }


def language_ids(vocabulary: Sequence[str], ct2_config: Mapping) -> dict[str, int]:
    """``{"<|en|>": 50259, ...}`` from the ids CTranslate2's config.json lists as languages."""
    lang_to_id = {vocabulary[i]: i for i in ct2_config.get("lang_ids") or []}
    bad = [t for t in lang_to_id if not re.fullmatch(r"<\|[a-z]{2,3}\|>", t)]
    if bad:
        raise CT2FormatError(f"lang_ids point at tokens that are not languages: {bad[:5]}")
    return lang_to_id


def generation_config_dict(
    vocabulary: Sequence[str], specials: SpecialTokens, ct2_config: Mapping, max_length: int
) -> dict:
    """``generation_config.json`` in the layout of openai/whisper-base's.

    ``forced_decoder_ids`` stays although it is deprecated: without it, transformers' Whisper ``generate`` called
    without ``language``/``task`` detects the language but appends no task token.

    ``transformers_version`` is the official file's stamp. It matters: transformers 4.50 to 4.57 re-apply model
    defaults onto the generation config of files stamped >= 4.50 (or unstamped, which counts as the running
    version), and Whisper's ``generate`` then builds its suppress-token processors twice (same tokens, noisy
    warnings). Left out of the returned keys' sort so it stays last, as transformers writes it.
    """
    lang_to_id = language_ids(vocabulary, ct2_config)
    config = {
        "alignment_heads": [list(pair) for pair in ct2_config.get("alignment_heads") or []],
        "begin_suppress_tokens": list(ct2_config.get("suppress_ids_begin") or [220, specials.eot]),
        "bos_token_id": specials.eot,
        "decoder_start_token_id": specials.sot,
        "eos_token_id": specials.eot,
        "is_multilingual": bool(lang_to_id),
        "max_initial_timestamp_index": 50,
        "max_length": max_length,
        "no_timestamps_token_id": specials.no_timestamps,
        "pad_token_id": specials.eot,
        "prev_sot_token_id": specials.sot_prev,
        "return_timestamps": False,
        "suppress_tokens": list(ct2_config.get("suppress_ids") or []),
    }
    if lang_to_id:
        config["forced_decoder_ids"] = [[1, None], [2, specials.transcribe]]
        config["lang_to_id"] = dict(sorted(lang_to_id.items()))
        config["task_to_id"] = {"transcribe": specials.transcribe, "translate": specials.translate}
    else:  # English-only models: the official files force <|notimestamps|> right after <|startoftranscript|>
        config["forced_decoder_ids"] = [[1, specials.no_timestamps]]
    return {**dict(sorted(config.items())), "transformers_version": OFFICIAL_GENERATION_CONFIG_VERSION}


# --------------------------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------------------------


class _WeightMapper:
    """Copies CTranslate2 variables into transformers names, remembering which ones it used."""

    def __init__(self, model: CT2Model, dtype: torch.dtype | None) -> None:
        self.model = model
        self.dtype = dtype
        self.used: set[str] = set()
        self.out: dict[str, torch.Tensor] = {}

    def take(self, name: str) -> torch.Tensor:
        self.used.add(self.model.aliases.get(name, name))
        tensor = torch.from_numpy(np.array(self.model[name]))  # np.array: own, writable memory
        return tensor if self.dtype is None else tensor.to(self.dtype)

    def copy(self, src: str, dst: str) -> None:
        self.out[dst] = self.take(src)

    def layer_norm(self, src: str, dst: str) -> None:
        self.copy(f"{src}/gamma", f"{dst}.weight")
        self.copy(f"{src}/beta", f"{dst}.bias")

    def linear(self, src: str, dst: str) -> None:
        self.copy(f"{src}/weight", f"{dst}.weight")
        self.copy(f"{src}/bias", f"{dst}.bias")

    def split_linear(self, src: str, dsts: Sequence[str], biased: Sequence[bool]) -> None:
        """A row-stacked linear back into ``len(dsts)`` equal parts; an unbiased part drops its (zero) bias."""
        weights = self.take(f"{src}/weight").chunk(len(dsts), dim=0)
        biases = self.take(f"{src}/bias").chunk(len(dsts), dim=0)
        for dst, weight, bias, has_bias in zip(dsts, weights, biases, biased):
            self.out[f"{dst}.weight"] = weight.clone()
            if has_bias:
                self.out[f"{dst}.bias"] = bias.clone()
            elif bias.abs().max().item() != 0:
                # A constant added to every key shifts all scores of a query equally: softmax ignores it.
                logger.info("%s: dropping a non-zero bias for %s (softmax-invariant)", src, dst)


def _map_self_attention(m: _WeightMapper, src: str, dst: str) -> None:
    m.split_linear(f"{src}/linear_0", [f"{dst}.q_proj", f"{dst}.k_proj", f"{dst}.v_proj"], [True, False, True])
    m.linear(f"{src}/linear_1", f"{dst}.out_proj")


def _map_cross_attention(m: _WeightMapper, src: str, dst: str) -> None:
    m.linear(f"{src}/linear_0", f"{dst}.q_proj")
    m.split_linear(f"{src}/linear_1", [f"{dst}.k_proj", f"{dst}.v_proj"], [False, True])
    m.linear(f"{src}/linear_2", f"{dst}.out_proj")


def _map_ffn(m: _WeightMapper, src: str, dst: str) -> None:
    m.linear(f"{src}/linear_0", f"{dst}.fc1")
    m.linear(f"{src}/linear_1", f"{dst}.fc2")
    m.layer_norm(f"{src}/layer_norm", f"{dst}.final_layer_norm")


def _map_encoder(m: _WeightMapper, num_layers: int) -> None:
    m.linear("encoder/conv1", "model.encoder.conv1")
    m.linear("encoder/conv2", "model.encoder.conv2")
    m.copy("encoder/position_encodings/encodings", "model.encoder.embed_positions.weight")
    m.layer_norm("encoder/layer_norm", "model.encoder.layer_norm")
    for i in range(num_layers):
        src, dst = f"encoder/layer_{i}", f"model.encoder.layers.{i}"
        _map_self_attention(m, f"{src}/self_attention", f"{dst}.self_attn")
        m.layer_norm(f"{src}/self_attention/layer_norm", f"{dst}.self_attn_layer_norm")
        _map_ffn(m, f"{src}/ffn", dst)


def _map_decoder(m: _WeightMapper, num_layers: int) -> None:
    m.copy("decoder/embeddings/weight", "model.decoder.embed_tokens.weight")
    m.copy("decoder/position_encodings/encodings", "model.decoder.embed_positions.weight")
    m.layer_norm("decoder/layer_norm", "model.decoder.layer_norm")
    for i in range(num_layers):
        src, dst = f"decoder/layer_{i}", f"model.decoder.layers.{i}"
        _map_self_attention(m, f"{src}/self_attention", f"{dst}.self_attn")
        m.layer_norm(f"{src}/self_attention/layer_norm", f"{dst}.self_attn_layer_norm")
        _map_cross_attention(m, f"{src}/attention", f"{dst}.encoder_attn")
        m.layer_norm(f"{src}/attention/layer_norm", f"{dst}.encoder_attn_layer_norm")
        _map_ffn(m, f"{src}/ffn", dst)


def _check_tied_projection(model: CT2Model) -> None:
    """transformers ties ``proj_out`` to ``embed_tokens``: the CTranslate2 projection must be that same matrix."""
    if "decoder/projection/bias" in model:
        raise CT2FormatError("decoder/projection has a bias; Whisper's proj_out has none")
    name = "decoder/projection/weight"
    if model.aliases.get(name) == "decoder/embeddings/weight":
        return
    if name in model.variables and np.array_equal(model.variables[name], model["decoder/embeddings/weight"]):
        return
    raise CT2FormatError(f"{name} is not tied to decoder/embeddings/weight")


def whisper_state_dict(model: CT2Model, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """The ``WhisperForConditionalGeneration`` state dict (``proj_out.weight`` left out: it is tied).

    ``dtype=None`` keeps the stored dtype. Every non-scalar variable must be used: an unknown one means a spec this
    mapping does not know, and is an error rather than silently dropped weights.
    """
    check_whisper_spec(model)
    check_decoder_flags(model)
    _check_tied_projection(model)
    mapper = _WeightMapper(model, dtype)
    _map_encoder(mapper, model.count_layers("encoder"))
    _map_decoder(mapper, model.count_layers("decoder"))
    unused = sorted(n for n, v in model.variables.items() if v.ndim > 0 and n not in mapper.used)
    if unused:
        raise CT2FormatError(f"{len(unused)} variables have no transformers counterpart, e.g. {unused[:5]}")
    return mapper.out


def whisper_config(dims: WhisperDims, specials: SpecialTokens, ct2_config: Mapping, dtype: str = "float16"):
    """The same settings as :func:`whisper_config_dict`, as a ``transformers.WhisperConfig``."""
    from transformers import WhisperConfig

    settings = whisper_config_dict(dims, specials, ct2_config, dtype)
    settings.pop("model_type")
    return WhisperConfig(**settings)


# --------------------------------------------------------------------------------------------------------------
# Tokenizer and feature extractor files
# --------------------------------------------------------------------------------------------------------------


def _added_token(token_id: int, content: str, special: bool) -> dict:
    return {
        "id": token_id,
        "content": content,
        "single_word": False,
        "lstrip": False,
        "rstrip": False,
        "normalized": False,
        "special": special,
    }


def complete_tokenizer_json(tokenizer: Mapping, vocabulary: Sequence[str], specials: SpecialTokens) -> dict:
    """The ``tokenizer.json`` with the vocabulary's timestamp tokens appended as non-special added tokens.

    The CTranslate2 tokenizer stops at ``<|notimestamps|>``; openai's ids continue with ``<|0.00|>`` right after it.
    They must not be special: transformers takes ``all_special_ids[-1] + 1`` as the first timestamp id.
    """
    result = dict(tokenizer)
    added = [dict(t) for t in tokenizer["added_tokens"]]
    last_id = max(t["id"] for t in added)
    if last_id != specials.no_timestamps:
        raise CT2FormatError(
            f"tokenizer.json ends at id {last_id}, expected <|notimestamps|> ({specials.no_timestamps})"
        )
    mismatched = [t for t in added if vocabulary[t["id"]] != t["content"]]
    if mismatched:
        raise CT2FormatError(f"tokenizer.json added tokens disagree with vocabulary.txt: {mismatched[:3]}")
    stamps = timestamp_tokens(vocabulary, specials)
    added += [_added_token(specials.timestamp_begin + i, s, special=False) for i, s in enumerate(stamps)]
    result["added_tokens"] = added
    return result


def special_token_list(tokenizer: Mapping) -> list[str]:
    """The special added tokens in id order: ``<|endoftext|>`` ... ``<|notimestamps|>`` (which must come last)."""
    tokens = [t["content"] for t in sorted(tokenizer["added_tokens"], key=lambda t: t["id"]) if t["special"]]
    if tokens[-1] != "<|notimestamps|>":
        raise CT2FormatError(f"the last special token is {tokens[-1]!r}, not <|notimestamps|>")
    return tokens


def tokenizer_config_dict(tokenizer: Mapping) -> dict:
    """``tokenizer_config.json`` in the (transformers 4.x) layout of the official repositories, which 5.x reads too."""
    eot = "<|endoftext|>"
    return {
        "add_bos_token": False,
        "add_prefix_space": False,
        "added_tokens_decoder": {
            str(t["id"]): {k: t[k] for k in ("content", "lstrip", "normalized", "rstrip", "single_word", "special")}
            for t in sorted(tokenizer["added_tokens"], key=lambda t: t["id"])
        },
        "additional_special_tokens": special_token_list(tokenizer),
        "bos_token": eot,
        "clean_up_tokenization_spaces": False,  # openai whisper does no cleanup; 5.x warns on True
        "eos_token": eot,
        "errors": "replace",
        "model_max_length": 1024,
        "pad_token": eot,
        "processor_class": "WhisperProcessor",
        "return_attention_mask": False,
        "tokenizer_class": "WhisperTokenizer",
        "unk_token": eot,
    }


def special_tokens_map_dict(tokenizer: Mapping) -> dict:
    eot = "<|endoftext|>"
    return {
        "additional_special_tokens": special_token_list(tokenizer),
        "bos_token": eot,
        "eos_token": eot,
        "pad_token": eot,
        "unk_token": eot,
    }


def merges_text(tokenizer: Mapping) -> str:
    """``merges.txt`` for the slow (4.x) tokenizer; tokenizer.json stores merges as ``"a b"`` or ``["a", "b"]``."""
    merges = tokenizer["model"]["merges"]
    lines = [m if isinstance(m, str) else " ".join(m) for m in merges]
    return "#version: 0.2\n" + "\n".join(lines) + "\n"


def preprocessor_config_dict(num_mel_bins: int) -> dict:
    """WhisperFeatureExtractor settings (the mel filters are recomputed from these, not stored)."""
    from serving.constants import FRAMES_PER_WINDOW, HOP_LENGTH, N_FFT, SAMPLE_RATE, WINDOW_SAMPLES, WINDOW_SECONDS

    return {
        "chunk_length": WINDOW_SECONDS,
        "feature_extractor_type": "WhisperFeatureExtractor",
        "feature_size": num_mel_bins,
        "hop_length": HOP_LENGTH,
        "n_fft": N_FFT,
        "n_samples": WINDOW_SAMPLES,
        "nb_max_frames": FRAMES_PER_WINDOW,
        "padding_side": "right",
        "padding_value": 0.0,
        "processor_class": "WhisperProcessor",
        "return_attention_mask": False,
        "sampling_rate": SAMPLE_RATE,
    }


def tokenizer_and_processor_files(tokenizer: Mapping, vocabulary: Sequence[str], num_mel_bins: int) -> dict:
    """Every tokenizer/feature-extractor file of a transformers Whisper directory: ``{file name: json or text}``."""
    specials = special_tokens(vocabulary)
    full = complete_tokenizer_json(tokenizer, vocabulary, specials)
    return {
        "tokenizer.json": full,
        "tokenizer_config.json": tokenizer_config_dict(full),
        "special_tokens_map.json": special_tokens_map_dict(full),
        "vocab.json": full["model"]["vocab"],
        "merges.txt": merges_text(full),
        "preprocessor_config.json": preprocessor_config_dict(num_mel_bins),
    }
