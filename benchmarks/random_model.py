"""Random-weight Whisper models of a given shape, built locally (no hub): large-v3-turbo's shape for the GPU mode.

The vocabulary, tokenizer and generation settings come from a template directory (the embedded whisper-base), so
everything loads offline: the vocabulary is whisper-base's 51,865 tokens, one fewer than turbo's 51,866 (turbo
adds <|yue|>), which changes the output projection by 0.002 %.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt")
SEED = 0


@dataclass(frozen=True)
class WhisperShape:
    d_model: int
    encoder_layers: int
    decoder_layers: int
    attention_heads: int
    num_mel_bins: int
    ffn_dim: int
    max_target_positions: int = 448
    max_source_positions: int = 1500

    def config_overrides(self) -> dict:
        return {
            "d_model": self.d_model,
            "encoder_layers": self.encoder_layers,
            "decoder_layers": self.decoder_layers,
            "num_hidden_layers": self.encoder_layers,
            "encoder_attention_heads": self.attention_heads,
            "decoder_attention_heads": self.attention_heads,
            "num_mel_bins": self.num_mel_bins,
            "encoder_ffn_dim": self.ffn_dim,
            "decoder_ffn_dim": self.ffn_dim,
            "max_target_positions": self.max_target_positions,
            "max_source_positions": self.max_source_positions,
        }


LARGE_V3_TURBO = WhisperShape(
    d_model=1280, encoder_layers=32, decoder_layers=4, attention_heads=20, num_mel_bins=128, ffn_dim=5120
)
TINY = WhisperShape(d_model=64, encoder_layers=2, decoder_layers=2, attention_heads=4, num_mel_bins=128, ffn_dim=256)


def build_random_whisper(
    shape: WhisperShape, template_dir: Path, target_dir: Path, dtype: torch.dtype, device: str = "cpu"
) -> Path:
    """Write a transformers Whisper directory of ``shape`` with seeded random weights in ``dtype`` safetensors."""
    from safetensors.torch import save_file
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    started = time.perf_counter()
    target_dir.mkdir(parents=True, exist_ok=True)
    config = _config(shape, template_dir, dtype)
    torch.manual_seed(SEED)
    with torch.device(device):
        model = WhisperForConditionalGeneration(WhisperConfig(**config)).to(dtype).eval()
    tensors = {name: t.contiguous().cpu() for name, t in model.state_dict().items() if name != "proj_out.weight"}
    save_file(tensors, str(target_dir / "model.safetensors"), metadata={"format": "pt"})
    del model, tensors
    _write_json(target_dir / "config.json", config)
    _write_json(target_dir / "generation_config.json", _generation_config(shape, template_dir))
    _write_json(target_dir / "preprocessor_config.json", _preprocessor_config(shape, template_dir))
    for name in TOKENIZER_FILES:
        if (template_dir / name).is_file():
            shutil.copyfile(template_dir / name, target_dir / name)
    logger.info("built a random %s Whisper in %s (%.1f s)", shape, target_dir, time.perf_counter() - started)
    return target_dir


def _config(shape: WhisperShape, template_dir: Path, dtype: torch.dtype) -> dict:
    config = {k: v for k, v in _read_json(template_dir / "config.json").items() if k not in ("torch_dtype", "dtype")}
    config.update(shape.config_overrides())
    config["dtype"] = str(dtype).removeprefix("torch.")
    return config


def _generation_config(shape: WhisperShape, template_dir: Path) -> dict:
    """The template's, with alignment heads that exist in this shape (every head of the second half of layers)."""
    generation = _read_json(template_dir / "generation_config.json")
    generation["alignment_heads"] = [
        [layer, head]
        for layer in range(shape.decoder_layers // 2, shape.decoder_layers)
        for head in range(shape.attention_heads)
    ]
    return generation


def _preprocessor_config(shape: WhisperShape, template_dir: Path) -> dict:
    """The template's feature extractor with this shape's mel bins (the filters are recomputed from it)."""
    return {**_read_json(template_dir / "preprocessor_config.json"), "feature_size": shape.num_mel_bins}


def convert_to_ct2(model_dir: Path, target_dir: Path, quantization: str) -> Path:
    """CTranslate2 copy of a transformers Whisper directory (tokenizer and feature settings copied beside it)."""
    from ctranslate2.converters import TransformersConverter

    converter = TransformersConverter(str(model_dir), copy_files=["tokenizer.json", "preprocessor_config.json"])
    converter.convert(str(target_dir), quantization=quantization, force=True)
    return target_dir


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _write_json(path: Path, content: dict) -> None:
    path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
