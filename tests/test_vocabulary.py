"""Specification of ``serving.engine.vocabulary``: every special id read from the model's tokenizer and generation
config (the tiny random model has whisper-base's), and the decoder prefix for every language, task, timestamp mode
and prompt, as openai/whisper builds it (``DecodingTask._get_initial_tokens``: ``[<|startofprev|> prompt...]`` then the
sot sequence) and as transformers' own tokenizer builds the sot sequence (``prefix_tokens``)."""

from __future__ import annotations

import copy
import itertools

import pytest

from serving.engine.vocabulary import Vocabulary, code_of_token, load_vocabulary
from serving.errors import BadParameter


@pytest.fixture(scope="module")
def tokenizer(tiny_random_dir):
    from transformers import WhisperProcessor

    return WhisperProcessor.from_pretrained(tiny_random_dir).tokenizer


@pytest.fixture(scope="module")
def generation_config(tiny_random_dir):
    from transformers import GenerationConfig

    return GenerationConfig.from_pretrained(tiny_random_dir)


@pytest.fixture(scope="module")
def vocabulary(tokenizer, generation_config) -> Vocabulary:
    return load_vocabulary(tokenizer, generation_config)


def token_id(tokenizer, token: str) -> int:
    found = tokenizer.convert_tokens_to_ids(token)
    assert tokenizer.convert_ids_to_tokens(found) == token  # a known token (Whisper's unknown is <|endoftext|>)
    return found


def test_every_special_id_is_the_tokenizers(tokenizer, vocabulary):
    ids = {name: token_id(tokenizer, token) for name, token in [
        ("eot", "<|endoftext|>"), ("sot", "<|startoftranscript|>"), ("sot_prev", "<|startofprev|>"),
        ("no_timestamps", "<|notimestamps|>"), ("no_speech", "<|nocaptions|>"), ("timestamp_begin", "<|0.00|>"),
    ]}
    assert {name: getattr(vocabulary, name) for name in ids} == ids
    assert vocabulary.tasks == {"transcribe": token_id(tokenizer, "<|transcribe|>"),
                                "translate": token_id(tokenizer, "<|translate|>")}
    assert token_id(tokenizer, "<|30.00|>") == vocabulary.timestamp_begin + 1500
    assert vocabulary.size == len(tokenizer)


def test_every_language_is_a_tokenizer_language_token(tokenizer, generation_config, vocabulary):
    assert vocabulary.multilingual and len(vocabulary.languages) == 99
    assert vocabulary.languages == {code: token_id(tokenizer, f"<|{code}|>") for code in vocabulary.languages}
    assert set(vocabulary.languages.values()) == set(generation_config.lang_to_id.values())
    assert {"en", "de", "ja", "zh", "haw", "jw", "su"} <= set(vocabulary.languages) and "yue" not in vocabulary.languages
    assert code_of_token("<|yue|>") == "yue"


def test_the_suppressed_tokens_are_openais(tokenizer, generation_config, vocabulary):
    """openai suppresses its non-speech tokens (the generation config's suppress_tokens), <|startoftranscript|>,
    <|startofprev|>, <|startoflm|> and <|nospeech|> (read apart); the task tokens are suppressed here too."""
    control = {token_id(tokenizer, t) for t in ("<|startoftranscript|>", "<|startofprev|>", "<|startoflm|>",
                                                 "<|nocaptions|>", "<|transcribe|>", "<|translate|>")}
    assert vocabulary.suppress == tuple(sorted(set(generation_config.suppress_tokens) | control))
    never = {vocabulary.eot, vocabulary.no_timestamps, *vocabulary.languages.values(),
             *range(vocabulary.timestamp_begin, vocabulary.size)}
    assert never.isdisjoint(vocabulary.suppress)


def test_blank_and_end_of_text_are_suppressed_at_the_beginning(tokenizer, vocabulary):
    assert vocabulary.suppress_at_begin == tuple(sorted({*tokenizer.encode(" ", add_special_tokens=False),
                                                          vocabulary.eot}))
    assert vocabulary.suppress_at_begin == (220, 50257)


def test_the_first_timestamp_limit_is_one_second(generation_config, vocabulary):
    assert vocabulary.max_initial_timestamp_index == generation_config.max_initial_timestamp_index == 50


