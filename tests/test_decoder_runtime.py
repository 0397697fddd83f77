"""Specification of ``serving.engine.decoder_runtime.DecoderRuntime`` (and of greedy decoding on it) against
transformers' own Whisper on the tiny random model, in float32 on the CPU.

The runtime's prefill, single-token steps (each row at its own position), logits and alignment attention must give
what ``WhisperForConditionalGeneration`` gives for the same tokens over the same encoder states; greedy decoding
must pick, token by token, what a plain greedy loop over the transformers model's full forward picks under the same
logit rules (``LogitRules``, specified in tests/test_logit_rules.py), with the same no-speech probability and
log-probability sum; and the whole WhisperDecoder must choose the tokens transformers' ``generate`` chooses. Encoder
states are random: the decoder is tested on its own.
"""

from __future__ import annotations

import pytest
import torch

from serving.engine.decoded import DecodedWindow
from serving.engine.decoder_runtime import DecoderRuntime
from serving.engine.logit_rules import LogitRules, RowState
from serving.engine.vocabulary import Vocabulary, load_vocabulary

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ATOL = 1e-4


def our_decode(model, vocabulary: Vocabulary, states: torch.Tensor, prefixes: list[tuple[tuple[int, ...], int]],
               timestamps: list[bool], max_new_tokens: int, min_new_tokens: int = 0) -> list[DecodedWindow]:
    """The one call into our decoding: greedy decoding of window i over ``states[i]`` from ``prefixes[i]`` =
    (forced prefix, index of <|startoftranscript|> in it)."""
    from serving.engine.token_search import TokenSearch, WindowPrompt

    search = TokenSearch(DecoderRuntime(model, capacity=states.shape[0]), vocabulary, use_graphs=False)
    return search.decode(states, [
        WindowPrompt(prefix=prefix, sot_index=sot_index, timestamps=ts, temperature=0.0,
                     max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens)
        for (prefix, sot_index), ts in zip(prefixes, timestamps)
    ])


@pytest.fixture(scope="module")
def model(tiny_random_dir):
    from transformers import WhisperForConditionalGeneration

    return WhisperForConditionalGeneration.from_pretrained(
        tiny_random_dir, dtype=torch.float32, attn_implementation="eager"
    ).eval()


@pytest.fixture(scope="module")
def eot_prone_model(model):
    """The random model rarely ends a window: this copy's end-of-text output row is a token's it often picks (18285),
    slightly scaled up, so that end of text comes where that token would (and windows of a batch end apart)."""
    import copy

    prone = copy.deepcopy(model)
    weight = prone.get_decoder().embed_tokens.weight  # tied to proj_out
    with torch.no_grad():
        weight[prone.generation_config.eos_token_id] = weight[18285] * 1.05
    assert prone.proj_out.weight.data_ptr() == weight.data_ptr()
    return prone


@pytest.fixture(scope="module")
def vocabulary(tiny_random_dir, model) -> Vocabulary:
    from transformers import WhisperProcessor

    return load_vocabulary(WhisperProcessor.from_pretrained(tiny_random_dir).tokenizer, model.generation_config)


