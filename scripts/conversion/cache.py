"""Built models cached on disk, one directory per cache key, each built atomically: a build goes to a temporary
directory beside the target and is renamed into place when complete, so a killed build never leaves a half cache and
two concurrent builds both end up using whichever rename came first. A directory counts as complete when its
``build_info.json`` holds the key and every required file is there."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

logger = logging.getLogger(__name__)

BUILD_INFO = "build_info.json"
_STALE_BUILD_SECONDS = 3600


def cache_root(cache_dir: Path | None = None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get("WHISPER_LMI_CACHE"):
        return Path(os.environ["WHISPER_LMI_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg).expanduser() / "whisper-lmi"


def is_complete(directory: Path, key: str, required: Sequence[str]) -> bool:
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


def _discard_invalid(target: Path, key: str, required: Sequence[str]) -> None:
    """A target without a matching build_info (not made by this code, or tampered with) is moved away and deleted."""
    if not target.exists() or is_complete(target, key, required):
        return
    aside = target.with_name(f".{target.name}.build-invalid-{os.getpid()}")
    logger.warning("replacing an incomplete cache directory %s", target)
    try:
        os.rename(target, aside)
    except FileNotFoundError:  # another process moved it first
        return
    shutil.rmtree(aside, ignore_errors=True)


def _publish(build_dir: Path, target: Path, key: str, required: Sequence[str]) -> bool:
    """Rename the finished build into place (False: a complete target appeared meanwhile, and wins)."""
    _discard_invalid(target, key, required)
    try:
        os.rename(build_dir, target)
        return True
    except OSError:
        if not is_complete(target, key, required):
            raise
        shutil.rmtree(build_dir, ignore_errors=True)
        return False


def ensure_built(target: Path, key: str, build: Callable[[Path], dict], required: Sequence[str]) -> Path:
    """Return ``target`` once it holds a complete build for ``key``, building it atomically if needed."""
    if is_complete(target, key, required):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_builds(target)
    build_dir = Path(tempfile.mkdtemp(prefix=f".{target.name}.build-", dir=target.parent))
    started = time.perf_counter()
    try:
        info = build(build_dir)
        write_json(build_dir / BUILD_INFO, {"key": key, **info})
        make_readable(build_dir)
        published = _publish(build_dir, target, key, required)
    except BaseException:
        shutil.rmtree(build_dir, ignore_errors=True)
        raise
    if published:
        logger.info("built %s in %.1f s", target, time.perf_counter() - started)
    else:
        logger.info("another process finished %s first; using its copy", target)
    return target


def make_readable(directory: Path) -> None:
    """mkdtemp makes the directory 0700 and safetensors writes 0600: a cache of public weights is world-readable."""
    directory.chmod(0o755)
    for path in directory.iterdir():
        path.chmod(0o644)


def write_json(path: Path, content: object) -> None:
    path.write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_files(directory: Path, files: dict[str, object]) -> None:
    for name, content in files.items():
        if isinstance(content, str):
            (directory / name).write_text(content, encoding="utf-8")
        else:
            write_json(directory / name, content)
