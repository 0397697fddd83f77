"""Specification of ``serving.engine.logit_rules.LogitRules``: which tokens may come next, per row of a batch.

The reference below restates, one row at a time in plain torch, openai/whisper's logit filters (whisper/decoding.py,
release 20250625): ``SuppressBlank`` (no blank or end of text as the first sampled token), ``SuppressTokens`` (the
suppress list, which openai extends with the start tokens and <|nospeech|>) and ``ApplyTimestampRules`` (no
<|notimestamps|>; timestamps in pairs; timestamps never decrease and a segment is never empty; the first token a
timestamp no later than ``max_initial_timestamp_index``; all text suppressed when the timestamps together are
likelier than any single text token). Two rules are this project's own and marked so: a text-mode row samples no
timestamp, and end of text is suppressed until ``min_new`` tokens were sampled (transformers' ``min_new_tokens``).

The vocabulary is hand-made with small ids, so that every rule can be seen on a 139-wide logit row.
"""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
import torch

from serving.engine.logit_rules import LogitRules, RowState
from serving.engine.vocabulary import Vocabulary

NEG = float("-inf")
BLANK = 3
VOCABULARY = Vocabulary(
    eot=50, sot=51, sot_prev=52, no_timestamps=58, no_speech=57, timestamp_begin=59, size=139,
    tasks={"translate": 53, "transcribe": 54}, languages={"en": 55, "de": 56},
    suppress=(7, 9, 51, 52, 53, 54, 57), suppress_at_begin=(BLANK, 50),
)
B = VOCABULARY.timestamp_begin
WIDTH = VOCABULARY.size
MAX_INITIAL = VOCABULARY.max_initial_timestamp_index  # 50: <|1.00|>
POSITIONS = 40
PREFIX = (51, 55, 54)  # <|startoftranscript|> <|en|> <|transcribe|>
RULES = LogitRules(VOCABULARY, WIDTH, torch.device("cpu"))


def ts(index: int) -> int:
    return B + index


def reference(
    logits: torch.Tensor, sampled: list[int], timestamps: bool, min_new: int, prefer_timestamps: bool = True
) -> torch.Tensor:
    """openai/whisper's filters for one row (``sampled``: the tokens after the prefix), plus the two rules of ours."""
    x = logits.clone()
    if not sampled:  # SuppressBlank: tokens.shape[1] == sample_begin
        x[list(VOCABULARY.suppress_at_begin)] = NEG
    x[list(VOCABULARY.suppress)] = NEG  # SuppressTokens
    if len(sampled) < min_new:  # ours: transformers' MinNewTokensLengthLogitsProcessor
        x[VOCABULARY.eot] = NEG
    if not timestamps:  # ours: a text-mode row samples no timestamp
        x[B:] = NEG
        return x
    # ApplyTimestampRules
    x[VOCABULARY.no_timestamps] = NEG
    last_was = len(sampled) >= 1 and sampled[-1] >= B
    penultimate_was = len(sampled) < 2 or sampled[-2] >= B
    if last_was and penultimate_was:  # a pair (or a lone first timestamp): text must follow
        x[B:] = NEG
    if last_was and not penultimate_was:  # a segment just ended: no text before the next timestamp
        x[: VOCABULARY.eot] = NEG
    stamps = [t for t in sampled if t >= B]
    if stamps:  # never decreasing; a new segment may start where the last one ended, nothing else repeats
        lowest = stamps[-1] if last_was and not penultimate_was else stamps[-1] + 1
        x[B:lowest] = NEG
    if not sampled:  # the first token is a timestamp, at most max_initial_timestamp_index
        x[:B] = NEG
        x[B + MAX_INITIAL + 1 :] = NEG
    logprobs = torch.log_softmax(x, dim=-1)
    if prefer_timestamps and logprobs[B:].logsumexp(dim=-1) > logprobs[:B].max():
        x[:B] = NEG
    return x


