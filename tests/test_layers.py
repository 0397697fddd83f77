"""The import contracts, checked on the source (ast, nothing imported): the layers of ``serving`` import one way,
``longform`` never reaches torch, the top-level folders import benchmarks -> scripts -> whisper_lmi -> serving, nothing
imports ``tests``, each package of ``scripts`` and of ``whisper_lmi`` imports only what its ``__init__`` allows, and
``whisper_lmi`` needs nothing but the standard library and boto3. Each rule is also tried on a
hand-made import that breaks it, so that none of them can pass vacuously."""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOP_LEVEL = ("serving", "whisper_lmi", "scripts", "benchmarks", "tests")
SHARED = frozenset({"constants", "errors", "identity", "results", "languages", "settings", "timing"})
TORCH = frozenset({"torch", "transformers", "accelerate", "torchaudio"})
ENGINE_TORCH_FREE = frozenset({"serving.engine", "serving.engine.decoded", "serving.engine.vocabulary",
                               "serving.engine.token_text", "serving.engine.degeneration"})

# Layer -> the layers (and single modules) it may import besides itself and the shared modules.
MAY_IMPORT: dict[str, frozenset[str]] = {
    "shared": frozenset(),
    "audio": frozenset(),
    "fetch": frozenset(),
    "engine": frozenset(),
    "djl_standin": frozenset(),
    "api": frozenset({"serving.fetch", "serving.fetch.audio_url"}),
    "longform": ENGINE_TORCH_FREE,
    "batching": frozenset({"longform", "engine", "api", "audio"}),
    "endpoint": frozenset({"batching", "longform", "engine", "api", "audio", "fetch"}),
    "adapter": frozenset({"endpoint", "api", "djl_standin"}),  # model.py and djl_compat.py
}
# Package of scripts -> the modules it may import besides its own and scripts.paths (a name covers its submodules).
# The command lines (the modules directly in scripts/) may import anything the folder rules allow.
SCRIPTS_MAY_IMPORT: dict[str, frozenset[str]] = {
    "paths": frozenset(),
    "djl": frozenset({"serving.djl_compat", "whisper_lmi.artifact"}),
    "conversion": frozenset({"serving.constants"}),
    "material": frozenset({"serving.constants"}),
    "hostile": frozenset({"scripts.material", "serving"}),
    "scoring": frozenset({"scripts.conversion", "scripts.material"}),
    "accuracy": frozenset({"scripts.conversion", "scripts.material", "scripts.scoring", "serving"}),
    "server": frozenset({"scripts.djl", "serving.djl_compat"}),
}
# Package of whisper_lmi -> the packages of whisper_lmi it may import besides its own.
WHISPER_LMI_MAY_IMPORT: dict[str, frozenset[str]] = {
    "errors": frozenset(),
    "artifact": frozenset({"errors"}),
    "sagemaker": frozenset({"artifact", "errors"}),
    "cli": frozenset({"sagemaker", "artifact", "errors"}),
}
# What ``pip install 'whisper-lmi[deploy]'`` brings besides the standard library (the SDK is imported dynamically),
# and huggingface_hub, imported inside ``upload --weights-hub-id`` only, which says to install it when it is missing.
DEPLOY_DEPENDENCIES = frozenset({"boto3", "botocore", "huggingface_hub"})
# Top-level folder -> the folders it may import (besides itself).
FOLDERS_MAY_IMPORT = {
    "serving": frozenset(),
    "whisper_lmi": frozenset({"serving"}),
    "scripts": frozenset({"serving", "whisper_lmi"}),
    "benchmarks": frozenset({"scripts", "serving", "whisper_lmi"}),
    "tests": frozenset({"benchmarks", "scripts", "serving", "whisper_lmi"}),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    found = {}
    for folder in TOP_LEVEL:
        for path in sorted((ROOT / folder).rglob("*.py")):
            found[module_name(path)] = path
    return found


def imports_of(source: str, name: str, is_package: bool = False) -> set[str]:
    """Absolute names a module's source imports (``from a import b`` gives ``a.b`` when that is a module, else
    ``a``); relative imports resolved against ``name``."""
    known = modules()
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join([*package, base] if base else package)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known)
    return found


@cache
def imports(name: str) -> frozenset[str]:
    path = modules()[name]
    return frozenset(imports_of(path.read_text(), name, path.name == "__init__.py"))


def layer(name: str) -> str:
    parts = name.split(".")
    if len(parts) == 1:
        return "root"
    if parts[1] in SHARED:
        return "shared"
    if parts[1] in ("model", "djl_compat"):
        return "adapter"
    return parts[1]


def layer_violations(name: str, imported: set[str] | frozenset[str]) -> list[str]:
    own = layer(name)
    allowed = MAY_IMPORT.get(own)
    if allowed is None:
        return []
    wrong = []
    for target in sorted(i for i in imported if i.split(".")[0] == "serving" and i != "serving"):
        other = layer(target)
        if other in (own, "shared") or other in allowed or target in allowed:
            continue
        wrong.append(f"{name} ({own}) imports {target} ({other})")
    return wrong


