"""The packaged artifact carries the Silero VAD model and the runtime it needs (option.vad=silero is the default)."""

import pytest

from scripts.sagemaker.artifact import VAD_ASSET, PackageOptions, package, set_option, validate
from scripts.sagemaker.errors import CliError
from serving.longform.vad import find_model


def test_package_bundles_the_vad_model_and_validates(tmp_path):
    files = package(PackageOptions(output_dir=tmp_path / "artifact"))
    assert f"serving/{VAD_ASSET}" in {str(f) for f in files}
    assert (tmp_path / "artifact" / "serving" / VAD_ASSET).read_bytes() == find_model(None).read_bytes()
    assert "onnxruntime" in (tmp_path / "artifact" / "requirements.txt").read_text()


def test_an_artifact_without_the_vad_model_or_onnxruntime_is_refused(tmp_path):
    out = tmp_path / "artifact"
    package(PackageOptions(output_dir=out))
    (out / "serving" / VAD_ASSET).unlink()
    with pytest.raises(CliError, match="missing"):
        validate(out)
    set_option(out, "option.vad", "off")
    validate(out)  # VAD off: no model needed
    set_option(out, "option.vad", "silero")
    (out / "requirements.txt").write_text("av>=12.0\n")
    with pytest.raises(CliError, match="onnxruntime"):
        validate(out)
