"""The packaged artifact carries the Silero VAD model where the shipped handler looks for it, and the runtime it
needs (option.vad=silero is the default; whether VAD is on is a deploy-time option, so the model always travels)."""

import hashlib
import subprocess
import sys
from pathlib import Path

import faster_whisper
import pytest

from serving.longform.vad import MODEL_FILE
from whisper_lmi.artifact.assemble import PackageOptions, package
from whisper_lmi.artifact.layout import TEMPLATE_DIR, VAD_ASSETS
from whisper_lmi.artifact.validate import validate
from whisper_lmi.errors import WhisperLmiError

VAD_SHA256 = "4cbf549b8326f60f80f2536d9eefeb450a9abe83365a098031c89719f1be17d2"


def test_the_shipped_vad_model_is_faster_whispers_silero_v6():
    shipped = (TEMPLATE_DIR / VAD_ASSETS / MODEL_FILE).read_bytes()
    assert hashlib.sha256(shipped).hexdigest() == VAD_SHA256
    assert (Path(faster_whisper.__file__).parent / "assets" / MODEL_FILE).read_bytes() == shipped


def _found_in(artifact: Path) -> str:
    """What the artifact's own ``serving.longform.vad.find_model`` finds, as in the image: no faster-whisper."""
    code = ("import sys; sys.modules['faster_whisper'] = None; "
            f"sys.path.insert(0, {str(artifact)!r}); "
            "from serving.longform.vad import find_model; print(find_model(None))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=artifact, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_handler_in_the_artifact_finds_the_packaged_vad_model(tmp_path):
    out = tmp_path / "artifact"
    files = {path.as_posix() for path in package(PackageOptions(output_dir=out))}
    assert {f"{VAD_ASSETS.as_posix()}/{MODEL_FILE}", f"{VAD_ASSETS.as_posix()}/silero_vad_v6.LICENSE"} <= files
    assert _found_in(out) == str(out / VAD_ASSETS / MODEL_FILE)
    assert "onnxruntime" in (out / "requirements.txt").read_text()


def test_an_artifact_without_the_vad_model_or_onnxruntime_is_refused(tmp_path):
    out = tmp_path / "artifact"
    package(PackageOptions(output_dir=out))
    (out / VAD_ASSETS / MODEL_FILE).unlink()
    assert _found_in(out) == "None"  # what the container would meet
    with pytest.raises(WhisperLmiError, match="missing"):
        validate(out)
    package(PackageOptions(output_dir=out))
    (out / "requirements.txt").write_text("av>=12.0\n")
    with pytest.raises(WhisperLmiError, match="onnxruntime"):
        validate(out)
