"""Where the model runs: device, dtype, and the Accelerate device map over exactly the GPUs this worker sees.

DJL gives each worker ``tensor_parallel_degree`` GPUs through CUDA_VISIBLE_DEVICES (device_id remapped to 0), so
"every visible GPU" is exactly the worker's GPUs. With one GPU the model is simply placed there; on CPU it runs in
float32 whatever dtype was asked for.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from serving.errors import ConfigurationError
from serving.settings import Settings

logger = logging.getLogger(__name__)

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
ACTIVATION_RESERVE = 0.25  # share of each GPU's free memory kept for activations, KV cache and batches


@dataclass(frozen=True)
class Placement:
    device: torch.device  # where inputs go (the encoder's first layer)
    dtype: torch.dtype
    gpu_count: int  # 0 on CPU

    @property
    def partitioned(self) -> bool:
        return self.gpu_count > 1


def resolve_placement(settings: Settings, device_id: str | int | None) -> Placement:
    """Decide device, dtype and GPU count from the options and the worker's ``device_id`` ("-1" = CPU)."""
    visible = torch.cuda.device_count()
    wants_gpu = device_id is not None and int(device_id) >= 0 and visible > 0
    if not wants_gpu:
        if settings.dtype not in ("auto", "fp32"):
            logger.warning("option.dtype=%s ignored: on CPU the model runs in float32", settings.dtype)
        return Placement(torch.device("cpu"), torch.float32, 0)
    degree = _degree(settings, visible)
    first = 0 if degree > 1 else int(device_id)
    return Placement(torch.device("cuda", first), _gpu_dtype(settings.dtype), degree)


def _degree(settings: Settings, visible: int) -> int:
    degree = visible if settings.tensor_parallel_degree == "max" else settings.tensor_parallel_degree
    if degree > visible:
        raise ConfigurationError(
            f"option.tensor_parallel_degree={degree} but this worker sees {visible} GPU(s) "
            "(accepted: a positive integer up to the number of visible GPUs, or 'max')"
        )
    return degree


def _gpu_dtype(name: str) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return DTYPES[name]


def gpu_budgets(gpu_count: int) -> dict[int, int]:
    """Free bytes per visible GPU, less the activation reserve."""
    return {i: int(torch.cuda.mem_get_info(i)[0] * (1 - ACTIVATION_RESERVE)) for i in range(gpu_count)}


def balanced_device_map(model: torch.nn.Module, budgets: dict[int, int | str], dtype: torch.dtype) -> dict[str, int]:
    """Spread the layers of ``model`` (may be on the meta device) evenly over the GPUs in ``budgets``.

    Accelerate's balanced memory caps each GPU at about its share of the model, so the layers are spread over all
    of them rather than piled onto the first; whole decoder/encoder layers are never split.
    """
    from accelerate import infer_auto_device_map
    from accelerate.utils import get_balanced_memory

    no_split = list(getattr(model, "_no_split_modules", None) or [])
    max_memory = get_balanced_memory(model, max_memory=budgets, no_split_module_classes=no_split, dtype=dtype)
    device_map = infer_auto_device_map(model, max_memory=max_memory, no_split_module_classes=no_split, dtype=dtype)
    unplaced = {name for name, device in device_map.items() if device not in budgets}
    if unplaced:
        raise ConfigurationError(
            f"the model does not fit on {len(budgets)} GPU(s): {sorted(unplaced)[:3]} would go to CPU or disk; "
            "raise option.tensor_parallel_degree or use a smaller option.dtype"
        )
    return device_map
