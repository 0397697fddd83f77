"""LMI container images: the ECR URI for a region and an LMI version, from the checked-in table of the SDK's own
(``image_table.py``, written by ``python -m scripts.image_table``), without the sagemaker SDK."""

from __future__ import annotations

from whisper_lmi.errors import WhisperLmiError
from whisper_lmi.sagemaker.image_table import REGISTRIES, REPOSITORY, TAGS, UNAVAILABLE

# The newest LMI whose Python, torch and transformers whisper-lmi supports (pyproject: torch<2.15, transformers
# 4.56-5.9 without 5.0-5.5.0). LMI 0.38.0 (lmi29.0.0, cu130) has Python 3.12 and torch 2.13.0 (djl-serving #3075,
# deep-learning-containers #6763: the vLLM 0.28.0 wheel pins torch 2.13.0), the torch this project is tested with;
# that release changed the vLLM wheel and torch/torchvision only, so its transformers pin stays LMI 27's
# (>=4.56, <=5.9, not 5.0-5.5.0: serving/docker/lmi-container-requirements.txt), inside ours.
DEFAULT_LMI_VERSION = "0.38.0"


def lmi_image_uri(region: str, version: str = DEFAULT_LMI_VERSION, tag: str | None = None) -> str:
    """The LMI image in ``region``; ``tag`` overrides the version's tag (for a version the table lacks)."""
    registry = REGISTRIES.get(region)
    if registry is None:
        raise WhisperLmiError(f"no LMI image in region {region!r}: the SDK's table has {len(REGISTRIES)} regions "
                              "and not this one; pass --image with an image URI you can pull there")
    account, host = registry
    return f"{account}.dkr.{host}/{REPOSITORY}:{tag or _tag(region, version)}"


def _tag(region: str, version: str) -> str:
    if version not in TAGS:
        raise WhisperLmiError(f"unknown LMI version {version!r} (known: {', '.join(TAGS)}); "
                              "pass --image-tag to use another tag")
    if region in UNAVAILABLE.get(version, ()):
        there = [known for known in TAGS if region not in UNAVAILABLE.get(known, ())]
        raise WhisperLmiError(f"LMI {version} is not published in {region} (there: {', '.join(there)})")
    return TAGS[version]