def encoder_states(rows: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(rows, 1500, 64, generator=torch.Generator().manual_seed(seed))


@torch.inference_mode()
def hf_forward(model, states: torch.Tensor, tokens: list[int], attentions: bool = False):
    """transformers' logits (length, vocab) for one sequence over one window's states (and its cross-attentions)."""
    from transformers.modeling_outputs import BaseModelOutput

    out = model(encoder_outputs=BaseModelOutput(last_hidden_state=states.unsqueeze(0)),
                decoder_input_ids=torch.tensor([tokens]), use_cache=False, output_attentions=attentions)
    return (out.logits[0], out.cross_attentions) if attentions else out.logits[0]


PREFIXES = [
    [50258, 50259, 50359, 50363],  # <|startoftranscript|> <|en|> <|transcribe|> <|notimestamps|>
    [50361, 1770, 13, 50258, 50261, 50358],  # <|startofprev|> prompt, then German translation with timestamps
    [50258, 50260],
]


def padded(rows: list[list[int]], pad: int = 50257) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([r + [pad] * (width - len(r)) for r in rows])


# ---- the runtime against transformers ----------------------------------------------------------------------------


@pytest.fixture(params=[True, False], ids=["keys transposed", "keys as values"])
def transposed(request) -> bool:
    """Both layouts of the cross-attention keys: transposed (the CPU's default) and laid out as the values."""
    return request.param


@torch.inference_mode()
def test_prefill_logits_equal_transformers_at_every_position_of_every_row(model, transposed):
    states = encoder_states(3)
    runtime = DecoderRuntime(model, capacity=4, keys_transposed=transposed)
    runtime.bind(states)
    hidden = runtime.prefill(padded(PREFIXES))
    logits = runtime.logits(hidden)
    assert logits.dtype == torch.float32 and logits.shape == (3, 6, model.config.vocab_size)
    for row, prefix in enumerate(PREFIXES):
        expected = hf_forward(model, states[row], prefix)
        torch.testing.assert_close(logits[row, : len(prefix)], expected, atol=ATOL, rtol=0)
        at_end = runtime.logits_at(hidden, torch.tensor([len(p) - 1 for p in PREFIXES]))[row]
        torch.testing.assert_close(at_end, expected[-1], atol=ATOL, rtol=0)


@torch.inference_mode()
def test_steps_at_each_rows_own_position_equal_transformers_on_the_whole_sequence(model, transposed):
    states = encoder_states(3, seed=1)
    runtime = DecoderRuntime(model, capacity=3, keys_transposed=transposed)
    runtime.bind(states)
    runtime.prefill(padded(PREFIXES))  # right-padded: the pads' cache entries are overwritten by the steps
    sequences = [list(p) for p in PREFIXES]
    generator = torch.Generator().manual_seed(2)
    for _ in range(5):
        fed = torch.randint(0, 50257, (3,), generator=generator)
        positions = torch.tensor([len(s) for s in sequences])
        logits = runtime.step(fed, positions)
        for row in range(3):
            sequences[row].append(int(fed[row]))
            torch.testing.assert_close(logits[row], hf_forward(model, states[row], sequences[row])[-1],
                                       atol=ATOL, rtol=0)


@torch.inference_mode()
def test_a_step_over_fewer_rows_leaves_the_other_rows_alone(model, transposed):
    states = encoder_states(2, seed=3)
    runtime = DecoderRuntime(model, capacity=2, keys_transposed=transposed)
    runtime.bind(states)
    runtime.prefill(padded(PREFIXES[:2]))
    runtime.step(torch.tensor([11]), torch.tensor([len(PREFIXES[0])]))  # row 0 only
    logits = runtime.step(torch.tensor([12, 13]), torch.tensor([len(PREFIXES[0]) + 1, len(PREFIXES[1])]))
    torch.testing.assert_close(logits[0], hf_forward(model, states[0], PREFIXES[0] + [11, 12])[-1], atol=ATOL, rtol=0)
    torch.testing.assert_close(logits[1], hf_forward(model, states[1], PREFIXES[1] + [13])[-1], atol=ATOL, rtol=0)


@torch.inference_mode()
def test_binding_new_windows_replaces_the_cross_attention_of_the_bound_rows(model, transposed):
    runtime = DecoderRuntime(model, capacity=2, keys_transposed=transposed)
    runtime.bind(encoder_states(2, seed=4))
    fresh = encoder_states(1, seed=5)
    runtime.bind(fresh)
    logits = runtime.logits(runtime.prefill(torch.tensor([PREFIXES[0]])))[0]
    torch.testing.assert_close(logits, hf_forward(model, fresh[0], PREFIXES[0]), atol=ATOL, rtol=0)


@torch.inference_mode()
def test_binding_windows_to_chosen_rows_leaves_the_other_rows_alone(model, transposed):
    runtime = DecoderRuntime(model, capacity=3, keys_transposed=transposed)
    kept = encoder_states(3, seed=4)
    runtime.bind(kept)
    joining = encoder_states(2, seed=5)
    runtime.bind_rows(joining, torch.tensor([2, 0]))
    hidden = runtime.prefill(padded([PREFIXES[0]] * 3))
    logits = runtime.logits(hidden[:, : len(PREFIXES[0])])
    for row, states in ((0, joining[1]), (1, kept[1]), (2, joining[0])):
        torch.testing.assert_close(logits[row], hf_forward(model, states, PREFIXES[0]), atol=ATOL, rtol=0)


@torch.inference_mode()
def test_alignment_scores_are_transformers_cross_attention_before_the_softmax(model, transposed):
    states = encoder_states(2, seed=6)
    runtime = DecoderRuntime(model, capacity=2, keys_transposed=transposed)
    runtime.bind(states)
    sequences = [PREFIXES[0] + [400, 401, 402, 50257], PREFIXES[2] + [500, 50257]]
    heads = [(1, 0), (1, 3), (0, 2)]
    rows = torch.tensor([1, 0])  # sequence i reads bound window rows[i]
    scores, hidden = runtime.alignment(padded(sequences), heads, rows)
    assert scores.shape == (2, 3, 8, 1500)
    for i, sequence in enumerate(sequences):
        logits, cross = hf_forward(model, states[int(rows[i])], sequence, attentions=True)
        for h, (layer, head) in enumerate(heads):
            torch.testing.assert_close(scores[i, h, : len(sequence)].softmax(dim=-1), cross[layer][0, head],
                                       atol=1e-5, rtol=0)
        torch.testing.assert_close(runtime.logits(hidden[i, : len(sequence)]), logits, atol=ATOL, rtol=0)


@torch.inference_mode()
def test_alignment_does_not_disturb_the_decoding_caches(model, transposed):
    states = encoder_states(1, seed=7)
    runtime = DecoderRuntime(model, capacity=2, keys_transposed=transposed)
    runtime.bind(states)
    runtime.prefill(torch.tensor([PREFIXES[0]]))
    runtime.alignment(torch.tensor([[50258, 7, 8, 9, 10, 11, 12, 13, 14, 15]]), [(1, 0)], torch.tensor([0]))
    logits = runtime.step(torch.tensor([20]), torch.tensor([len(PREFIXES[0])]))
    torch.testing.assert_close(logits[0], hf_forward(model, states[0], PREFIXES[0] + [20])[-1], atol=ATOL, rtol=0)


def test_shapes_the_runtime_cannot_hold_are_refused(model, transposed):
    runtime = DecoderRuntime(model, capacity=2, keys_transposed=transposed)
    with pytest.raises(ValueError, match="capacity 2"):
        runtime.bind(encoder_states(3))
    with pytest.raises(ValueError, match="1500 sources"):
        runtime.bind(torch.randn(1, 1499, 64))
    runtime.bind(encoder_states(1))
    with pytest.raises(ValueError, match="448 positions"):
        runtime.prefill(torch.zeros(1, 449, dtype=torch.long))


# ---- greedy decoding against a plain greedy loop over transformers ----------------------------------------------


def reference_greedy(model, vocabulary: Vocabulary, states: torch.Tensor, prefix: tuple[int, ...], sot_index: int,
                     timestamps: bool, max_new_tokens: int, min_new_tokens: int = 0) -> DecodedWindow:
    """Greedy decoding the plain way: the whole sequence through transformers at every step, the logit rules on
    its last logits, the likeliest allowed token; the log-probabilities summed over every sampled token, end of text
    included (openai's GreedyDecoder); the no-speech probability read at <|startoftranscript|>."""
    rules = LogitRules(vocabulary, model.config.vocab_size, torch.device("cpu"))
    tokens, total = list(prefix), 0.0
    no_speech = float(hf_forward(model, states, tokens)[sot_index].softmax(-1)[vocabulary.no_speech])
    for _ in range(max_new_tokens):
        sampled = tokens[len(prefix):]
        stamps = [t for t in sampled if t >= vocabulary.timestamp_begin]
        row = RowState(history=torch.tensor([tokens]), length=torch.tensor([len(tokens)]),
                       sample_begin=torch.tensor([len(prefix)]), timestamps=torch.tensor([timestamps]),
                       last_timestamp=torch.tensor([stamps[-1] if stamps else -1]),
                       min_new=torch.tensor([min_new_tokens]))
        logits = rules.apply(hf_forward(model, states, tokens)[-1:], row, timestamps, min_new_tokens > 0)[0]
        choice = int(logits.argmax())
        total += float(logits.log_softmax(-1)[choice])
        tokens.append(choice)
        if choice == vocabulary.eot:
            break
    sampled = tokens[len(prefix):]
    ended = bool(sampled) and sampled[-1] == vocabulary.eot
    return DecodedWindow(tuple(sampled[:-1] if ended else sampled), total, no_speech, 0.0, ended)


def windows(vocabulary: Vocabulary):
    """Four windows of one batch: text and timestamp mode, four languages, with and without a prompt."""
    prefixes = [
        vocabulary.initial_tokens("en", "transcribe", timestamps=False),
        vocabulary.initial_tokens("de", "translate", timestamps=True),
        vocabulary.initial_tokens("ja", "transcribe", timestamps=True, prompt=(1770, 13, 400)),
        vocabulary.initial_tokens(None, "transcribe", timestamps=False, prompt=(220, 1000)),
    ]
    return prefixes, [False, True, True, False]


CASES = [("random", 0, 3), ("eot-prone", 2, 0), ("eot-prone", 2, 12)]  # model, seed of the states, min_new
MAX_NEW = 14


def case_model(request, name: str):
    return request.getfixturevalue("model" if name == "random" else "eot_prone_model")


@pytest.fixture(scope="module")
def decoded(request, vocabulary) -> dict[tuple, list[DecodedWindow]]:
    """Our greedy decoding of the four windows, per case."""
    prefixes, timestamps = windows(vocabulary)
    return {case: our_decode(case_model(request, case[0]), vocabulary, encoder_states(4, seed=10 + case[1]),
                             prefixes, timestamps, MAX_NEW, case[2]) for case in CASES}


@pytest.mark.parametrize("case", CASES, ids=["-".join(map(str, case)) for case in CASES])
def test_greedy_decoding_picks_what_a_plain_greedy_loop_over_transformers_picks(request, vocabulary, decoded, case):
    name, seed, min_new = case
    model = case_model(request, name)
    states = encoder_states(4, seed=10 + seed)
    prefixes, timestamps = windows(vocabulary)
    for row, ((prefix, sot_index), ts) in enumerate(zip(prefixes, timestamps)):
        got = decoded[case][row]
        expected = reference_greedy(model, vocabulary, states[row], prefix, sot_index, ts, MAX_NEW, min_new)
        assert got.tokens == expected.tokens, row
        assert got.ended == expected.ended
        assert got.sum_logprob == pytest.approx(expected.sum_logprob, abs=1e-3)
        assert got.no_speech_prob == pytest.approx(expected.no_speech_prob, abs=1e-5)
        assert got.temperature == 0.0


def test_the_greedy_comparison_covers_timestamps_text_min_new_and_both_endings(vocabulary, decoded):
    """The comparison above is a specification only if its windows hold timestamps and text, end both ways within
    one batch, and the minimum length holds an end back."""
    seen = {"timestamp": False, "text": False, "ended": False, "cut": False, "mixed batch": False, "held": False}
    for (_, _, min_new), windows_ in decoded.items():
        for window in windows_:
            seen["timestamp"] |= any(t >= vocabulary.timestamp_begin for t in window.tokens)
            seen["text"] |= any(t < vocabulary.eot for t in window.tokens)
            seen["ended" if window.ended else "cut"] = True
            seen["held"] |= window.ended and len(window.tokens) == min_new > 0
        seen["mixed batch"] |= len({w.ended for w in windows_}) == 2
    assert all(seen.values()), seen


# ---- the whole decoder against transformers' generate -----------------------------------------------------------


@torch.inference_mode()
def test_whisper_decoder_greedy_tokens_equal_transformers_generate(request, tiny_random_dir):
    """Our WhisperDecoder (as the runner builds it, on the CPU) and ``model.generate`` choose the same tokens for the
    same encoder states, one language per row, text mode, within the same length limit; on the end-of-text-prone
    copy one row ends early in a batch whose other rows run to the limit. generate returns the sampled tokens (and
    pads ended rows); the forced and end-of-text tokens are left out as benchmarks/gpu_probe.py::check_tokens does."""
    from transformers import WhisperProcessor
    from transformers.modeling_outputs import BaseModelOutput

    from serving.engine.decoding import EngineOptions, WhisperDecoder
    from serving.engine.loading import LoadedModel
    from serving.engine.placement import Placement

    processor = WhisperProcessor.from_pretrained(tiny_random_dir)
    languages = ["en", "de", "ja", "fr"]
    endings = set()
    for name in ("random", "eot-prone"):
        model = case_model(request, name)
        loaded = LoadedModel(model, processor, Placement(torch.device("cpu"), torch.float32, 0))
        decoder = WhisperDecoder(loaded, EngineOptions(capacity=4, max_new_tokens=MAX_NEW, cuda_graphs=False))
        vocabulary = decoder.vocabulary
        states = encoder_states(4, seed=12)
        ours = decoder.decode(states, [decoder.window_prompt(language, "transcribe", (), False, 0.0)
                                       for language in languages])
        generated = model.generate(encoder_outputs=BaseModelOutput(last_hidden_state=states), language=languages,
                                   task="transcribe", max_new_tokens=MAX_NEW, return_timestamps=False)
        theirs = [tuple(t for t in row if t < vocabulary.eot or t >= vocabulary.timestamp_begin)
                  for row in generated.tolist()]
        assert [window.tokens for window in ours] == theirs, name
        assert len({window.tokens for window in ours}) > 1  # the rows differ: the comparison is per row
        endings |= {(window.ended, len(window.tokens) == MAX_NEW) for window in ours}
    assert endings == {(True, False), (False, True)}  # windows that ended before the limit, and cut by it


def test_the_cpu_encoder_runs_a_window_at_a_time_to_the_same_states(model, tiny_random_dir):
    from transformers import WhisperProcessor

    from serving.engine.decoding import CPU_ENCODER_WINDOWS, EngineOptions, WhisperDecoder
    from serving.engine.loading import LoadedModel
    from serving.engine.placement import Placement

    loaded = LoadedModel(model, WhisperProcessor.from_pretrained(tiny_random_dir),
                         Placement(torch.device("cpu"), torch.float32, 0))
    decoder = WhisperDecoder(loaded, EngineOptions(capacity=4, cuda_graphs=False))
    features = torch.randn(3, model.config.num_mel_bins, 3000, generator=torch.Generator().manual_seed(3))
    passes = []
    hook = decoder.encoder.register_forward_hook(lambda module, args, kwargs, out: passes.append(
        kwargs["input_features"].shape[0]), with_kwargs=True)
    try:
        chunked = decoder.encode(features)
    finally:
        hook.remove()
    with torch.inference_mode():
        whole = decoder.encoder(input_features=features).last_hidden_state
    assert sum(passes) == 3 and max(passes) <= CPU_ENCODER_WINDOWS < 3  # the windows, a few at a time
    assert chunked.shape == whole.shape and torch.equal(chunked, whole)
