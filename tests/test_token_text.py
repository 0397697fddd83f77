"""Specification of ``serving.engine.token_text.TokenText`` against the model's own tokenizer (the tiny random
model's, which is whisper-base's multilingual tokenizer).

``decode`` must equal the tokenizer's byte-level decoding (``convert_tokens_to_string``: the tokens' bytes joined and
read as UTF-8 with replacement, as openai/whisper's tiktoken decoding does). ``split_words`` must split as
openai/whisper's ``Tokenizer.split_tokens_on_unicode`` / ``split_tokens_on_spaces`` (whisper/tokenizer.py, release
20250625), restated below over the tokenizer's decoding.
"""

from __future__ import annotations

import random
import string

import pytest

from serving.engine.token_text import NO_SPACE_LANGUAGES, PlainText, TokenText

REPLACEMENT = "\ufffd"
SENTENCES = {
    "en": " Hello, world! It's 3:45 p.m. (roughly) - isn't it?",
    "de": " Größere Übungen für Äpfel, öfter: ß.",
    "fr": " « Où est-ce que tu vas ? » dit-il, très ému…",
    "ja": "こんにちは世界。今日はいい天気ですね！",
    "zh": "我们今天去公园散步，好吗？",
    "th": "สวัสดีครับ ยินดีที่ได้รู้จัก",
    "ru": " Привет, как дела? Всё хорошо.",
    "emoji": " We won 🎉🎉 and then 👍🏽 ok",
}


@pytest.fixture(scope="module")
def tokenizer(tiny_random_dir):
    from transformers import WhisperProcessor

    return WhisperProcessor.from_pretrained(tiny_random_dir).tokenizer


@pytest.fixture(scope="module")
def eot(tokenizer) -> int:
    return tokenizer.convert_tokens_to_ids("<|endoftext|>")


@pytest.fixture(scope="module")
def text(tokenizer, eot) -> TokenText:
    return TokenText(tokenizer, eot)


def reference_decode(tokenizer, tokens) -> str:
    return tokenizer.convert_tokens_to_string(tokenizer.convert_ids_to_tokens(list(tokens)))


def reference_split(tokenizer, tokens: list[int], language: str) -> list[tuple[str, tuple[int, ...]]]:
    """openai's split_to_word_tokens for text tokens: pieces end where the tokens so far decode without a
    replacement character, or where the whole text has a real one at that place; then, for languages written with
    spaces, a piece joins the previous word unless it starts with a space or is punctuation."""
    full = reference_decode(tokenizer, tokens)
    pieces, pending, offset = [], [], 0
    for token in tokens:
        pending.append(token)
        decoded = reference_decode(tokenizer, pending)
        if REPLACEMENT not in decoded or full[offset + decoded.index(REPLACEMENT)] == REPLACEMENT:
            pieces.append((decoded, tuple(pending)))
            pending, offset = [], offset + len(decoded)
    if language in NO_SPACE_LANGUAGES:
        return pieces
    words: list[tuple[str, tuple[int, ...]]] = []
    for piece, piece_tokens in pieces:
        if piece.startswith(" ") or piece.strip() in string.punctuation or not words:
            words.append((piece, piece_tokens))
        else:
            words[-1] = (words[-1][0] + piece, words[-1][1] + piece_tokens)
    return words


def encode(tokenizer, sentence: str) -> list[int]:
    return tokenizer.encode(sentence, add_special_tokens=False)


def split(text: TokenText, tokens: list[int], language: str) -> list[tuple[str, tuple[int, ...]]]:
    return [(w.text, w.tokens) for w in text.split_words(tokens, language)]


# ---- decode ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SENTENCES))
def test_decode_gives_back_the_encoded_text(tokenizer, text, name):
    tokens = encode(tokenizer, SENTENCES[name])
    assert text.decode(tokens) == SENTENCES[name]
    assert text.bytes_of(tokens) == SENTENCES[name].encode("utf-8")


def test_decode_equals_the_tokenizers_byte_level_decoding_on_any_token_soup(tokenizer, text, eot):
    rng = random.Random(0)
    for _ in range(300):
        tokens = [rng.randrange(eot) for _ in range(rng.randint(0, 12))]
        assert text.decode(tokens) == reference_decode(tokenizer, tokens), tokens


def test_special_and_timestamp_tokens_decode_to_nothing(tokenizer, text, eot):
    hello = encode(tokenizer, " Hello")
    sot, timestamp = tokenizer.convert_tokens_to_ids(["<|startoftranscript|>", "<|1.00|>"])
    assert text.decode([sot, *hello, timestamp, eot]) == " Hello"


def test_a_character_split_across_tokens_decodes_whole_only_with_all_its_tokens(tokenizer, text):
    tokens = encode(tokenizer, " 🎉")
    assert len(tokens) == 2  # the emoji's four bytes span two tokens
    assert text.decode(tokens) == " 🎉"
    assert REPLACEMENT in text.decode(tokens[:1]) and REPLACEMENT in text.decode(tokens[1:])


# ---- split_words -------------------------------------------------------------------------------------------------


def test_words_start_at_spaces_and_punctuation_is_a_word_of_its_own(tokenizer, text):
    words = split(text, encode(tokenizer, " Hello, world! Isn't it?"), "en")
    assert [w for w, _ in words] == [" Hello", ",", " world", "!", " Isn't", " it", "?"]  # "'t" is one token