def rows_state(histories: list[list[int]], modes: list[bool], min_new: list[int], prefixes=None) -> RowState:
    """The search's per-row buffers for these rows: prefix + sampled tokens, right-padded with end of text."""
    prefixes = prefixes or [PREFIX] * len(histories)
    history = torch.full((len(histories), POSITIONS + 1), VOCABULARY.eot, dtype=torch.long)
    last_timestamp = []
    for row, (prefix, sampled) in enumerate(zip(prefixes, histories)):
        tokens = list(prefix) + list(sampled)
        history[row, : len(tokens)] = torch.tensor(tokens)
        stamps = [t for t in sampled if t >= B]
        last_timestamp.append(stamps[-1] if stamps else -1)  # the last sampled timestamp (token_search's bookkeeping)
    return RowState(
        history=history,
        length=torch.tensor([len(p) + len(s) for p, s in zip(prefixes, histories)]),
        sample_begin=torch.tensor([len(p) for p in prefixes]),
        timestamps=torch.tensor(modes),
        last_timestamp=torch.tensor(last_timestamp),
        min_new=torch.tensor(min_new),
    )


def apply(logits: torch.Tensor, histories, modes, min_new=None, prefixes=None) -> torch.Tensor:
    min_new = min_new or [0] * len(histories)
    state = rows_state(histories, modes, min_new, prefixes)
    return RULES.apply(logits.clone(), state, timestamps=any(modes), min_new=any(m > 0 for m in min_new))


def allowed(row: torch.Tensor) -> set[int]:
    return set(torch.nonzero(torch.isfinite(row)).flatten().tolist())


def flat_logits(rows: int = 1, value: float = 0.0) -> torch.Tensor:
    """Text likelier than the timestamps together (the timestamp rule does not bite) unless a test says otherwise."""
    logits = torch.full((rows, WIDTH), value)
    logits[:, B:] = value - 10.0
    return logits


TEXT = set(range(VOCABULARY.eot)) - {7, 9}  # text tokens that are not on the suppress list
TIMESTAMPS = set(range(B, WIDTH))


# ---- each rule on its own ----------------------------------------------------------------------------------------


def test_suppressed_tokens_are_never_allowed_in_either_mode():
    for sampled in ([], [1, 2], [ts(0), 4]):
        for mode in (False, True):
            row = apply(flat_logits(), [sampled], [mode])[0]
            assert allowed(row).isdisjoint(VOCABULARY.suppress)


def test_the_first_text_token_is_not_blank_nor_end_of_text_and_later_ones_may_be():
    first = allowed(apply(flat_logits(), [[]], [False])[0])
    assert BLANK not in first and VOCABULARY.eot not in first and 4 in first
    later = allowed(apply(flat_logits(), [[4]], [False])[0])
    assert {BLANK, VOCABULARY.eot} <= later


def test_a_text_mode_row_samples_no_timestamp_and_may_sample_no_timestamps_token():
    row = allowed(apply(flat_logits(), [[4, 5]], [False])[0])
    assert row.isdisjoint(TIMESTAMPS)
    assert row == TEXT | {VOCABULARY.eot, 55, 56, VOCABULARY.no_timestamps}  # language tokens are not suppressed


def test_end_of_text_waits_for_min_new_tokens():
    assert VOCABULARY.eot not in allowed(apply(flat_logits(), [[4, 5]], [False], min_new=[3])[0])
    assert VOCABULARY.eot in allowed(apply(flat_logits(), [[4, 5, 6]], [False], min_new=[3])[0])
    assert VOCABULARY.eot in allowed(apply(flat_logits(), [[4, 5]], [False], min_new=[0])[0])


def test_in_timestamp_mode_end_of_text_waits_for_a_timestamp_at_or_after_where_the_speech_runs_to():
    """A window told its speech runs to timestamp 20 (``end_not_before``): after a segment closing at timestamp 12
    Whisper may not end, only start the next segment; once timestamp 20 or later was sampled, it may; -1 never holds
    a row back."""
    histories = [[ts(0), 4, ts(12)], [ts(0), 4, ts(20)], [ts(0), 4, ts(12)], [4, 5]]
    modes = [True, True, True, False]
    state = replace(rows_state(histories, modes, [0] * 4), end_not_before=torch.tensor([ts(20), ts(20), -1, ts(20)]))
    rows = RULES.apply(flat_logits(4), state, timestamps=True, min_new=False)
    waiting, reached, unbounded, text_mode = (allowed(row) for row in rows)
    assert VOCABULARY.eot not in waiting and ts(12) in waiting  # the next segment may start where this one ended
    assert VOCABULARY.eot in reached and VOCABULARY.eot in unbounded
    assert VOCABULARY.eot in text_mode  # text mode has no timestamps to wait for


