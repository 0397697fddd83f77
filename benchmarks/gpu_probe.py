"""GPU probe: correctness of the decoder runtime on CUDA and its speed on a large-v3-turbo-shaped random model.

    python -m benchmarks.gpu_probe --tokenizer-dir DIR [--batches 1,2,4,...] [--tokens 110] [--json OUT.json]

1. fp32: our greedy tokens (eager and CUDA graphs) against transformers' ``generate`` on the same encoder states;
2. bf16: graphs against eager (same tokens expected up to near-ties of random weights);
3. speed, bf16: log-mel + encoder + decoder with exactly ``--tokens`` tokens per window, per batch size, through the
   :class:`serving.batching.scheduler.Scheduler` core (waveforms in, text out), and transformers' ``generate`` per request
   as the baseline;
4. a FLOP audit of one window with ``torch.utils.flop_counter``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import traceback

import numpy as np
import torch

DEVICE = "cuda"
TINY = dict(d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4, decoder_attention_heads=4,
            encoder_ffn_dim=128, decoder_ffn_dim=128)  # --tiny: a CPU smoke run of this script
SHAPE: dict = {}
COMPILE = False  # --compile: torch.compile the decoding step and the encoder
TURBO = dict(
    d_model=1280, encoder_layers=32, decoder_layers=4, encoder_attention_heads=20, decoder_attention_heads=20,
    encoder_ffn_dim=5120, decoder_ffn_dim=5120, num_mel_bins=128,
)


def turbo_model(tokenizer_dir: str, dtype: torch.dtype):
    from transformers import (
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizerFast,
    )

    config = WhisperConfig.from_pretrained(tokenizer_dir)
    for key, value in {**TURBO, **SHAPE}.items():
        setattr(config, key, value)
    torch.manual_seed(0)
    with torch.device(DEVICE):
        model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig.from_pretrained(tokenizer_dir)
    model = model.to(dtype).eval()
    processor = WhisperProcessor(
        WhisperFeatureExtractor(feature_size=config.num_mel_bins), WhisperTokenizerFast.from_pretrained(tokenizer_dir)
    )
    return model, processor


def loaded_model(model, processor):
    from serving.engine.loading import LoadedModel
    from serving.engine.placement import Placement

    gpus = 1 if DEVICE == "cuda" else 0
    return LoadedModel(model, processor, Placement(torch.device(DEVICE), model.dtype, gpus))


def check_tokens(tokenizer_dir: str, report: dict) -> None:
    """fp32: eager, graphs and transformers' generate must choose the same tokens."""
    from transformers.modeling_outputs import BaseModelOutput

    from serving.engine.decoding import EngineOptions, WhisperDecoder

    model, processor = turbo_model(tokenizer_dir, torch.float32)
    loaded = loaded_model(model, processor)
    features = torch.randn(4, 128, 3000, device=DEVICE)
    plain = [("en", "transcribe", (), False, 0.0)] * 4
    mixed = [("en", "transcribe", (), True, 0.0), ("de", "translate", (50, 51, 52), True, 0.6),
             ("fr", "transcribe", (), False, 0.0), ("en", "transcribe", (7,), False, 1.0)]
    results, mixed_results = {}, {}
    for graphs in (False, True):
        decoder = WhisperDecoder(loaded, EngineOptions(8, 24, 24, cuda_graphs=graphs))
        states = decoder.encode(features)
        results[graphs] = [w.tokens for w in decoder.decode(states, [decoder.window_prompt(*p) for p in plain])]
        mixed_results[graphs] = [w.tokens for w in decoder.decode(states, [decoder.window_prompt(*p) for p in mixed])]
    report["fp32_graphs_equal_eager_timestamps_sampling_prompts"] = mixed_results[True] == mixed_results[False]
    print("fp32 graphs == eager with timestamps, sampling and prompts mixed in one batch:",
          report["fp32_graphs_equal_eager_timestamps_sampling_prompts"], flush=True)
    hf = model.generate(
        encoder_outputs=BaseModelOutput(last_hidden_state=states), language="<|en|>", task="transcribe",
        min_new_tokens=24, max_new_tokens=24, return_timestamps=False,
    )
    hf_tokens = [tuple(t for t in row.tolist() if t < decoder.vocabulary.eot or t >= decoder.vocabulary.timestamp_begin)
                 for row in hf]
    hf_tokens = [row[-24:] for row in hf_tokens]
    report["fp32_graphs_equal_eager"] = results[True] == results[False]
    report["fp32_equal_transformers"] = [a == b for a, b in zip(results[False], hf_tokens)]
    print("fp32 graphs == eager:", report["fp32_graphs_equal_eager"], "| eager == transformers:",
          report["fp32_equal_transformers"], flush=True)
    if results[False] != hf_tokens:
        print("ours", results[False][0][:12], "\nhf  ", hf_tokens[0][:12], flush=True)
    del model, loaded
    torch.cuda.empty_cache()