def test_a_word_keeps_all_its_tokens(tokenizer, text):
    tokens = encode(tokenizer, " antidisestablishmentarianism")
    assert len(tokens) == 7
    assert split(text, tokens, "en") == [(" antidisestablishmentarianism", tuple(tokens))]


def test_a_character_split_across_tokens_stays_in_one_word(tokenizer, text):
    tokens = encode(tokenizer, " 🎉 party")
    words = split(text, tokens, "en")
    assert [w for w, _ in words] == [" 🎉", " party"]
    assert words[0][1] == tuple(tokens[:2])


def test_languages_without_spaces_split_at_every_whole_character_group(tokenizer, text):
    tokens = encode(tokenizer, "こんにちは世界")
    words = split(text, tokens, "ja")
    assert "".join(w for w, _ in words) == "こんにちは世界"
    assert len(words) == len(tokens) == 2  # each token here holds whole characters
    assert split(text, tokens, "en") == [("こんにちは世界", tuple(tokens))]  # the same text, split on spaces


def test_no_space_languages_are_openais():
    assert NO_SPACE_LANGUAGES == {"zh", "ja", "th", "lo", "my", "yue"}


@pytest.mark.parametrize("name", sorted(SENTENCES))
@pytest.mark.parametrize("language", ["en", "ja"])
def test_split_words_is_openais_split_on_real_text(tokenizer, text, name, language):
    tokens = encode(tokenizer, SENTENCES[name])
    words = split(text, tokens, language)
    assert words == reference_split(tokenizer, tokens, language)
    assert [t for _, ts in words for t in ts] == tokens


def test_split_words_is_openais_split_on_random_sentences(tokenizer, text):
    vocabulary = [w for sentence in SENTENCES.values() for w in sentence.split()] + ["🎉", "👍🏽", "x", "—", "..."]
    rng = random.Random(1)
    for _ in range(150):
        sentence = rng.choice(["", " "]) + " ".join(rng.choice(vocabulary) for _ in range(rng.randint(1, 8)))
        tokens = encode(tokenizer, sentence)
        for language in ("en", "zh"):
            assert split(text, tokens, language) == reference_split(tokenizer, tokens, language), sentence


def test_every_token_lands_in_exactly_one_word_whatever_the_tokens(text, eot):
    rng = random.Random(2)
    for _ in range(200):
        tokens = [rng.randrange(eot) for _ in range(rng.randint(0, 12))]
        for language in ("en", "ja"):
            assert [t for w in text.split_words(tokens, language) for t in w.tokens] == tokens


def test_an_unfinished_character_followed_by_a_new_word_is_a_word_of_its_own(tokenizer, text):
    """openai ends a piece where the whole text has a real replacement character (an unfinished character followed
    by other bytes): a broken character followed by ' w' makes ' \\ufffd' and ' w', not one word ' \\ufffd w'."""
    broken = encode(tokenizer, " 🎉")[:1]  # the first three of the emoji's four bytes
    tokens = broken + encode(tokenizer, " w")
    assert split(text, tokens, "en") == reference_split(tokenizer, tokens, "en")
    assert [w for w, _ in split(text, tokens, "en")] == [" " + REPLACEMENT, " w"]


# --- text -> ids as plain text (prompts) ----------------------------------------------------------------------

CONTROL_TEXT = [" <|translate|>", "<|en|>", " Hallo <|transcribe|><|de|> Welt", "<|endoftext|>", "<|0.00|> x <|30.00|>",
                "<|<|notimestamps|>|>", "<|nospeech|><|startoflm|><|startofprev|><|startoftranscript|>"]


@pytest.mark.parametrize("prompt", CONTROL_TEXT)
def test_special_token_text_is_encoded_as_the_text_it_is(tokenizer, eot, text, prompt):
    assert max(tokenizer.encode(prompt, add_special_tokens=False)) >= eot  # what the tokenizer alone does
    ids = PlainText(tokenizer).encode(prompt)
    assert max(ids) < eot
    assert text.decode(ids) == prompt


def test_every_added_token_of_the_tokenizer_stays_text(tokenizer, eot, text):
    every = " ".join(tokenizer.get_added_vocab()) + "".join(tokenizer.get_added_vocab())
    ids = PlainText(tokenizer).encode(every)
    assert max(ids) < eot
    assert text.decode(ids) == every


@pytest.mark.parametrize("language", sorted(SENTENCES))
def test_ordinary_text_is_encoded_as_the_tokenizer_encodes_it(tokenizer, language):
    sentence = SENTENCES[language]
    assert PlainText(tokenizer).encode(sentence) == tokenizer.encode(sentence, add_special_tokens=False)


def test_the_pieces_cut_each_special_token_after_its_first_character(tokenizer):
    assert PlainText(tokenizer).pieces(" a <|en|> b") == [" a <", "|en|> b"]
    assert PlainText(tokenizer).pieces(" no control text, <| |> nor <|xx|>") == [" no control text, <| |> nor <|xx|>"]


@pytest.mark.real_model
def test_the_real_models_tokenizer_keeps_control_text_as_text(whisper_base_dir):
    from transformers import WhisperProcessor

    tokenizer = WhisperProcessor.from_pretrained(whisper_base_dir).tokenizer
    eot = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    every = "".join(tokenizer.get_added_vocab())
    ids = PlainText(tokenizer).encode(every)
    assert max(ids) < eot
    assert TokenText(tokenizer, eot).decode(ids) == every