def folder_violations(name: str, imported: set[str] | frozenset[str]) -> list[str]:
    folder = name.split(".")[0]
    allowed = FOLDERS_MAY_IMPORT[folder]
    return [f"{name} imports {target}" for target in sorted(imported)
            if target.split(".")[0] in TOP_LEVEL and target.split(".")[0] not in (folder, *allowed)]


def scripts_part(name: str) -> str:
    """The package of ``scripts`` a module belongs to; ``cli`` for the command lines directly in scripts/."""
    parts = name.split(".")
    if len(parts) == 1:
        return "root"
    if parts[1] in SCRIPTS_MAY_IMPORT:
        return parts[1]
    return "cli" if len(parts) == 2 else "unknown"


def scripts_violations(name: str, imported: set[str] | frozenset[str]) -> list[str]:
    own = scripts_part(name)
    allowed = SCRIPTS_MAY_IMPORT.get(own)
    if allowed is None:
        return []
    wrong = []
    for target in sorted(i for i in imported if i.split(".")[0] in ("scripts", "serving", "whisper_lmi")
                         and i != "scripts"):
        if target.split(".")[0] == "scripts" and scripts_part(target) in (own, "paths"):
            continue
        if any(target == a or target.startswith(f"{a}.") for a in allowed):
            continue
        wrong.append(f"{name} ({own}) imports {target}")
    return wrong


def whisper_lmi_part(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 else "root"


def whisper_lmi_violations(name: str, imported: set[str] | frozenset[str]) -> list[str]:
    own = whisper_lmi_part(name)
    allowed = WHISPER_LMI_MAY_IMPORT.get(own, frozenset())
    return [f"{name} ({own}) imports {target}" for target in sorted(imported)
            if target.split(".")[0] == "whisper_lmi" and target != "whisper_lmi"
            and whisper_lmi_part(target) not in (own, *allowed)]


def third_party(imported: set[str] | frozenset[str]) -> set[str]:
    """Top-level names that are neither the standard library nor this project's folders."""
    return {target.split(".")[0] for target in imported if target and target.split(".")[0] not in TOP_LEVEL
            and target.split(".")[0] not in sys.stdlib_module_names and target != "__future__"}


def reaches_torch(name: str, seen: set[str] | None = None) -> list[str]:
    """An import chain from ``name`` (a serving module) to torch, or [] when there is none."""
    seen = set() if seen is None else seen
    seen.add(name)
    for target in sorted(imports(name)):
        if target.split(".")[0] in TORCH:
            return [name, target]
        if target in modules() and target.startswith("serving") and target not in seen:
            chain = reaches_torch(target, seen)
            if chain:
                return [name, *chain]
    return []


SERVING = sorted(name for name in modules() if name.startswith("serving"))


def test_every_serving_module_belongs_to_a_layer():
    unknown = [name for name in SERVING if layer(name) not in MAY_IMPORT and name != "serving"]
    assert unknown == []


def test_the_layers_of_serving_import_one_way():
    assert [v for name in SERVING for v in layer_violations(name, imports(name))] == []


def test_top_level_folders_import_benchmarks_then_scripts_then_serving_and_nothing_imports_tests():
    assert [v for name in modules() for v in folder_violations(name, imports(name))] == []


SCRIPTS = sorted(name for name in modules() if name.startswith("scripts"))


def test_every_scripts_module_belongs_to_a_package_or_is_a_command_line():
    assert [name for name in SCRIPTS if scripts_part(name) == "unknown"] == []
    commands = [name for name in SCRIPTS if scripts_part(name) == "cli"]
    assert "scripts.serve" in commands and "scripts.make_speech" in commands


def test_the_packages_of_scripts_import_what_they_say():
    assert [v for name in SCRIPTS for v in scripts_violations(name, imports(name))] == []


WHISPER_LMI = sorted(name for name in modules() if name.startswith("whisper_lmi"))


def test_every_whisper_lmi_module_belongs_to_a_package():
    parts = {whisper_lmi_part(name) for name in WHISPER_LMI}
    assert parts == {"root", *WHISPER_LMI_MAY_IMPORT}


def test_the_packages_of_whisper_lmi_import_what_they_say():
    assert [v for name in WHISPER_LMI for v in whisper_lmi_violations(name, imports(name))] == []


def test_whisper_lmi_needs_only_the_deploy_extra():
    """``pip install 'whisper-lmi[deploy]'`` (boto3) is enough: no torch, numpy, pydantic or serving import."""
    found = {name: third_party(imports(name)) - DEPLOY_DEPENDENCIES for name in WHISPER_LMI}
    assert {name: sorted(names) for name, names in found.items() if names} == {}
    assert [name for name in WHISPER_LMI if any(i.split(".")[0] == "serving" for i in imports(name))] == []


def test_longform_imports_nothing_that_imports_torch():
    chains = {name: reaches_torch(name) for name in SERVING if layer(name) == "longform"}
    assert {name: chain for name, chain in chains.items() if chain} == {}
    assert len(chains) >= 8


def test_djl_is_imported_only_by_the_adapter():
    users = sorted(name for name in modules() if any(i.split(".")[0] == "djl_python" for i in imports(name)))
    assert set(users) <= {"serving.djl_compat", "tests.test_djl_standin"}


def test_every_package_says_what_it_holds_and_may_import():
    packages = [path for name, path in modules().items()
                if path.name == "__init__.py" and name.startswith(("serving", "scripts", "whisper_lmi"))]
    undocumented = [str(p) for p in packages if p.parent.name != "djl_standin"
                    and "import" not in (ast.get_docstring(ast.parse(p.read_text())) or "")]
    assert undocumented == []


# ---- the rules catch what they are for --------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "source"), [
    ("serving.engine.decoding", "from serving.longform.plans import WindowTask"),
    ("serving.api.formats", "import serving.batching.scheduler"),
    ("serving.errors", "from serving.api import params"),
    ("serving.longform.chunked", "from serving.engine.token_search import TokenSearch"),
    ("serving.audio.decode", "from serving.fetch.s3 import S3Fetcher"),
])
def test_an_import_against_the_layers_is_caught(name, source):
    assert layer_violations(name, imports_of(source, name))


