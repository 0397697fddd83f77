"""What an artifact holds and where its sources are: each name defined once."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from whisper_lmi.errors import WhisperLmiError

PROPERTIES_FILE = "serving.properties"
REQUIREMENTS_FILE = "requirements.txt"
SERVING_PACKAGE = "serving"
ENTRY_POINT_KEY = "option.entryPoint"
# The template: serving.properties, requirements.txt and the VAD model, laid out as in the artifact.
TEMPLATE_DIR = Path(__file__).resolve().parent / "template"
SERVING_PROPERTIES = TEMPLATE_DIR / PROPERTIES_FILE
# Where serving.longform.vad.find_model looks first: beside its module (the image has no faster-whisper to fall back on).
VAD_ASSETS = Path(SERVING_PACKAGE) / "longform" / "assets"
EXCLUDED_DIR_NAMES = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
# Packages of serving/ that are development stand-ins, never shipped: in the container ``serving.djl_compat`` must
# import the real ``djl_python`` or fail, not fall back to the stand-in and hide why.
EXCLUDED_SERVING_PACKAGES = frozenset({"djl_standin"})
# Packages the LMI image already has; reinstalling them at worker start costs minutes.
FORBIDDEN_REQUIREMENTS = frozenset({"torch", "transformers"})
# What serving.properties must say for whisper-lmi's handler, whatever else it holds.
REQUIRED_PROPERTIES = {"engine": "Python", "option.rolling_batch": "disable"}
SETTINGS_MODULE = Path(SERVING_PACKAGE) / "settings.py"


def serving_source() -> Path:
    """The installed ``serving`` package's folder (found, not imported: importing it needs torch)."""
    spec = importlib.util.find_spec(SERVING_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise WhisperLmiError("the serving package is not installed; reinstall whisper-lmi")
    return Path(next(iter(spec.submodule_search_locations)))
