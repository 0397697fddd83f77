"""``package``: assemble the model artifact directory from the template and the installed ``serving``; validate it."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from whisper_lmi.artifact.layout import (
    EXCLUDED_DIR_NAMES,
    EXCLUDED_SERVING_PACKAGES,
    EXCLUDED_SUFFIXES,
    PROPERTIES_FILE,
    REQUIREMENTS_FILE,
    SERVING_PACKAGE,
    TEMPLATE_DIR,
    serving_source,
)
from whisper_lmi.artifact.validate import validate
from whisper_lmi.errors import WhisperLmiError

DEFAULT_ARTIFACT_DIR = Path("build") / "sagemaker-artifact"


@dataclass(frozen=True)
class PackageOptions:
    output_dir: Path = DEFAULT_ARTIFACT_DIR
    # A folder laid out like an artifact (serving.properties, requirements.txt, serving/) to package instead of the
    # shipped template and the installed serving package; the VAD model comes from the template either way.
    source_dir: Path | None = None


def package(options: PackageOptions) -> list[Path]:
    """Fill a fresh ``output_dir``: serving/ (without stand-ins and caches), the template's files over it; validate;
    return the files, relative and sorted."""
    out = options.output_dir
    _prepare_output(out)
    source = options.source_dir
    serving = source / SERVING_PACKAGE if source is not None else serving_source()
    shutil.copytree(serving, out / SERVING_PACKAGE, ignore=_not_shipped(serving))
    shutil.copytree(TEMPLATE_DIR, out, dirs_exist_ok=True, ignore=_caches)
    if source is not None:
        for name in (PROPERTIES_FILE, REQUIREMENTS_FILE):
            shutil.copy2(source / name, out / name)
    validate(out)
    return artifact_files(out)


def artifact_files(root: Path) -> list[Path]:
    """Files of an artifact directory, relative, sorted; caches and bytecode left out."""
    return [path.relative_to(root) for path in sorted(root.rglob("*"))
            if path.is_file() and not _excluded(path.relative_to(root))]


def _excluded(relative: Path) -> bool:
    return any(part in EXCLUDED_DIR_NAMES for part in relative.parts) or relative.suffix in EXCLUDED_SUFFIXES


_caches = shutil.ignore_patterns(*EXCLUDED_DIR_NAMES, *(f"*{suffix}" for suffix in EXCLUDED_SUFFIXES))


def _not_shipped(serving_dir: Path):
    """``copytree``'s ``ignore``: caches and bytecode anywhere, the stand-in packages at the top of ``serving/``."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        ignored = set(_caches(directory, names))
        if Path(directory) == serving_dir:
            ignored |= EXCLUDED_SERVING_PACKAGES & set(names)
        return ignored

    return ignore


def _prepare_output(out: Path) -> None:
    if out.exists():
        if any(out.iterdir()) and not (out / PROPERTIES_FILE).is_file():
            raise WhisperLmiError(f"{out} exists and is not an artifact directory; choose another --output")
        shutil.rmtree(out)
    out.mkdir(parents=True)
