from collections import Counter

import pytest
import torch
from accelerate import init_empty_weights
from transformers import WhisperConfig, WhisperForConditionalGeneration

from serving.engine.placement import balanced_device_map, resolve_placement
from serving.errors import ConfigurationError
from serving.settings import load_settings

GIB = 2**30


def turbo_shaped_skeleton() -> WhisperForConditionalGeneration:
    """large-v3-turbo's shape (32 encoder layers, 4 decoder layers, d_model 1280) on the meta device: no memory."""
    config = WhisperConfig(
        d_model=1280, encoder_layers=32, decoder_layers=4, encoder_attention_heads=20, decoder_attention_heads=20,
        encoder_ffn_dim=5120, decoder_ffn_dim=5120, num_mel_bins=128, vocab_size=51866,
    )
    with init_empty_weights():
        model = WhisperForConditionalGeneration(config)
    model.tie_weights()
    return model


def bytes_per_device(model, device_map) -> Counter:
    sizes = Counter()
    for name, param in model.named_parameters():
        owner = max((m for m in device_map if name == m or name.startswith(m + ".")), key=len)
        sizes[device_map[owner]] += param.numel() * 2
    return sizes


@pytest.mark.parametrize("gpus", [2, 4])
def test_layers_are_balanced_over_exactly_the_simulated_gpus(gpus):
    model = turbo_shaped_skeleton()
    device_map = balanced_device_map(model, {i: 20 * GIB for i in range(gpus)}, torch.bfloat16)
    sizes = bytes_per_device(model, device_map)
    assert set(sizes) == set(range(gpus))
    share = sum(sizes.values()) / gpus
    assert max(sizes.values()) < 1.6 * share
    assert device_map["proj_out"] == device_map.get("model.decoder", device_map.get("model.decoder.embed_tokens"))


def test_a_model_too_big_for_the_gpus_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="does not fit on 2 GPU"):
        balanced_device_map(turbo_shaped_skeleton(), {0: 200 * 2**20, 1: 200 * 2**20}, torch.bfloat16)


def test_cpu_worker_runs_float32_whatever_dtype_was_asked():
    placement = resolve_placement(load_settings({"dtype": "bf16"}, {}), "-1")
    assert (placement.device.type, placement.dtype, placement.gpu_count) == ("cpu", torch.float32, 0)


def test_tensor_parallel_degree_above_visible_gpus_fails_loading(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    with pytest.raises(ConfigurationError, match="tensor_parallel_degree=4 but this worker sees 2"):
        resolve_placement(load_settings({"tensor_parallel_degree": "4"}, {}), "0")


def test_max_degree_uses_every_visible_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    placement = resolve_placement(load_settings({"tensor_parallel_degree": "max"}, {}), "0")
    assert (placement.gpu_count, placement.dtype, str(placement.device)) == (4, torch.float16, "cuda:0")
