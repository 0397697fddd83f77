"""Token ids -> text, and token ids -> words, from the tokenizer's byte-level vocabulary read once; and text ->
token ids as plain text only (:class:`PlainText`: a prompt never becomes control tokens).

Whisper's tokenizer is byte-level BPE: each token is a byte string. Decoding joins the bytes and reads them as UTF-8
(as openai/whisper and faster-whisper do), with no per-call tokenizer overhead. Words are split as openai/whisper
splits them for word timestamps: at token boundaries that complete a UTF-8 character, then at spaces and punctuation
(languages written without spaces keep the character-level split).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

NO_SPACE_LANGUAGES = frozenset({"zh", "ja", "th", "lo", "my", "yue"})
REPLACEMENT = "\ufffd"


@dataclass(frozen=True)
class WordTokens:
    text: str
    tokens: tuple[int, ...]


class TokenText:
    def __init__(self, tokenizer, first_special: int) -> None:
        """``first_special``: the first id that is not text (end of text); ids from there on decode to nothing."""
        decoder = _byte_decoder()
        pieces = tokenizer.convert_ids_to_tokens(list(range(first_special)))
        self._bytes: list[bytes] = [bytes(decoder[ch] for ch in piece) for piece in pieces]
        self.first_special = first_special

    def decode(self, tokens) -> str:
        return self.bytes_of(tokens).decode("utf-8", errors="replace")

    def bytes_of(self, tokens) -> bytes:
        table, limit = self._bytes, self.first_special
        return b"".join(table[t] for t in tokens if t < limit)

    def split_words(self, tokens: list[int], language: str) -> list[WordTokens]:
        """Text tokens -> words, each with its tokens (leading space kept, as in the transcript)."""
        pieces = self._split_on_characters(tokens)
        if language in NO_SPACE_LANGUAGES:
            return pieces
        words: list[WordTokens] = []
        for piece in pieces:
            starts_word = piece.text.startswith(" ") or piece.text.strip() in string.punctuation
            if starts_word or not words:
                words.append(piece)
            else:
                last = words[-1]
                words[-1] = WordTokens(last.text + piece.text, last.tokens + piece.tokens)
        return words

    def _split_on_characters(self, tokens: list[int]) -> list[WordTokens]:
        """Group tokens so that each group's bytes end on a whole UTF-8 character: a group whose text has a
        replacement character ends there only if the whole text has one at that place too (openai's
        ``split_tokens_on_unicode``: an unfinished character that the next tokens do not finish ends its group)."""
        whole = self.decode(tokens)
        groups: list[WordTokens] = []
        pending: list[int] = []
        offset = 0  # characters of the whole text in the groups so far
        for token in tokens:
            pending.append(token)
            text = self.decode(pending)
            position = offset + text.find(REPLACEMENT)
            if REPLACEMENT not in text or (position < len(whole) and whole[position] == REPLACEMENT):
                groups.append(WordTokens(text, tuple(pending)))
                offset += len(text)
                pending = []
        if pending:
            groups.append(WordTokens(self.decode(pending), tuple(pending)))
        return groups


def _byte_decoder() -> dict[str, int]:
    """GPT-2's reversible byte <-> printable character table, inverted."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return {chr(code): byte for byte, code in zip(printable, codes)}


class PlainText:
    """Text -> token ids, as text only: the text of a special token (``<|translate|>``, ``<|en|>``, ``<|0.00|>``...)
    is encoded as the characters it is made of, never as the special id (which a tokenizer's ``encode`` gives, and
    which would steer the decoder: ``prompt="<|translate|>"`` translated German speech).

    Each occurrence of an added token's text is cut after its first character and the pieces are encoded one by one:
    no piece holds a whole added token, so the tokenizer's added-token matching finds none.
    """

    def __init__(self, tokenizer) -> None:
        self._tokenizer = tokenizer
        added = sorted(tokenizer.get_added_vocab(), key=len, reverse=True)
        self._added = re.compile("|".join(map(re.escape, added))) if added else None

    def encode(self, text: str) -> list[int]:
        return [i for piece in self.pieces(text) for i in self._tokenizer.encode(piece, add_special_tokens=False)]

    def pieces(self, text: str) -> list[str]:
        """The text cut so that no piece holds an added token's text (one piece where it holds none)."""
        pieces = []
        while self._added is not None and (found := self._added.search(text)) is not None:
            cut = found.start() + 1
            pieces.append(text[:cut])
            text = text[cut:]
        return [*pieces, text]
