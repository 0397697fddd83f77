"""``package``: assemble the model artifact directory and validate it."""

from __future__ import annotations

import logging
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from scripts.djl.properties import read_properties
from whisper_lmi.sagemaker.constants import (
    ENTRY_POINT_KEY,
    EXCLUDED_DIR_NAMES,
    EXCLUDED_SERVING_PACKAGES,
    EXCLUDED_SUFFIXES,
    FORBIDDEN_REQUIREMENTS,
    MODEL_ID_KEY,
    PROJECT_ROOT,
    PROPERTIES_FILE,
    REQUIRED_PROPERTIES,
    REQUIREMENTS_FILE,
    SERVING_PACKAGE,
)
from whisper_lmi.errors import CliError
from serving.longform.vad import MODEL_FILE, find_model

logger = logging.getLogger(__name__)

TENSOR_PARALLEL_KEY = "option.tensor_parallel_degree"
VAD_KEY = "option.vad"
VAD_MODEL_KEY = "option.vad_model"
VAD_ASSET = f"assets/{MODEL_FILE}"
REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class PackageOptions:
    output_dir: Path
    source_dir: Path = PROJECT_ROOT
    model_id: str | None = None
    tensor_parallel_degree: str | None = None


def parse_properties(path: Path) -> dict[str, str]:
    try:
        return read_properties(path)
    except ValueError as exc:
        raise CliError(str(exc)) from None


def requirement_names(path: Path) -> list[str]:
    names = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0]
        match = REQUIREMENT_NAME.match(line)
        if match and not line.lstrip().startswith("-"):
            names.append(re.sub(r"[-_.]+", "-", match.group(1)).lower())
    return names


def artifact_files(root: Path) -> list[Path]:
    """Files of an artifact directory, relative, sorted; caches and bytecode left out."""
    files = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and not _excluded(relative):
            files.append(relative)
    return files


def _excluded(relative: Path) -> bool:
    return any(part in EXCLUDED_DIR_NAMES for part in relative.parts) or relative.suffix in EXCLUDED_SUFFIXES


def validate(artifact_dir: Path) -> dict[str, str]:
    """Check the artifact the way the container will use it; return its properties."""
    properties_path = artifact_dir / PROPERTIES_FILE
    if not properties_path.is_file():
        raise CliError(f"{artifact_dir}: no {PROPERTIES_FILE}; run `whisper-lmi package` first")
    properties = parse_properties(properties_path)
    for key, expected in REQUIRED_PROPERTIES.items():
        if properties.get(key) != expected:
            raise CliError(f"{PROPERTIES_FILE}: {key} must be {expected!r}, found {properties.get(key)!r}")
    entry_point = properties.get(ENTRY_POINT_KEY)
    if not entry_point or not (artifact_dir / entry_point).is_file():
        raise CliError(f"{PROPERTIES_FILE}: entry point {entry_point!r} is not a file in {artifact_dir}")
    requirements = artifact_dir / REQUIREMENTS_FILE
    names = set(requirement_names(requirements)) if requirements.is_file() else set()
    forbidden = sorted(names & FORBIDDEN_REQUIREMENTS)
    if forbidden:
        raise CliError(f"{REQUIREMENTS_FILE} lists {', '.join(forbidden)}: the LMI image has them; remove them")
    if properties.get(VAD_KEY, "silero") != "off":
        _validate_vad(artifact_dir, properties, names)
    stand_ins = sorted(name for name in EXCLUDED_SERVING_PACKAGES if (artifact_dir / SERVING_PACKAGE / name).exists())
    if stand_ins:
        raise CliError(f"{SERVING_PACKAGE}/{', '.join(stand_ins)} must not be shipped (a development stand-in); "
                       "run `whisper-lmi package` again")
    return properties


def _validate_vad(artifact_dir: Path, properties: dict[str, str], requirements: set[str]) -> None:
    if "onnxruntime" not in requirements:
        raise CliError(f"{VAD_KEY}=silero needs onnxruntime in {REQUIREMENTS_FILE}")
    if not properties.get(VAD_MODEL_KEY) and not (artifact_dir / SERVING_PACKAGE / VAD_ASSET).is_file():
        raise CliError(f"{VAD_KEY}=silero but {SERVING_PACKAGE}/{VAD_ASSET} is missing; run `whisper-lmi package`")


def set_option(artifact_dir: Path, key: str, value: str) -> None:
    """Rewrite (or add) ``key`` in the artifact's serving.properties, keeping comments.

    Options belong in the file: DJL lets serving.properties win over ``OPTION_*`` variables, and LMI fills in
    ``tensor_parallel_degree=max`` when the file leaves it out.
    """
    path = artifact_dir / PROPERTIES_FILE
    lines = path.read_text().splitlines()
    replaced = False
    for index, line in enumerate(lines):
        if line.strip().partition("=")[0].strip() == key:
            lines[index] = f"{key}={value}"
            replaced = True
    if not replaced:
        lines.append(f"{key}={value}")
    path.write_text("\n".join(lines) + "\n")
    logger.info("%s: %s=%s", path, key, value)


def set_model_id(artifact_dir: Path, model_id: str) -> None:
    set_option(artifact_dir, MODEL_ID_KEY, model_id)


def package(options: PackageOptions) -> list[Path]:
    """Copy serving.properties, serving/ (without the DJL stand-in) and requirements.txt into a fresh ``output_dir``;
    validate it."""
    out = options.output_dir
    _prepare_output(out)
    source = options.source_dir
    shutil.copy2(source / PROPERTIES_FILE, out / PROPERTIES_FILE)
    shutil.copy2(source / REQUIREMENTS_FILE, out / REQUIREMENTS_FILE)
    shutil.copytree(source / SERVING_PACKAGE, out / SERVING_PACKAGE, ignore=_not_shipped(source / SERVING_PACKAGE))
    _bundle_vad_model(out)
    if options.model_id:
        set_model_id(out, options.model_id)
    if options.tensor_parallel_degree:
        set_option(out, TENSOR_PARALLEL_KEY, options.tensor_parallel_degree)
    validate(out)
    return artifact_files(out)


def _not_shipped(serving_dir: Path):
    """``copytree``'s ``ignore``: caches and bytecode anywhere, the stand-in packages at the top of ``serving/``."""
    caches = shutil.ignore_patterns(*EXCLUDED_DIR_NAMES, *(f"*{s}" for s in EXCLUDED_SUFFIXES))

    def ignore(directory: str, names: list[str]) -> set[str]:
        ignored = set(caches(directory, names))
        if Path(directory) == serving_dir:
            ignored |= EXCLUDED_SERVING_PACKAGES & set(names)
        return ignored

    return ignore


def _bundle_vad_model(out: Path) -> None:
    """Copy the Silero VAD model into serving/assets/ when the artifact uses VAD (the default): the endpoint must not
    depend on faster-whisper or a download to find it."""
    properties = parse_properties(out / PROPERTIES_FILE)
    if properties.get(VAD_KEY, "silero") == "off" or properties.get(VAD_MODEL_KEY):
        return
    source = find_model(None)
    if source is None:
        raise CliError(
            f"{VAD_KEY}=silero needs {MODEL_FILE}: install the dev extra (faster-whisper ships it) or set {VAD_KEY}=off"
        )
    target = out / SERVING_PACKAGE / VAD_ASSET
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)


def _prepare_output(out: Path) -> None:
    if out.exists():
        if any(out.iterdir()) and not (out / PROPERTIES_FILE).is_file():
            raise CliError(f"{out} exists and is not an artifact directory; choose another --output")
        shutil.rmtree(out)
    out.mkdir(parents=True)