LANGUAGES = ["en", "de", "ja", "zh", "haw", "jw", "su"]
PROMPTS = [(), (1770, 13), tuple(range(100, 323))]


@pytest.mark.parametrize("language, task, timestamps, prompt",
                         list(itertools.product(LANGUAGES, ["transcribe", "translate"], [False, True], PROMPTS)))
def test_the_initial_tokens_are_the_prompt_then_transformers_sot_sequence(
    tokenizer, vocabulary, language, task, timestamps, prompt
):
    tokenizer.set_prefix_tokens(language=language, task=task, predict_timestamps=timestamps)
    sot_sequence = tuple(tokenizer.prefix_tokens)
    head = (token_id(tokenizer, "<|startofprev|>"), *prompt) if prompt else ()
    assert vocabulary.initial_tokens(language, task, timestamps, prompt) == (head + sot_sequence, len(head))


def test_the_initial_tokens_spelled_out(tokenizer, vocabulary):
    ids = tokenizer.convert_tokens_to_ids
    sot, de, translate, no_ts, prev = ids(["<|startoftranscript|>", "<|de|>", "<|translate|>", "<|notimestamps|>",
                                           "<|startofprev|>"])
    assert vocabulary.initial_tokens("de", "translate", False) == ((sot, de, translate, no_ts), 0)
    assert vocabulary.initial_tokens("de", "translate", True) == ((sot, de, translate), 0)
    assert vocabulary.initial_tokens("de", "translate", True, (7, 8)) == ((prev, 7, 8, sot, de, translate), 3)


def test_without_a_language_the_prefix_is_english(vocabulary):
    for task, timestamps, prompt in itertools.product(["transcribe", "translate"], [False, True], PROMPTS):
        assert vocabulary.initial_tokens(None, task, timestamps, prompt) == \
            vocabulary.initial_tokens("en", task, timestamps, prompt)


def test_an_english_only_model_has_no_language_nor_task_token(tokenizer, generation_config):
    english_only = copy.deepcopy(generation_config)
    english_only.is_multilingual = False
    vocabulary = load_vocabulary(tokenizer, english_only)
    assert not vocabulary.multilingual and vocabulary.languages == {} and vocabulary.tasks == {}
    sot, no_ts, prev = tokenizer.convert_tokens_to_ids(["<|startoftranscript|>", "<|notimestamps|>",
                                                        "<|startofprev|>"])
    assert vocabulary.initial_tokens(None, "transcribe", True) == ((sot,), 0)
    assert vocabulary.initial_tokens("en", "transcribe", False) == ((sot, no_ts), 0)
    assert vocabulary.initial_tokens(None, "transcribe", False, (5,)) == ((prev, 5, sot, no_ts), 2)


def test_an_unknown_language_is_refused(vocabulary):
    with pytest.raises(KeyError):
        vocabulary.initial_tokens("xx", "transcribe", True)


@pytest.mark.parametrize("language", [None, "en", "de", "jw", "haw"])
def test_a_language_the_model_has_is_required_without_complaint(vocabulary, language):
    vocabulary.require_language(language)


def test_a_language_the_model_lacks_is_a_bad_parameter_naming_the_ones_it_has(vocabulary):
    assert "yue" not in vocabulary.languages  # whisper-base's 99 languages: Cantonese came with large-v3
    with pytest.raises(BadParameter) as caught:
        vocabulary.require_language("yue")
    message = str(caught.value)
    assert caught.value.status == 400
    assert message.startswith("language 'yue' (cantonese) is not one this model knows; it knows 99: af, am, ar, ")
    assert message.endswith(", yi, yo, zh") and ", en, " in message


def test_an_english_only_model_knows_only_english(tokenizer, generation_config):
    english_only = copy.deepcopy(generation_config)
    english_only.is_multilingual = False
    vocabulary = load_vocabulary(tokenizer, english_only)
    assert vocabulary.known_languages == ("en",)
    vocabulary.require_language("en")
    with pytest.raises(BadParameter, match="language 'de' \\(german\\) is not one this model knows; it knows 1: en$"):
        vocabulary.require_language("de")
