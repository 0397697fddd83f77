"""Load transformers' Whisper model and processor from ``model_id`` (hub id or local directory) onto a Placement."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import WhisperConfig, WhisperForConditionalGeneration, WhisperProcessor

from serving.engine.placement import Placement, balanced_device_map, gpu_budgets
from serving.errors import ConfigurationError
from serving.settings import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    model: WhisperForConditionalGeneration
    processor: WhisperProcessor
    placement: Placement


def resolve_model_source(settings: Settings, model_dir: str | None) -> str:
    """A local directory or a hub id. A relative local path is taken relative to DJL's model directory.

    LMI syncs an ``s3://`` model_id to local disk and passes that path; if an ``s3://`` id still arrives here, the
    weights can be found in model_dir only when they were uploaded there.
    """
    model_id = settings.model_id
    if model_id.startswith("s3://"):
        if model_dir and (Path(model_dir) / "config.json").is_file():
            return model_dir
        raise ConfigurationError(
            f"option.model_id={model_id!r} was not synced to local disk by the container; "
            "put the weights in the model directory or use a local path or hub id"
        )
    if model_dir and not Path(model_id).is_absolute() and (Path(model_dir) / model_id).is_dir():
        return str(Path(model_dir) / model_id)
    return model_id


def load_model(settings: Settings, model_dir: str | None, placement: Placement) -> LoadedModel:
    source = resolve_model_source(settings, model_dir)
    started = time.perf_counter()
    processor = WhisperProcessor.from_pretrained(source)
    model = WhisperForConditionalGeneration.from_pretrained(
        source,
        dtype=placement.dtype,
        attn_implementation=settings.attn_implementation,
        use_safetensors=True,
        trust_remote_code=False,
        **_placement_kwargs(source, placement),
    )
    if not placement.partitioned:
        model = model.to(placement.device)
    model.eval()
    logger.info(
        "loaded %s on %s (%s, %d GPU(s)) in %.1f s",
        source, placement.device, placement.dtype, placement.gpu_count, time.perf_counter() - started,
    )
    return LoadedModel(model, processor, placement)


def _placement_kwargs(source: str, placement: Placement) -> dict:
    if not placement.partitioned:
        return {}
    from accelerate import init_empty_weights

    config = WhisperConfig.from_pretrained(source)
    with init_empty_weights():
        skeleton = WhisperForConditionalGeneration(config)
    skeleton.tie_weights()
    device_map = balanced_device_map(skeleton, gpu_budgets(placement.gpu_count), placement.dtype)
    logger.info("device map over %d GPUs: %s", placement.gpu_count, device_map)
    return {"device_map": device_map}


def input_device(model: torch.nn.Module) -> torch.device:
    """Where input features must go: the encoder's first convolution (the first GPU of a partitioned model)."""
    return model.get_encoder().conv1.weight.device
