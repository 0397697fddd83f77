"""Java's collections and strings as DJL's Java side uses them: ``Input``'s case-insensitive properties
(``TreeMap(String.CASE_INSENSITIVE_ORDER)``), the ``Input`` itself before it goes to Python, ``String.trim`` and
``String.split``.

Java ``Input`` properties are case-insensitively unique (first spelling kept, last value wins) and reach Python sorted
case-insensitively. The initial (model-load) Input instead uses a ``ConcurrentHashMap`` (case-sensitive, unspecified
order); here it is kept in insertion order (a plain ``dict`` as ``JavaInput.properties``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Union


def _java_ci_char(c: str) -> str:
    # String.CASE_INSENSITIVE_ORDER compares toLowerCase(toUpperCase(c)) per char
    upper = c.upper()
    if len(upper) != 1:
        upper = c
    lower = upper.lower()
    return lower if len(lower) == 1 else upper


def _java_ci_key(text: str) -> tuple:
    return tuple(ord(_java_ci_char(c)) for c in text)


class JavaProperties:
    """``new TreeMap<String, String>(String.CASE_INSENSITIVE_ORDER)``."""

    def __init__(self, items: Iterable[tuple] = ()):
        self._entries: dict[tuple, list] = {}
        for key, value in items:
            self.put(key, value)

    def put(self, key: str, value: str) -> None:
        slot = self._entries.get(_java_ci_key(key))
        if slot is None:
            self._entries[_java_ci_key(key)] = [key, value]
        else:  # TreeMap.put keeps the stored key, replaces the value
            slot[1] = value

    def get(self, key: str, default=None):
        slot = self._entries.get(_java_ci_key(key))
        return default if slot is None else slot[1]

    def __contains__(self, key: str) -> bool:
        return _java_ci_key(key) in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def items(self) -> list[tuple]:
        return [tuple(self._entries[k]) for k in sorted(self._entries)]

    def to_dict(self) -> dict:
        return dict(self.items())


@dataclass
class JavaInput:
    """An ``ai.djl.modality.Input`` as the Java side holds it before it goes to Python."""

    properties: Union[JavaProperties, dict] = field(default_factory=JavaProperties)
    content: list = field(default_factory=list)  # [(key or None, bytes)]

    def add_property(self, key: str, value: str) -> None:
        if isinstance(self.properties, JavaProperties):
            self.properties.put(key, value)
        else:
            self.properties[key] = value

    def get_property(self, key: str, default=None):
        return self.properties.get(key, default)

    def copy(self) -> "JavaInput":
        if isinstance(self.properties, JavaProperties):
            props = JavaProperties(self.properties.items())
        else:
            props = dict(self.properties)
        clone = JavaInput(props, list(self.content))
        clone.__dict__.update({k: v for k, v in self.__dict__.items()
                               if k not in ("properties", "content")})
        return clone

    def add(self, key, value: Union[bytes, str]) -> None:
        if isinstance(value, str):
            value = value.encode("utf-8")
        self.content.append((key, bytes(value)))


_JAVA_TRIM_CHARS = "".join(chr(i) for i in range(0x21))


def java_trim(text: str) -> str:
    """``String.trim()``: strips code points <= U+0020 only."""
    return text.strip(_JAVA_TRIM_CHARS)


def java_split(text: str, sep: str) -> list[str]:
    """``String.split(sep)``: trailing empty strings are removed."""
    parts = text.split(sep)
    while parts and parts[-1] == "":
        parts.pop()
    return parts if parts else ([text] if text == "" else [])
