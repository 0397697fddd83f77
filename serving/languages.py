"""Whisper's languages: codes, English names, and turning either into the code."""

from __future__ import annotations

from transformers.models.whisper.tokenization_whisper import LANGUAGES, TO_LANGUAGE_CODE

from serving.errors import BadParameter


def language_code(value: str) -> str:
    """'en', 'EN', 'english' or 'English' -> 'en'; anything else is a bad parameter naming the accepted values."""
    key = value.strip().lower()
    if key in LANGUAGES:
        return key
    if key in TO_LANGUAGE_CODE:
        return TO_LANGUAGE_CODE[key]
    raise BadParameter(
        f"language {value!r} is not supported: use a Whisper language code or English name "
        f"({', '.join(sorted(LANGUAGES))})"
    )


def language_token(code: str) -> str:
    return f"<|{code}|>"


def code_of_token(token: str) -> str:
    return token.strip("<|>")
