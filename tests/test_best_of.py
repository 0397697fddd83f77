"""``best_of`` at temperatures above 0 (openai/whisper's fallback samples several candidates and keeps the likeliest):
on the tiny random model, a window's samples are its rows with seeds 0..best_of-1, seed 0 is the one sample that
``best_of=1`` draws, the samples differ, and the kept one ranks highest (log-probability over length). Beams and
samples of one batch are decoded apart and each window keeps its own."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from serving.engine.beam_search import Hypothesis, ranking_score
from serving.engine.decoding import EngineOptions, SearchOptions, WhisperDecoder

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MAX_NEW = 12


@pytest.fixture(scope="module")
def decoder(tiny_random_dir) -> WhisperDecoder:
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

    from serving.engine.loading import LoadedModel
    from serving.engine.placement import Placement

    model = WhisperForConditionalGeneration.from_pretrained(tiny_random_dir, dtype=torch.float32).eval()
    loaded = LoadedModel(model, WhisperProcessor.from_pretrained(tiny_random_dir),
                         Placement(torch.device("cpu"), torch.float32, 0))
    return WhisperDecoder(loaded, EngineOptions(capacity=4, max_new_tokens=MAX_NEW, cuda_graphs=False))


def states(rows: int, seed: int = 5) -> torch.Tensor:
    return torch.randn(rows, 1500, 64, generator=torch.Generator().manual_seed(seed))


def prompt(decoder: WhisperDecoder, temperature: float, best_of: int = 1, beam_size: int = 1):
    return decoder.window_prompt("en", "transcribe", (), False, temperature,
                                 SearchOptions(beam_size=beam_size, best_of=best_of))


def test_best_of_keeps_the_likeliest_of_distinct_samples(decoder):
    window = states(1)
    one = decoder.window_prompt("en", "transcribe", (), False, 1.0)
    samples = [decoder.search.decode(window, [replace(prompt(decoder, 1.0, 5), sample_seed=seed)])[0]
               for seed in range(5)]
    assert len({s.tokens for s in samples}) > 1  # the seeds draw different samples
    assert samples[0] == decoder.decode(window, [one])[0]  # seed 0 is best_of=1's sample
    kept = decoder.decode(window, [prompt(decoder, 1.0, 5)])[0]  # five rows in a batch of four, then one
    scores = [ranking_score(Hypothesis(s.tokens, s.sum_logprob, s.ended), None) for s in samples]
    best = samples[scores.index(max(scores))]
    assert kept.tokens == best.tokens and kept.sum_logprob == pytest.approx(best.sum_logprob, abs=1e-4)


def test_best_of_is_for_temperatures_above_zero_and_beams_for_zero(decoder):
    assert prompt(decoder, 0.0, best_of=5).best_of == 1
    assert prompt(decoder, 0.4, best_of=5).best_of == 5
    assert prompt(decoder, 0.4, beam_size=3).beam_size == 1


def test_a_batch_of_beams_samples_and_greedy_rows_decodes_each_window_as_alone(decoder):
    """Five windows (more sample rows than the capacity of 4): each decodes as it does alone."""
    window_states = states(5, seed=9)
    prompts = [prompt(decoder, 0.0, beam_size=2), prompt(decoder, 0.6, best_of=3), prompt(decoder, 0.0),
               prompt(decoder, 1.0, best_of=2), prompt(decoder, 0.0, beam_size=3)]
    together = decoder.decode(window_states, prompts)
    alone = [decoder.decode(window_states[i : i + 1], [p])[0] for i, p in enumerate(prompts)]
    assert [w.tokens for w in together] == [w.tokens for w in alone]
    assert [w.sum_logprob for w in together] == pytest.approx([w.sum_logprob for w in alone], abs=1e-4)
