"""Check an artifact directory the way the container will use it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from whisper_lmi.artifact.layout import (
    ENTRY_POINT_KEY,
    EXCLUDED_SERVING_PACKAGES,
    FORBIDDEN_REQUIREMENTS,
    PROPERTIES_FILE,
    REQUIRED_PROPERTIES,
    REQUIREMENTS_FILE,
    SERVING_PACKAGE,
    TEMPLATE_DIR,
    VAD_ASSETS,
)
from whisper_lmi.artifact.properties import read_properties
from whisper_lmi.artifact.requirements import requirement_names
from whisper_lmi.errors import WhisperLmiError

VAD_RUNTIME = "onnxruntime"


def validate(artifact_dir: Path) -> dict[str, str]:
    """Raise on the first problem; return the artifact's serving.properties entries."""
    properties_path = artifact_dir / PROPERTIES_FILE
    if not properties_path.is_file():
        raise WhisperLmiError(f"{artifact_dir}: no {PROPERTIES_FILE}; run `whisper-lmi package` first")
    properties = read_properties(properties_path)
    check_required(properties)
    _check_entry_point(artifact_dir, properties)
    _check_requirements(artifact_dir)
    _check_vad_model(artifact_dir)
    _check_no_stand_ins(artifact_dir)
    return properties


def check_required(properties: Mapping[str, str]) -> None:
    for key, expected in REQUIRED_PROPERTIES.items():
        if properties.get(key) != expected:
            raise WhisperLmiError(f"{PROPERTIES_FILE}: {key} must be {expected!r}, found {properties.get(key)!r}")


def _check_entry_point(artifact_dir: Path, properties: dict[str, str]) -> None:
    entry_point = properties.get(ENTRY_POINT_KEY)
    if not entry_point or not (artifact_dir / entry_point).is_file():
        raise WhisperLmiError(f"{PROPERTIES_FILE}: entry point {entry_point!r} is not a file in {artifact_dir}")


def _check_requirements(artifact_dir: Path) -> None:
    names = requirement_names(artifact_dir / REQUIREMENTS_FILE)
    forbidden = sorted(names & FORBIDDEN_REQUIREMENTS)
    if forbidden:
        raise WhisperLmiError(f"{REQUIREMENTS_FILE} lists {', '.join(forbidden)}: the LMI image has them; remove them")
    if VAD_RUNTIME not in names:
        raise WhisperLmiError(f"{REQUIREMENTS_FILE} must list {VAD_RUNTIME} (Silero VAD, option.vad=silero by default)")


def _check_vad_model(artifact_dir: Path) -> None:
    """The VAD model always travels (whether VAD is on is a deploy-time option)."""
    shipped = sorted(path.name for path in (TEMPLATE_DIR / VAD_ASSETS).iterdir())
    missing = [name for name in shipped if not (artifact_dir / VAD_ASSETS / name).is_file()]
    if missing:
        raise WhisperLmiError(f"{VAD_ASSETS.as_posix()}/{', '.join(missing)} is missing; run `whisper-lmi package`")


def _check_no_stand_ins(artifact_dir: Path) -> None:
    stand_ins = sorted(name for name in EXCLUDED_SERVING_PACKAGES if (artifact_dir / SERVING_PACKAGE / name).exists())
    if stand_ins:
        raise WhisperLmiError(f"{SERVING_PACKAGE}/{', '.join(stand_ins)} must not be shipped (a development "
                              "stand-in); run `whisper-lmi package` again")
