"""The wheel: ``whisper-lmi[deploy]`` needs boto3 alone, the console script is ``whisper_lmi.cli:main``, no top-level
``scripts`` package is installed, and the artifact's template travels as package data (so ``package`` works from it)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

from scripts.paths import PROJECT_ROOT
from whisper_lmi.artifact.layout import TEMPLATE_DIR


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out),
                    str(PROJECT_ROOT)], check=True, capture_output=True, timeout=300)
    (path,) = out.glob("whisper_lmi-*.whl")
    return zipfile.ZipFile(path)


def _metadata(wheel: zipfile.ZipFile):
    name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    return Parser().parsestr(wheel.read(name).decode())


def test_the_deploy_extra_is_boto3_alone_and_nothing_is_required_by_default(wheel):
    requires = _metadata(wheel).get_all("Requires-Dist")
    assert [r for r in requires if "extra ==" not in r] == []
    assert [r.split(";")[0] for r in requires if 'extra == "deploy"' in r] == ["boto3>=1.34"]
    serving = [r.split(";")[0] for r in requires if 'extra == "serving"' in r]
    assert any(r.startswith("torch") for r in serving)


def test_the_console_script_and_the_packages(wheel):
    names = wheel.namelist()
    entry_points = wheel.read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "whisper-lmi = whisper_lmi.cli:main" in entry_points
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"serving", "whisper_lmi"}
    assert "whisper_lmi/py.typed" in names and "serving/model.py" in names


def test_the_artifact_template_travels_with_the_package(wheel):
    template = {path.relative_to(PROJECT_ROOT).as_posix() for path in TEMPLATE_DIR.rglob("*") if path.is_file()}
    assert len(template) == 4
    assert template <= set(wheel.namelist())
    for name in template:
        assert wheel.read(name) == (PROJECT_ROOT / Path(name)).read_bytes()
