"""The whisper-base built from the CTranslate2 wheels behaves as CTranslate2's, and its files are complete.

The first run builds the cache (a few seconds); the module then takes ~10-20 s on 2 CPU cores, most of it one
whisper-base encoder pass and one greedy decode by transformers (CTranslate2's, the reference, are cached on disk
by the first run on the machine).
"""

from __future__ import annotations

import base64
import json
import os
import struct
import time

import numpy as np
import pytest
import torch

from scripts.conversion import ct2_whisper, embedded_model
from scripts.material.audio_files import read_audio
from scripts.material.clips import REFERENCES
from scripts.material.data import AUDIO_DIR
from scripts.scoring.reference_cache import cached
from scripts.scoring.wer import normalise
from serving.constants import SAMPLE_RATE

SPEECH_CLIP = "en_espeak_tea.wav"  # committed (tests/data/audio), espeak-ng en-us at 150 words per minute
PROMPT_TOKENS = ("<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>")
real_model = pytest.mark.real_model  # needs the whisper-base built from the wheels


# --------------------------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def processor(whisper_base_dir):
    from transformers import WhisperProcessor

    return WhisperProcessor.from_pretrained(whisper_base_dir)


@pytest.fixture(scope="session")
def speech() -> np.ndarray:
    """The committed clip, decoded to 16 kHz mono float32."""
    return read_audio(AUDIO_DIR / SPEECH_CLIP)


@pytest.fixture(scope="session")
def features(processor, speech) -> np.ndarray:
    """One set of log-mel features, given to both engines."""
    out = processor.feature_extractor(speech, sampling_rate=SAMPLE_RATE, return_tensors="np")
    return np.ascontiguousarray(out["input_features"], dtype=np.float32)


@pytest.fixture(scope="session")
def hf_model(whisper_base_dir):
    from transformers import WhisperForConditionalGeneration

    return WhisperForConditionalGeneration.from_pretrained(whisper_base_dir, dtype=torch.float32).eval()


@pytest.fixture(scope="session")
def ct2_model():
    """CTranslate2 on the wheels' own files, loaded from memory (model.bin concatenated on the fly)."""
    ctranslate2 = pytest.importorskip("ctranslate2")
    files = embedded_model.wheel_files()
    with embedded_model.open_model_bin(files) as stream:
        model_bin = stream.read()
    in_memory = {
        "model.bin": model_bin,
        "config.json": files.config.read_bytes(),
        "vocabulary.txt": files.vocabulary.read_bytes(),
    }
    return ctranslate2.models.Whisper(
        "whisper-base-ct2-wheels",
        files=in_memory,
        device="cpu",
        compute_type="float32",
        intra_threads=os.cpu_count() or 1,
    )


@pytest.fixture(scope="session")
def prompt(processor) -> list[int]:
    return processor.tokenizer.convert_tokens_to_ids(list(PROMPT_TOKENS))


@pytest.fixture(scope="session")
def ct2_encoded(request, features) -> np.ndarray:
    """CTranslate2's encoder output, cached on disk like every CTranslate2 reference (keyed by the features, the
    model and faster-whisper's version; ``scripts.scoring.reference_cache``): the model is loaded and run once per
    machine. Stored as the float32 bytes themselves (base64), so that the comparison is with CTranslate2's exact
    numbers."""

    def encode() -> dict:
        import ctranslate2

        ct2_model = request.getfixturevalue("ct2_model")
        encoded = np.asarray(ct2_model.encode(ctranslate2.StorageView.from_array(features), to_cpu=True))
        return {"shape": list(encoded.shape), "float32": base64.b64encode(encoded.astype(np.float32).tobytes()).decode()}

    stored = cached("reference-ct2-encode", features.tobytes() + json.dumps(features.shape).encode(), encode)
    return np.frombuffer(base64.b64decode(stored["float32"]), np.float32).reshape(stored["shape"]).copy()


@pytest.fixture(scope="session")
def hf_encoded(hf_model, features) -> torch.Tensor:
    with torch.inference_mode():
        return hf_model.model.encoder(torch.from_numpy(features)).last_hidden_state