def speed(tokenizer_dir: str, batches: list[int], tokens: int, report: dict) -> None:
    from serving.api.params import TranscriptionParams
    from serving.batching.runner import Runner, RunnerOptions
    from serving.batching.scheduler import Scheduler, SchedulerOptions
    from serving.batching.sessions import Job
    from serving.engine.decoding import EngineOptions
    from serving.longform.quality import Thresholds

    NEVER_FALL_BACK = Thresholds(compression_ratio=float('inf'), logprob=float('-inf'), no_speech=1.0)

    model, processor = turbo_model(tokenizer_dir, torch.bfloat16)
    loaded = loaded_model(model, processor)
    params = TranscriptionParams(language="en")
    rng = np.random.default_rng(0)
    rows = []
    label = "ours compiled" if COMPILE else "ours"
    for batch in batches:
        started = time.perf_counter()
        engine = EngineOptions(batch, tokens, tokens, torch_compile=COMPILE)
        runner = Runner(loaded, RunnerOptions(engine, NEVER_FALL_BACK))  # no VAD: noise input
        transcriber = Scheduler(runner, SchedulerOptions(max_batch_wait_ms=0))
        jobs = [Job.new((rng.standard_normal(480_000) * 0.1).astype(np.float32), params) for _ in range(batch)]
        transcriber.transcribe_all(jobs[:1])  # warm-up
        transcriber.transcribe_all(jobs)
        torch.cuda.synchronize()
        warmup = time.perf_counter() - started
        torch.cuda.reset_peak_memory_stats()
        times = []
        for _ in range(5 if batch <= 16 else 3 if batch <= 64 else 2):
            started = time.perf_counter()
            transcriber.transcribe_all(jobs)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - started)
        median = sorted(times)[len(times) // 2]
        row = dict(batch=batch, seconds=median, rtfx=batch * 30 / median, ms_per_window=median / batch * 1000,
                   peak_gib=torch.cuda.max_memory_allocated() / 2**30, warmup_s=warmup)
        rows.append(row)
        print(f"{label} bf16 batch {batch:4d}: {median*1000:8.1f} ms  RTFx {row['rtfx']:8.0f}  "
              f"{row['ms_per_window']:.2f} ms/window  peak {row['peak_gib']:.1f} GiB  (start {warmup:.1f} s)",
              flush=True)
        del transcriber
        torch.cuda.empty_cache()
    report[label] = rows
    stage_split(loaded, tokens, report)
    if not COMPILE:
        baseline(model, tokens, report)


def stage_split(loaded, tokens: int, report: dict) -> None:
    """Encoder vs decoder time at batch 1 and 64."""
    from serving.engine.decoding import EngineOptions, WhisperDecoder

    out = {}
    for batch in (1, 64):
        decoder = WhisperDecoder(loaded, EngineOptions(batch, tokens, tokens, torch_compile=COMPILE))
        features = torch.randn(batch, 128, 3000, device=DEVICE, dtype=torch.bfloat16)
        prompts = [decoder.window_prompt("en", "transcribe", (), False, 0.0)] * batch
        for _ in range(2):
            torch.cuda.synchronize(); t0 = time.perf_counter()
            states = decoder.encode(features)
            torch.cuda.synchronize(); t1 = time.perf_counter()
            decoder.decode(states, prompts)
            torch.cuda.synchronize(); t2 = time.perf_counter()
        out[batch] = dict(encode_ms=(t1 - t0) * 1000, decode_ms=(t2 - t1) * 1000,
                          step_ms=(t2 - t1) * 1000 / tokens)
        print(f"split batch {batch}: encode {out[batch]['encode_ms']:.1f} ms, decode {out[batch]['decode_ms']:.1f} ms "
              f"({out[batch]['step_ms']:.3f} ms/step)", flush=True)
        del decoder
    report["split compiled" if COMPILE else "split"] = out


def baseline(model, tokens: int, report: dict) -> None:
    """transformers' generate, one request at a time (what the usual samples do), bf16, same fixed length."""
    from transformers import WhisperFeatureExtractor

    extractor = WhisperFeatureExtractor(feature_size=128)
    audio = (np.random.default_rng(1).standard_normal(480_000) * 0.1).astype(np.float32)
    times = []
    for _ in range(4):
        torch.cuda.synchronize(); started = time.perf_counter()
        features = extractor(audio, sampling_rate=16_000, return_tensors="pt").input_features
        model.generate(features.to(DEVICE, torch.bfloat16), language="<|en|>", task="transcribe",
                       min_new_tokens=tokens, max_new_tokens=tokens)
        torch.cuda.synchronize(); times.append(time.perf_counter() - started)
    best = sorted(times[1:])[len(times[1:]) // 2]
    report["transformers_generate_batch1"] = dict(seconds=best, rtfx=30 / best)
    print(f"transformers generate batch 1: {best*1000:.1f} ms, RTFx {30/best:.0f}", flush=True)


def flops(tokenizer_dir: str, tokens: int, report: dict) -> None:
    from torch.utils.flop_counter import FlopCounterMode

    from serving.engine.decoding import EngineOptions, WhisperDecoder

    model, processor = turbo_model(tokenizer_dir, torch.bfloat16)
    loaded = loaded_model(model, processor)
    decoder = WhisperDecoder(loaded, EngineOptions(1, tokens, tokens, cuda_graphs=False))
    features = torch.randn(1, 128, 3000, device=DEVICE, dtype=torch.bfloat16)
    with FlopCounterMode(display=False) as counter:
        states = decoder.encode(features)
    encoder = counter.get_total_flops()
    with FlopCounterMode(display=False) as counter:
        decoder.decode(states, [decoder.window_prompt("en", "transcribe", (), False, 0.0)])
    decode = counter.get_total_flops()
    report["flops"] = dict(encoder_tflop=encoder / 1e12, decode_gflop_per_token=decode / tokens / 1e9)
    print(f"FLOPs: encoder {encoder/1e12:.3f} TFLOP per window; decoder {decode/tokens/1e9:.3f} GFLOP per token "
          f"(incl. cross K/V and prefill)", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokenizer-dir", required=True)
    parser.add_argument("--batches", default="1,2,4,8,16,32,64,128,256")
    parser.add_argument("--tokens", type=int, default=110)
    parser.add_argument("--json")
    parser.add_argument("--tiny", action="store_true", help="tiny model on the CPU: a smoke run of this script")
    parser.add_argument("--compiled-batches", default="", help="also run these batch sizes with torch.compile")
    args = parser.parse_args(argv)
    if args.tiny:
        global DEVICE
        DEVICE = "cpu"
        SHAPE.update(TINY)
        torch.cuda.synchronize = lambda: None
        torch.cuda.reset_peak_memory_stats = lambda: None
        torch.cuda.max_memory_allocated = lambda: 0
        torch.cuda.get_device_name = lambda _: "cpu"
    import transformers

    report = dict(gpu=torch.cuda.get_device_name(0), torch=torch.__version__, transformers=transformers.__version__)
    print(report, flush=True)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("serving.batching.runner").setLevel(logging.INFO)
    logging.getLogger("serving.engine.step_graphs").setLevel(logging.INFO)

    def compiled() -> None:
        global COMPILE
        COMPILE = True
        torch._dynamo.config.cache_size_limit = 64  # one Runner per batch size here; serving builds one
        speed(args.tokenizer_dir, [int(b) for b in args.compiled_batches.split(",")], args.tokens, report)

    steps = [
        lambda: check_tokens(args.tokenizer_dir, report),
        lambda: speed(args.tokenizer_dir, [int(b) for b in args.batches.split(",")], args.tokens, report),
        lambda: flops(args.tokenizer_dir, args.tokens, report),
    ] + ([compiled] if args.compiled_batches else [])
    for step in steps:
        try:
            step()
        except Exception:  # noqa: BLE001 - a probe reports every part it can
            traceback.print_exc()
            sys.stdout.flush()
        torch.cuda.empty_cache()
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