@pytest.mark.parametrize(("name", "source"), [
    ("serving.longform.chunked", "from serving.engine.decoded import DecodedWindow"),
    ("serving.batching.runner", "from serving.longform.plans import WindowTask"),
    ("serving.api.requests", "from serving.fetch.audio_url import parse_audio_url"),
])
def test_an_import_along_the_layers_passes(name, source):
    assert layer_violations(name, imports_of(source, name)) == []


@pytest.mark.parametrize(("name", "source"), [
    ("serving.settings", "from scripts.conversion.embedded_model import ensure_whisper_base"),
    ("scripts.serve", "from benchmarks.load_test import main"),
    ("whisper_lmi.sagemaker.paths", "from scripts.paths import PROJECT_ROOT"),
    ("serving.settings", "from whisper_lmi.errors import WhisperLmiError"),
    ("benchmarks.fuzz", "from tests.hostile import cases"),
])
def test_an_import_against_the_folders_is_caught(name, source):
    assert folder_violations(name, imports_of(source, name))


@pytest.mark.parametrize(("name", "source"), [
    ("scripts.material.clips", "from scripts.scoring.wer import wer"),
    ("scripts.djl.wire", "from serving.endpoint.service import TranscriptionService"),
    ("scripts.scoring.wer", "from scripts.djl.outputs import outputs_of"),
    ("scripts.conversion.cache", "from scripts.material.data import DATA_DIR"),
    ("scripts.server.app", "from scripts.conversion.cache import cached"),
    ("scripts.djl.wire", "from whisper_lmi.sagemaker.deploy import deploy"),
])
def test_an_import_against_the_scripts_packages_is_caught(name, source):
    assert scripts_violations(name, imports_of(source, name))


@pytest.mark.parametrize(("name", "source"), [
    ("scripts.scoring.longform_errors", "from scripts.material.longform_audio import LongAudio"),
    ("scripts.server.engine", "from scripts.djl.engine import EngineContext"),
    ("scripts.djl.properties", "from whisper_lmi.artifact.properties import read_properties"),
    ("scripts.material.clips", "from scripts.paths import PROJECT_ROOT"),
    ("scripts.serve", "from scripts.conversion.embedded_model import ensure_whisper_base"),
])
def test_an_import_along_the_scripts_packages_passes(name, source):
    assert scripts_violations(name, imports_of(source, name)) == []


def test_a_torch_import_two_modules_away_is_found():
    assert reaches_torch("serving.longform.quality") == []
    assert reaches_torch("serving.batching.runner")[-1].split(".")[0] in TORCH


@pytest.mark.parametrize(("name", "source"), [
    ("whisper_lmi.artifact.validate", "from whisper_lmi.sagemaker.aws import Aws"),
    ("whisper_lmi.sagemaker.deploy", "from whisper_lmi.cli.main import main"),
    ("whisper_lmi.errors", "from whisper_lmi.artifact.layout import TEMPLATE_DIR"),
])
def test_an_import_against_the_whisper_lmi_packages_is_caught(name, source):
    assert whisper_lmi_violations(name, imports_of(source, name))


@pytest.mark.parametrize(("name", "source"), [
    ("whisper_lmi.cli.commands", "from whisper_lmi.sagemaker.deploy import deploy"),
    ("whisper_lmi.sagemaker.upload", "from whisper_lmi.artifact.validate import validate"),
    ("whisper_lmi.artifact.validate", "from whisper_lmi.errors import WhisperLmiError"),
])
def test_an_import_along_the_whisper_lmi_packages_passes(name, source):
    assert whisper_lmi_violations(name, imports_of(source, name)) == []


def test_a_heavy_import_in_whisper_lmi_is_caught():
    assert third_party(imports_of("import torch\nimport boto3\nimport json", "whisper_lmi.cli.main")) == {
        "torch", "boto3"}
    assert third_party(imports_of("from pydantic import BaseModel", "whisper_lmi.sagemaker.spec")) == {"pydantic"}