def test_the_first_timestamp_mode_token_is_a_timestamp_no_later_than_one_second():
    row = allowed(apply(flat_logits(), [[]], [True])[0])
    assert row == set(range(B, B + MAX_INITIAL + 1))
    assert MAX_INITIAL == 50


def test_a_lone_first_timestamp_must_be_followed_by_text():
    row = allowed(apply(flat_logits(), [[ts(3)]], [True])[0])
    assert row.isdisjoint(TIMESTAMPS) and VOCABULARY.no_timestamps not in row
    assert 4 in row and VOCABULARY.eot in row


def test_after_text_a_timestamp_may_come_but_never_an_earlier_one_nor_the_segment_start_again():
    row = allowed(apply(flat_logits(), [[ts(3), 4, 5]], [True])[0])
    assert {ts(4), ts(79)} <= row and ts(3) not in row and ts(2) not in row
    assert 4 in row and VOCABULARY.eot in row  # text may continue, or the window end


def test_a_segment_end_is_followed_by_a_timestamp_that_may_repeat_it_or_by_end_of_text():
    row = allowed(apply(flat_logits(), [[ts(3), 4, ts(10)]], [True])[0])
    # openai masks the text below end of text only: the (unsuppressed) language tokens stay, as there.
    assert row == set(range(ts(10), WIDTH)) | {VOCABULARY.eot, 55, 56}
    # With the timestamps likelier than end of text, end of text goes too (it counts as a text token).
    logits = flat_logits()
    logits[0, B:] = 0.0
    assert allowed(apply(logits, [[ts(3), 4, ts(10)]], [True])[0]) == set(range(ts(10), WIDTH))


def test_a_timestamp_pair_is_followed_by_text():
    row = allowed(apply(flat_logits(), [[ts(3), 4, ts(10), ts(10)]], [True])[0])
    assert row.isdisjoint(TIMESTAMPS)
    assert 4 in row and VOCABULARY.eot in row


def test_the_floor_is_the_last_timestamp_even_after_a_later_segment_of_text():
    row = allowed(apply(flat_logits(), [[ts(3), 4, ts(10), ts(12), 5, 6]], [True])[0])
    assert min(row & TIMESTAMPS) == ts(13)


def test_the_timestamps_win_when_together_they_are_likelier_than_every_text_token():
    logits = torch.full((2, WIDTH), -10.0)
    logits[:, B:] = 0.0
    sampled = [ts(0), 4, 5]  # allowed timestamps: ts(1) .. ts(79), 79 of them at logit 0
    logits[:, 4] = 4.0  # exp(4) = 54.6 < 79: the timestamps win
    logits[1, 4] = 4.5  # exp(4.5) = 90.0 > 79: the text token stays
    out = apply(logits, [sampled, sampled], [True, True])
    assert allowed(out[0]) == set(range(ts(1), WIDTH))
    assert 4 in allowed(out[1]) and ts(1) in allowed(out[1])


def test_the_timestamp_rule_counts_only_allowed_timestamps():
    logits = torch.full((1, WIDTH), -10.0)
    logits[0, 4] = 3.0  # exp(3) = 20.1
    logits[0, B:] = 0.0
    # After ts(60): only ts(61)..ts(79) (19 of them) are allowed: 19 < 20.1, text stays. Counting all 80 would not.
    out = apply(logits, [[ts(0), 4, ts(55), ts(60), 5]], [True])
    assert 4 in allowed(out[0])


def test_in_text_mode_the_timestamp_rule_does_not_apply():
    logits = torch.full((1, WIDTH), -10.0)
    logits[0, B:] = 5.0  # timestamps overwhelmingly likely, but the row does not use them
    out = apply(torch.cat([logits, logits]), [[4, 5], [ts(0), 4, 5]], [False, True])
    assert allowed(out[0]) == TEXT | {VOCABULARY.eot, 55, 56, VOCABULARY.no_timestamps}
    assert allowed(out[1]) == set(range(ts(1), WIDTH))


