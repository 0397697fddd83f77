"""``best_of`` at temperatures above 0 (openai/whisper's fallback samples several candidates and keeps the likeliest):
on the tiny random model, a window's samples are its rows with seeds 0..best_of-1, seed 0 is the one sample that
``best_of=1`` draws, the samples differ, and the kept one ranks highest (log-probability over length). Beams and
samples of one batch are decoded apart and each window keeps its own. A window's samples joining the running batch
(one row each) give what a whole batch gives."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from serving.api.params import parse_params
from serving.batching.runner import Runner
from serving.batching.sessions import Job
from serving.constants import SAMPLE_RATE
from serving.endpoint.service import runner_options
from serving.engine.beam_search import Hypothesis, ranking_score
from serving.engine.decoding import EngineOptions, SearchOptions, WhisperDecoder
from serving.engine.loading import load_model
from serving.engine.placement import resolve_placement
from serving.settings import load_settings

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


def test_samples_joining_the_running_batch_give_the_whole_batch_result(tiny_random_dir):
    """A window at temperature 1 with ``best_of`` 6 takes six rows of the running batch, beside a greedy window of
    another request, and both leave with what a whole batch of the two gives (the same samples, the same one kept,
    the same verdict of the quality tests), which is not what its first sample alone gives."""
    settings = load_settings({"model_id": str(tiny_random_dir), "vad": "off", "max_batch_windows": "8"}, environ={})
    runner = Runner(load_model(settings, None, resolve_placement(settings, "-1")), runner_options(settings))
    noise = np.random.default_rng(0).normal(0, 0.1, 3 * SAMPLE_RATE).astype(np.float32)
    hot = {"language": "en", "temperature": 1.0}
    sampled = runner.open(Job.new(noise, parse_params({**hot, "best_of": 6})))
    alone = runner.open(Job.new(noise, parse_params({**hot, "best_of": 1})))
    greedy = runner.open(Job.new(noise[::-1].copy(), parse_params({"language": "en"})))
    sessions = {s.request: s for s in (sampled, alone, greedy)}
    (window, first_sample, other) = (*sampled.pending(), *alone.pending(), *greedy.pending())
    assert (runner.rows_of(window), runner.rows_of(first_sample), runner.rows_of(other)) == (6, 1, 1)
    whole = runner.run([window, other], sessions)
    runner.join([window, other], sessions)
    assert runner.free_rows == runner.capacity - 7
    ended = {}
    while runner.busy:
        step = runner.advance(8)
        ended.update(_verdicts(step.ended, step.outcomes, step.retries))
    assert ended == _verdicts([window, other], whole.outcomes, whole.retries) and runner.free_rows == runner.capacity
    (own,) = runner.run([first_sample], sessions).outcomes  # temperature 1 is the last: never a retry
    assert own.decoded.tokens != whole.outcomes[0].decoded.tokens  # the samples mattered: not the first one kept


def _verdicts(tasks, outcomes, retries) -> dict:
    """Per request: its window's outcome, or the attempts of its retry."""
    found = {t.request: o for t, o in zip(tasks, outcomes) if o is not None}
    return {**found, **{r.request: r.attempts for r in retries}}
