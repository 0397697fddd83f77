"""Whisper's special tokens, read once from the model's tokenizer and generation config, and the initial token
sequences (the decoder prompt) built from them."""

from __future__ import annotations

from dataclasses import dataclass

from serving.constants import SECONDS_PER_TIMESTAMP
from serving.errors import BadParameter
from serving.languages import LANGUAGES

MAX_INITIAL_TIMESTAMP_SECONDS = 1.0  # the first timestamp of a window may not be later than this (openai/whisper)
ENGLISH = "en"  # the one language of an English-only model, and the prefix's language when a request names none


@dataclass(frozen=True)
class Vocabulary:
    """Token ids the decoder needs; every id comes from the model's own files, none is hard-coded."""

    eot: int
    sot: int
    sot_prev: int
    no_timestamps: int
    no_speech: int | None
    timestamp_begin: int
    size: int
    tasks: dict[str, int]
    languages: dict[str, int]  # code -> token id; empty for English-only models
    suppress: tuple[int, ...]  # never sampled
    suppress_at_begin: tuple[int, ...]  # not sampled as the first token (blank and end of text)

    @property
    def multilingual(self) -> bool:
        return bool(self.languages)

    @property
    def known_languages(self) -> tuple[str, ...]:
        """The codes of the languages the model can be told to use, sorted (English-only models: English)."""
        return tuple(sorted(self.languages)) if self.multilingual else (ENGLISH,)

    def require_language(self, language: str | None) -> None:
        """A language a request forces must be one of the model's: another (``yue`` on whisper-base, which has 99
        languages without Cantonese) is the client's problem, a :class:`BadParameter` naming those it has."""
        if language is None or language in self.known_languages:
            return
        known = self.known_languages
        raise BadParameter(
            f"language {language!r} ({LANGUAGES.get(language, 'unknown')}) is not one this model knows; it knows "
            f"{len(known)}: {', '.join(known)}"
        )

    @property
    def max_initial_timestamp_index(self) -> int:
        return round(MAX_INITIAL_TIMESTAMP_SECONDS / SECONDS_PER_TIMESTAMP)

    def initial_tokens(
        self, language: str | None, task: str, timestamps: bool, prompt: tuple[int, ...] = ()
    ) -> tuple[tuple[int, ...], int]:
        """The decoder's forced prefix and the index of <|startoftranscript|> in it.

        ``[<|startofprev|> prompt...] <|startoftranscript|> [<|lang|> <|task|>] [<|notimestamps|>]``
        """
        head = (self.sot_prev, *prompt) if prompt else ()
        body: tuple[int, ...] = (self.sot,)
        if self.multilingual:
            body += (self.languages[language or ENGLISH], self.tasks[task])
        if not timestamps:
            body += (self.no_timestamps,)
        return head + body, len(head)


def load_vocabulary(tokenizer, generation_config) -> Vocabulary:
    """Build the vocabulary from a transformers Whisper tokenizer and generation config."""
    ids = tokenizer.convert_tokens_to_ids
    lang_to_id = getattr(generation_config, "lang_to_id", None) or {}
    multilingual = bool(getattr(generation_config, "is_multilingual", False)) and bool(lang_to_id)
    no_speech = _first_known(ids, ("<|nospeech|>", "<|nocaptions|>"), tokenizer.unk_token_id)
    no_timestamps = generation_config.no_timestamps_token_id
    eot = generation_config.eos_token_id
    blank = tuple(tokenizer.encode(" ", add_special_tokens=False))
    return Vocabulary(
        eot=eot,
        sot=generation_config.decoder_start_token_id,
        sot_prev=generation_config.prev_sot_token_id,
        no_timestamps=no_timestamps,
        no_speech=no_speech,
        timestamp_begin=no_timestamps + 1,
        size=len(tokenizer),
        tasks=dict(getattr(generation_config, "task_to_id", None) or {}) if multilingual else {},
        languages={code_of_token(token): i for token, i in lang_to_id.items()} if multilingual else {},
        suppress=_suppressed(generation_config, (no_speech, _first_known(ids, ("<|startoflm|>",), tokenizer.unk_token_id))),
        suppress_at_begin=tuple(sorted({*blank, eot})),
    )


def _first_known(ids, tokens: tuple[str, ...], unknown: int | None) -> int | None:
    for token in tokens:
        token_id = ids(token)
        if token_id is not None and token_id != unknown:
            return token_id
    return None


def _suppressed(generation_config, extra: tuple[int | None, ...]) -> tuple[int, ...]:
    """The model's suppress list plus the control tokens openai/whisper never samples: the task tokens, the start
    tokens, <|startoflm|> and <|nospeech|> (whose probability is read separately)."""
    tokens = set(getattr(generation_config, "suppress_tokens", None) or [])
    tokens |= set((getattr(generation_config, "task_to_id", None) or {}).values())
    tokens |= {generation_config.decoder_start_token_id, generation_config.prev_sot_token_id}
    tokens |= {token for token in extra if token is not None}
    return tuple(sorted(tokens))


def code_of_token(token: str) -> str:
    """'<|en|>' -> 'en'."""
    return token.strip("<|>")
