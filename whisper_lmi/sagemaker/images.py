"""LMI container images: pinned DJL versions -> image tags, without the sagemaker SDK."""

from __future__ import annotations

from whisper_lmi.errors import CliError

DEFAULT_LMI_VERSION = "0.36.0"
LMI_ACCOUNT = "763104351884"
LMI_REPOSITORY = "djl-inference"
# From sagemaker-core image_uri_config/djl-lmi.json (the tags sagemaker.image_uris.retrieve gives).
LMI_TAGS = {
    "0.36.0": "0.36.0-lmi27.0.0-cu130",
}


def lmi_image_uri(region: str, version: str = DEFAULT_LMI_VERSION, tag: str | None = None) -> str:
    """The ECR image for ``region``; ``tag`` overrides the table (for versions not listed yet)."""
    resolved = tag or LMI_TAGS.get(version)
    if resolved is None:
        known = ", ".join(sorted(LMI_TAGS))
        raise CliError(f"unknown LMI version {version!r} (known: {known}); pass --image-tag to use another tag")
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{LMI_ACCOUNT}.dkr.ecr.{region}.{suffix}/{LMI_REPOSITORY}:{resolved}"
