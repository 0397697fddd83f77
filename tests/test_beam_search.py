"""Specification of ``serving.engine.beam_search`` against a reference: openai/whisper's ``BeamSearchDecoder.update``
/ ``finalize`` and ``MaximumLikelihoodRanker``, ported line by line below (one window at a time, sequences as
tuples, scores in a dict sorted by Python), and CTranslate2's rule for finishing hypotheses as
``serving.engine.beam_search`` documents it.

No model: a fake decoder runtime gives each row logits drawn from a hash of its window and of the tokens its
*cache* holds, so a beam whose cache was not gathered with it (or gathered from the wrong row) decodes differently
from the reference, which recomputes every sequence from scratch. The logit rules (suppression, timestamp pairs) are
the real ones on a small vocabulary.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

from serving.engine.beam_search import (
    BeamSearch,
    FinishedHypotheses,
    Hypothesis,
    best_hypothesis,
    max_candidates,
    ranking_score,
    select_candidates,
)
from serving.engine.decoder_runtime import DecoderShape
from serving.engine.logit_rules import LogitRules, RowState
from serving.engine.token_search import WindowPrompt
from serving.engine.vocabulary import Vocabulary

# A small vocabulary: text 0..59, specials 60..69, timestamps 70..119 (0.00 .. 0.98 s).
VOCABULARY = Vocabulary(
    eot=60, sot=61, sot_prev=62, no_timestamps=63, no_speech=64, timestamp_begin=70, size=120,
    tasks={"transcribe": 65}, languages={"en": 66},
    suppress=(61, 62, 64, 65, 66, 67, 68, 69), suppress_at_begin=(0, 60),
)
POSITIONS = 64
TEXT_PREFIX = (61, 66, 65, 63)  # <|startoftranscript|> <|en|> <|transcribe|> <|notimestamps|>
TIMED_PREFIX = (61, 66, 65)


# ---- ranking and patience -------------------------------------------------------------------------------------


def hyp(length: int, total: float, ended: bool = True) -> Hypothesis:
    return Hypothesis(tuple(range(length)), total, ended)


def test_ranking_divides_by_the_length_without_a_penalty():
    assert ranking_score(hyp(4, -2.0), None) == -0.5
    assert best_hypothesis([hyp(2, -1.2), hyp(6, -3.0)], None) == hyp(6, -3.0)  # -0.6 < -0.5


def test_ranking_with_a_length_penalty_uses_google_nmt_s():
    assert ranking_score(hyp(7, -2.0), 1.0) == pytest.approx(-1.0)  # ((5 + 7) / 6) ** 1 = 2
    assert ranking_score(hyp(7, -2.0), 0.0) == -2.0  # no normalisation at all
    assert best_hypothesis([hyp(2, -1.2), hyp(6, -3.0)], 0.0) == hyp(2, -1.2)


def test_ranking_picks_the_first_of_equals():
    first, second = hyp(2, -1.0), Hypothesis((5, 6), -1.0, True)
    assert best_hypothesis([first, second], None) is first


@pytest.mark.parametrize(("beam_size", "patience", "wanted"), [(5, 1.0, 5), (5, 2.0, 10), (5, 0.5, 2), (3, 0.5, 2)])
def test_patience_sets_how_many_hypotheses_complete_a_window(beam_size, patience, wanted):
    assert max_candidates(beam_size, patience) == wanted  # Python's round, as openai's: round(2.5) == 2


def test_openai_keeps_the_first_finished_up_to_the_limit_and_fills_up_with_live_beams():
    finished = FinishedHypotheses(beam_size=3, patience=2 / 3)  # 2 hypotheses complete it
    finished.add([hyp(1, -1.0)])
    assert not finished.complete
    finished.add([hyp(2, -1.5), hyp(3, -1.6)])
    assert finished.complete and finished.hypotheses == [hyp(1, -1.0), hyp(2, -1.5)]
    live = [hyp(4, -9.0, False), hyp(5, -2.0, False)]
    assert finished.final(live, at_limit=False) == [hyp(1, -1.0), hyp(2, -1.5), hyp(5, -2.0, False)]


def test_ctranslate2_keeps_every_finished_one_and_the_live_beams_only_at_the_limit():
    finished = FinishedHypotheses(beam_size=2, patience=1.0, rule="ctranslate2")
    finished.add([hyp(1, -1.0), hyp(2, -1.5), hyp(3, -1.6)])
    assert finished.complete and len(finished.hypotheses) == 3
    live = [hyp(4, -2.0, False)]
    assert finished.final(live, at_limit=False) == finished.hypotheses
    assert finished.final(live, at_limit=True) == [*finished.hypotheses, hyp(4, -2.0, False)]


# ---- candidate selection --------------------------------------------------------------------------------------


def reference_update(logprobs: torch.Tensor, sums: torch.Tensor, group: int, first_step: bool, rule: str):
    """openai's ``BeamSearchDecoder.update`` for one window (beams as histories (j,) so that the first step's
    identical beams are one sequence), the finishing rule as given -> (new beams [(source, token, score)],
    finished [(source, score)] best first)."""
    scores, sources = {}, {}
    for j in range(group):
        history = (0,) if first_step else (j,)
        for logprob, token in zip(*logprobs[j].topk(group + 1)):
            sequence = (*history, token.item())
            scores[sequence] = (sums[j] + logprob).item()
            sources[sequence] = j
    kept, finished = [], []
    for position, sequence in enumerate(sorted(scores, key=scores.get, reverse=True)):
        if sequence[-1] == VOCABULARY.eot:
            if rule == "openai" or position < group:
                finished.append((sources[sequence], scores[sequence]))
        else:
            kept.append((sources[sequence], sequence[-1], scores[sequence]))
            if len(kept) == group:
                break
    return kept, finished


@pytest.mark.parametrize("rule", ["openai", "ctranslate2"])
@pytest.mark.parametrize("first_step", [True, False])
def test_candidates_are_chosen_as_openai_s_update_chooses_them(rule, first_step):
    group, windows = 4, 6
    generator = torch.Generator().manual_seed(3)
    logits = torch.randn(windows * group, VOCABULARY.size, generator=generator) * 3
    logits[:, VOCABULARY.eot] += torch.linspace(-2, 6, windows * group)  # end of text likely in some rows
    logits.view(windows, group, -1)[::2, :, VOCABULARY.eot] += 8  # and in every other window's first beam
    logprobs = logits.log_softmax(-1)
    sums = torch.randn(windows * group, generator=generator) - 5
    if first_step:
        logprobs = logprobs.view(windows, group, -1)[:, :1].expand(-1, group, -1).reshape(windows * group, -1)
        sums = torch.zeros(windows * group)
    selection = select_candidates(logprobs, sums, group, VOCABULARY.eot, first_step, rule)
    finished_any = False
    for w in range(windows):
        rows = slice(w * group, (w + 1) * group)
        kept, finished = reference_update(logprobs[rows], sums[rows], group, first_step, rule)
        ours = list(zip((selection.sources[rows] - w * group).tolist(), selection.tokens[rows].tolist(),
                        selection.scores[rows].tolist()))
        if first_step:  # the beams are copies: which copy a new beam continues does not matter
            ours, kept = [(0, *k[1:]) for k in ours], [(0, *k[1:]) for k in kept]
        assert ours == kept
        flags = selection.finished[w].tolist()
        ours_finished = [(selection.candidate_sources[w, k].item() - w * group, selection.candidate_scores[w, k].item())
                         for k in range(len(flags)) if flags[k]]
        assert [score for _, score in ours_finished] == [score for _, score in finished]
        if not first_step:
            assert [source for source, _ in ours_finished] == [source for source, _ in finished]
        finished_any |= bool(finished)
    assert finished_any  # the case is not vacuous


def test_the_rules_differ_on_an_end_of_text_below_the_best_candidates():
    """Two beams; their candidates sorted: text (beam 0), end of text (beam 0), end of text (beam 1), text (beam 1).
    openai finishes both ends of text (both rank above the second new beam), CTranslate2 only the one among the two
    best candidates; the new beams are the same."""
    logprobs = torch.full((2, VOCABULARY.size), -30.0)
    logprobs[0, [5, VOCABULARY.eot, 6]] = torch.tensor([-1.0, -1.5, -4.0])
    logprobs[1, [VOCABULARY.eot, 7, 8]] = torch.tensor([-1.75, -2.0, -5.0])
    for rule, finished in (("openai", [-1.5, -1.75]), ("ctranslate2", [-1.5])):
        selection = select_candidates(logprobs, torch.zeros(2), 2, VOCABULARY.eot, False, rule)
        assert selection.candidate_scores[selection.finished].tolist() == finished
        assert (selection.tokens.tolist(), selection.sources.tolist()) == ([5, 7], [0, 1])


# ---- the whole search on a fake runtime -----------------------------------------------------------------------


def fake_logits(window: int, tokens: tuple[int, ...]) -> torch.Tensor:
    """Logits that depend on the window and on every token so far; end of text grows likelier with the length."""
    seed = zlib.crc32(np.array([window, *tokens], dtype=np.int64).tobytes())
    logits = torch.randn(VOCABULARY.size, generator=torch.Generator().manual_seed(seed)) * 2.5
    logits[VOCABULARY.eot] += 0.6 * (len(tokens) - 8)
    return logits


class FakeRuntime:
    """DecoderRuntime's interface; each cache row holds the tokens written to it, and a step's logits are those of
    its row's cached tokens."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.device = torch.device("cpu")
        self.shape = DecoderShape(layers=1, heads=1, width=1, positions=POSITIONS, vocab=VOCABULARY.size)
        self.cache = [[-1] * POSITIONS for _ in range(capacity)]
        self.windows: list[int] = []
        self._prefilled: list[int] = []

    def bind(self, states: torch.Tensor) -> None:
        self.windows = [int(v) for v in states[:, 0, 0].tolist()]

    def prefill(self, tokens: torch.Tensor, first: int = 0) -> torch.Tensor:
        for r, row in enumerate(tokens.tolist()):
            self.cache[r][: len(row)] = row
        self._prefilled = [self.windows[first + r] for r in range(tokens.shape[0])]
        return tokens

    def logits_at(self, hidden: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        return torch.stack([fake_logits(self._prefilled[r], tuple(hidden[r, : i + 1].tolist()))
                            for r, i in enumerate(index.tolist())])

    def reorder(self, source: torch.Tensor, upto: int) -> None:
        before = [list(row) for row in self.cache]
        for r, s in enumerate(source.tolist()):
            self.cache[r][:upto] = before[s][:upto]

    def step(self, tokens: torch.Tensor, positions: torch.Tensor, group: int = 1, first: int = 0) -> torch.Tensor:
        rows = []
        for r, (token, position) in enumerate(zip(tokens.tolist(), positions.tolist())):
            self.cache[r][position] = token
            rows.append(fake_logits(self.windows[first + r // group], tuple(self.cache[r][: position + 1])))
        return torch.stack(rows)


def reference_rows(rules: LogitRules, sequences: list[tuple[int, ...]], begin: int, timestamps: bool) -> RowState:
    history = torch.zeros(len(sequences), POSITIONS + 1, dtype=torch.long)
    last_timestamp = []
    for r, sequence in enumerate(sequences):
        history[r, : len(sequence)] = torch.tensor(sequence)
        stamps = [t for t in sequence[begin:] if t >= VOCABULARY.timestamp_begin]
        last_timestamp.append(stamps[-1] if stamps else -1)
    count = len(sequences)
    return RowState(history, torch.tensor([len(s) for s in sequences]), torch.full((count,), begin),
                    torch.full((count,), timestamps), torch.tensor(last_timestamp), torch.zeros(count, dtype=torch.long))


def reference_search(window: int, prompt: WindowPrompt, rules: LogitRules) -> Hypothesis:
    """openai's decoding loop for one window: ``update`` each step, ``finalize``, the ranker (rule as given)."""
    group, eot, begin = prompt.beam_size, VOCABULARY.eot, len(prompt.prefix)
    limit = max_candidates(group, prompt.patience)
    tokens = [prompt.prefix] * group
    sums = torch.zeros(group)
    finished: dict[tuple[int, ...], float] = {}
    for _ in range(prompt.max_new_tokens):
        logits = torch.stack([fake_logits(window, t) for t in tokens])
        logits = rules.apply(logits, reference_rows(rules, tokens, begin, prompt.timestamps), prompt.timestamps, False)
        logprobs = logits.log_softmax(-1)
        scores, sources = {}, {}
        for j in range(group):
            for logprob, token in zip(*logprobs[j].topk(group + 1)):
                sequence = (*tokens[j], token.item())
                scores[sequence] = (sums[j] + logprob).item()
                sources[sequence] = j
        kept, newly = [], {}
        for position, sequence in enumerate(sorted(scores, key=scores.get, reverse=True)):
            if sequence[-1] == eot:
                if prompt.beam_rule == "openai" or position < group:
                    newly[sequence] = scores[sequence]
            else:
                sums[len(kept)] = scores[sequence]
                kept.append(sequence)
                if len(kept) == group:
                    break
        tokens = kept
        for sequence in sorted(newly, key=newly.get, reverse=True):
            if len(finished) >= limit and prompt.beam_rule == "openai":
                break
            finished[sequence] = newly[sequence]
        if len(finished) >= limit:
            break
    at_limit = len(tokens[0]) >= begin + prompt.max_new_tokens
    ended = set(finished)
    if prompt.beam_rule == "openai" and len(finished) < group:
        for j in list(np.argsort(sums.numpy(), kind="stable"))[::-1]:
            finished[(*tokens[j], eot)] = sums[j].item()
            if len(finished) >= group:
                break
    if prompt.beam_rule == "ctranslate2" and at_limit:
        for j in range(group):
            finished[(*tokens[j], eot)] = sums[j].item()
    hypotheses = [Hypothesis(sequence[begin:-1], score, sequence in ended) for sequence, score in finished.items()]
    return best_hypothesis(hypotheses, prompt.length_penalty)


def window_prompt(beam_size: int, timestamps: bool, rule: str = "openai", patience: float = 1.0,
                  length_penalty: float | None = None, max_new: int = 24) -> WindowPrompt:
    prefix = TIMED_PREFIX if timestamps else TEXT_PREFIX
    return WindowPrompt(prefix=prefix, sot_index=0, timestamps=timestamps, temperature=0.0, max_new_tokens=max_new,
                        beam_size=beam_size, patience=patience, length_penalty=length_penalty, beam_rule=rule)


def states_for(windows: list[int]) -> torch.Tensor:
    return torch.tensor(windows, dtype=torch.float32).view(-1, 1, 1)


CASES = {
    "openai, text": [window_prompt(3, False) for _ in range(5)],
    "openai, timestamps": [window_prompt(4, True) for _ in range(3)],
    "openai, patience and penalty": [window_prompt(3, False, patience=2.0, length_penalty=0.6),
                                     window_prompt(3, False, patience=0.5), window_prompt(3, True, patience=1.5)],
    "openai, two beam sizes, one short limit": [window_prompt(2, False), window_prompt(5, True),
                                                window_prompt(2, True, max_new=6), window_prompt(5, False)],
    "ctranslate2": [window_prompt(3, False, "ctranslate2"), window_prompt(4, True, "ctranslate2"),
                    window_prompt(3, False, "ctranslate2", patience=2.0, max_new=9)],
}


@pytest.mark.parametrize("case", list(CASES))
def test_beam_search_decodes_each_window_as_the_reference(case):
    """Windows of one call: several per pass (a pass holds capacity // beam_size windows), beam sizes apart, each
    with the tokens, score and ending of the reference's winner."""
    prompts = CASES[case]
    rules = LogitRules(VOCABULARY, VOCABULARY.size, torch.device("cpu"))
    windows = [11 + 7 * i for i in range(len(prompts))]
    search = BeamSearch(FakeRuntime(capacity=8), VOCABULARY, rules)
    ours = search.decode(states_for(windows), prompts)
    for window, prompt, decoded in zip(windows, prompts, ours):
        expected = reference_search(window, prompt, rules)
        assert decoded.tokens == expected.tokens, (case, window)
        assert decoded.sum_logprob == pytest.approx(expected.sum_logprob, abs=1e-5)
        assert decoded.ended == expected.ended
    assert len({d.tokens for d in ours}) == len(ours)  # windows apart: the comparison is per window