@pytest.fixture(scope="session")
def ct2_tokens(request, ct2_encoded, prompt) -> list[int]:
    """CTranslate2's greedy tokens from its encoder output (``generate`` accepts it in place of the features), cached
    on disk like its encoder output."""

    def generate() -> list[int]:
        import ctranslate2

        ct2_model = request.getfixturevalue("ct2_model")
        result = ct2_model.generate(ctranslate2.StorageView.from_array(ct2_encoded), [prompt], beam_size=1)
        return list(result[0].sequences_ids[0])  # the prompt and <|endoftext|> are not part of it

    key = ct2_encoded.tobytes() + json.dumps({"prompt": prompt, "beam_size": 1}).encode()
    return cached("reference-ct2-generate", key, generate)


@pytest.fixture(scope="session")
def hf_tokens(hf_model, features, hf_encoded, prompt) -> list[int]:
    """Greedy transformers decode; the encoder output is passed in so that the encoder runs once per engine."""
    from transformers.modeling_outputs import BaseModelOutput

    encoded = BaseModelOutput(last_hidden_state=hf_encoded)
    with torch.inference_mode():
        out = hf_model.generate(torch.from_numpy(features), encoder_outputs=encoded, language="en", task="transcribe")
    tokens = out[0].tolist()
    if tokens[: len(prompt)] == prompt:  # some transformers versions return the decoder prompt too
        tokens = tokens[len(prompt) :]
    eot = hf_model.generation_config.eos_token_id
    while tokens and tokens[-1] == eot:
        tokens.pop()
    return tokens


# --------------------------------------------------------------------------------------------------------------
# (a) The converted model decodes as CTranslate2 does
# --------------------------------------------------------------------------------------------------------------


@real_model
def test_greedy_tokens_equal_ctranslate2(hf_tokens, ct2_tokens):
    assert ct2_tokens, "CTranslate2 decoded nothing: the test clip is not a useful check"
    assert hf_tokens == ct2_tokens


@real_model
def test_transcript_is_the_spoken_sentence(processor, hf_tokens):
    text = processor.tokenizer.decode(hf_tokens, skip_special_tokens=True)
    assert normalise(text) == normalise(REFERENCES[SPEECH_CLIP]["text"]), text


@real_model
def test_encoder_outputs_match_ctranslate2(hf_encoded, ct2_encoded):
    expected = np.asarray(ct2_encoded)
    actual = hf_encoded.numpy()
    assert actual.shape == expected.shape
    # Same float16 weights computed in float32 by two engines (different GEMM/softmax kernels): ~5e-4 apart at
    # most, where the activations themselves reach tens.
    assert np.abs(actual - expected).max() < 2e-3
    assert np.abs(actual - expected).mean() < 1e-4


@real_model
def test_model_matches_the_ctranslate2_dimensions(hf_model):
    config = hf_model.config
    assert (config.d_model, config.encoder_layers, config.decoder_layers) == (512, 6, 6)
    assert (config.encoder_attention_heads, config.decoder_attention_heads) == (8, 8)
    assert (config.vocab_size, config.num_mel_bins, config.max_target_positions) == (51865, 80, 448)
    assert hf_model.proj_out.weight.data_ptr() == hf_model.model.decoder.embed_tokens.weight.data_ptr()


# --------------------------------------------------------------------------------------------------------------
# (b) Tokenizer and generation config
# --------------------------------------------------------------------------------------------------------------


@real_model
def test_timestamp_tokens_have_openai_ids(processor, whisper_base_dir):
    from transformers import GenerationConfig

    tokenizer = processor.tokenizer
    assert tokenizer.encode("<|0.00|>", add_special_tokens=False) == [50364]
    assert tokenizer.encode("<|30.00|>", add_special_tokens=False) == [50364 + 1500]
    assert len(tokenizer) == 51865
    generation = GenerationConfig.from_pretrained(whisper_base_dir)
    assert generation.no_timestamps_token_id == tokenizer.convert_tokens_to_ids("<|notimestamps|>") == 50363
    # transformers puts the first timestamp right after the last special token: it must be <|notimestamps|>.
    assert tokenizer.all_special_ids[-1] == generation.no_timestamps_token_id
    assert "<|0.00|>" not in tokenizer.all_special_tokens


@real_model
def test_timestamps_decode_to_offsets(processor):
    tokenizer = processor.tokenizer
    ids = (
        tokenizer.convert_tokens_to_ids(["<|0.00|>"])
        + tokenizer.encode(" Hello", add_special_tokens=False)
        + tokenizer.convert_tokens_to_ids(["<|1.00|>"])
    )
    decoded = tokenizer.decode(ids, output_offsets=True)
    assert decoded["offsets"] == [{"text": " Hello", "timestamp": (0.0, 1.0)}]