def test_allowed_logits_are_left_unchanged():
    logits = torch.randn(1, WIDTH, generator=torch.Generator().manual_seed(0))
    out = apply(logits, [[ts(0), 4, 5]], [True])
    finite = torch.isfinite(out)
    assert torch.equal(out[finite], logits[finite])


# ---- everything together, against the reference ------------------------------------------------------------------


def random_sampled(rng: random.Random, timestamps: bool) -> list[int]:
    if not timestamps or rng.random() < 0.3:  # anything, even sequences the rules would not produce
        pool = [rng.randint(0, 49), ts(rng.randint(0, 79)), VOCABULARY.no_timestamps]
        return [rng.choice(pool[:2] if rng.random() < 0.9 else pool) for _ in range(rng.randint(0, 10))]
    sampled, target = [ts(rng.randint(0, 30))], rng.randint(1, 12)
    while len(sampled) < target:
        if sampled[-1] >= B and (len(sampled) == 1 or sampled[-2] >= B):
            sampled.append(rng.randint(0, 49))
        elif sampled[-1] >= B:
            sampled.append(ts(min(sampled[-1] - B + rng.choice([0, 0, 1, 5]), 79)))
        else:
            sampled.append(rng.choice([rng.randint(0, 49), ts(min(sampled_floor(sampled) + rng.randint(0, 9), 79))]))
    return sampled


def sampled_floor(sampled: list[int]) -> int:
    return max((t - B for t in sampled if t >= B), default=0) + 1


def random_batch(seed: int):
    rng = random.Random(seed)
    rows = rng.randint(1, 8)
    modes = [rng.random() < 0.7 for _ in range(rows)]
    histories = [random_sampled(rng, mode) for mode in modes]
    min_new = [rng.choice([0, 0, 2, 5]) for _ in range(rows)]
    prefixes = [rng.choice([PREFIX, (52, 10, 11, *PREFIX), (51,)]) for _ in range(rows)]
    logits = torch.randn(rows, WIDTH, generator=torch.Generator().manual_seed(seed)) * rng.choice([1.0, 3.0])
    if rng.random() < 0.5:  # timestamps that are each unlikely but together likely
        logits[:, B:] -= 2.0
    return logits, histories, modes, min_new, prefixes


SEEDS = range(60)


@pytest.mark.parametrize("seed", SEEDS)
def test_a_random_batch_is_filtered_as_openai_whisper_filters_each_row(seed):
    logits, histories, modes, min_new, prefixes = random_batch(seed)
    out = apply(logits, histories, modes, min_new, prefixes)
    for row in range(len(histories)):
        expected = reference(logits[row], histories[row], modes[row], min_new[row])
        assert torch.equal(out[row], expected), (histories[row], modes[row], min_new[row])


def test_the_static_flags_only_skip_work_that_no_row_needs():
    rng = random.Random(7)
    histories = [random_sampled(rng, False) for _ in range(6)]
    logits = torch.randn(6, WIDTH, generator=torch.Generator().manual_seed(7))
    state = rows_state(histories, [False] * 6, [0] * 6)
    lean = RULES.apply(logits.clone(), state, timestamps=False, min_new=False)
    full = RULES.apply(logits.clone(), state, timestamps=True, min_new=True)
    assert torch.equal(lean, full)


def test_the_random_batches_exercise_every_rule():
    """The random test above is only a specification if its batches reach each rule: count where each one bites."""
    hits = {"pair": 0, "segment end": 0, "floor": 0, "first": 0, "mass": 0, "min_new": 0, "text mode": 0}
    for seed in SEEDS:
        logits, histories, modes, min_new, _ = random_batch(seed)
        for row, (sampled, mode, least) in enumerate(zip(histories, modes, min_new)):
            hits["min_new"] += len(sampled) < least
            hits["text mode"] += not mode
            if not mode:
                continue
            last = bool(sampled) and sampled[-1] >= B
            penultimate = len(sampled) < 2 or sampled[-2] >= B
            hits["first"] += not sampled
            hits["pair"] += last and penultimate and len(sampled) >= 2
            hits["segment end"] += last and not penultimate
            hits["floor"] += any(t >= B for t in sampled) and not last
            with_rule = reference(logits[row], sampled, mode, least)
            hits["mass"] += not torch.equal(with_rule, reference(logits[row], sampled, mode, least, False))
    assert all(count >= 5 for count in hits.values()), hits