@real_model
def test_generation_config_has_the_official_layout(whisper_base_dir):
    from transformers import GenerationConfig

    generation = GenerationConfig.from_pretrained(whisper_base_dir)
    ct2_config = json.loads(embedded_model.wheel_files().config.read_text())
    assert len(generation.lang_to_id) == 99
    assert generation.lang_to_id["<|en|>"] == 50259 and generation.lang_to_id["<|su|>"] == 50357
    assert sorted(generation.lang_to_id.values()) == ct2_config["lang_ids"]
    assert generation.task_to_id == {"transcribe": 50359, "translate": 50358}
    assert generation.forced_decoder_ids == [[1, None], [2, 50359]]
    assert generation.is_multilingual is True
    assert generation.alignment_heads == ct2_config["alignment_heads"]
    assert generation.suppress_tokens == ct2_config["suppress_ids"]
    assert generation.begin_suppress_tokens == ct2_config["suppress_ids_begin"] == [220, 50257]
    assert generation.decoder_start_token_id == 50258
    assert generation.eos_token_id == generation.pad_token_id == 50257
    assert generation.max_length == 448
    assert generation.max_initial_timestamp_index == 50
    assert generation.prev_sot_token_id == 50361


@real_model
def test_weights_are_the_stored_float16(whisper_base_dir):
    from safetensors import safe_open

    with safe_open(str(whisper_base_dir / "model.safetensors"), framework="pt") as weights:
        names = set(weights.keys())
        assert weights.get_tensor("model.encoder.conv1.weight").dtype == torch.float16
    assert "proj_out.weight" not in names  # tied to model.decoder.embed_tokens.weight
    assert "model.encoder.layers.0.self_attn.k_proj.bias" not in names


# --------------------------------------------------------------------------------------------------------------
# (c) The tiny random model, and the cache
# --------------------------------------------------------------------------------------------------------------


def test_tiny_random_model_loads_and_generates(tiny_random_dir):
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    model = WhisperForConditionalGeneration.from_pretrained(tiny_random_dir, dtype=torch.float32).eval()
    processor = WhisperProcessor.from_pretrained(tiny_random_dir)
    config = model.config
    assert (config.d_model, config.encoder_layers, config.decoder_layers) == (64, 2, 2)
    assert config.encoder_attention_heads == config.decoder_attention_heads == 4
    assert len(processor.tokenizer) == config.vocab_size == 51865
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(SAMPLE_RATE)).astype(np.float32)
    features = processor.feature_extractor(audio, sampling_rate=SAMPLE_RATE, return_tensors="pt").input_features
    with torch.inference_mode():
        out = model.generate(features, language="en", task="transcribe", max_new_tokens=5)
    assert out.shape[0] == 1 and 1 <= out.shape[1] <= 5 + len(PROMPT_TOKENS)
    assert int(out.max()) < config.vocab_size


@real_model
def test_warm_call_returns_the_cached_directory_quickly(whisper_base_dir):
    started = time.perf_counter()
    again = embedded_model.ensure_whisper_base()
    assert again == whisper_base_dir
    assert time.perf_counter() - started < 0.5


def test_a_failed_build_leaves_no_cache_behind(tmp_path, monkeypatch):
    def half_build(directory, files):
        (directory / "config.json").write_text("{}")
        raise RuntimeError("killed mid-build")

    monkeypatch.setattr(embedded_model, "_build_tiny_random", half_build)
    with pytest.raises(RuntimeError, match="killed mid-build"):
        embedded_model.ensure_tiny_random(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_reader_rejects_a_truncated_model_bin():
    def string(text: str) -> bytes:
        raw = text.encode() + b"\0"
        return struct.pack("<H", len(raw)) + raw

    header = struct.pack("<I", 6) + string("WhisperSpec") + struct.pack("<II", 3, 1)
    variable = string("encoder/num_heads") + struct.pack("<BBI", 0, 2, 2) + struct.pack("<h", 8)
    model = ct2_whisper.read_ct2_model(header + variable + struct.pack("<I", 0))
    assert model.scalar("encoder/num_heads") == 8
    with pytest.raises(ct2_whisper.CT2FormatError, match="truncated"):
        ct2_whisper.read_ct2_model(header + variable[:-1])
