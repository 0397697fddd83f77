"""``quick_deploy``: package, upload and deploy in one call, with what SageMaker Studio or a notebook instance
already knows (region, execution role, default bucket) and this project's defaults for everything else.

    deployment = quick_deploy(aws, QuickOptions(instance_type="ml.g5.2xlarge"))

The artifact goes to ``s3://<default bucket>/whisper-lmi/<endpoint>/artifact/``; an async deployment writes its
results beside it (``async-output/``, ``async-failure/``). Anything finer is the step-by-step API (``package``,
``upload``, ``EndpointSpec``, ``deploy``), which this only composes.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from whisper_lmi.artifact.assemble import PackageOptions, package
from whisper_lmi.sagemaker.aws import Aws
from whisper_lmi.sagemaker.constants import (
    ASYNC_FAILURE_SUBPREFIX,
    ASYNC_OUTPUT_SUBPREFIX,
    DEFAULT_INSTANCE_COUNT,
    DEFAULT_INSTANCE_TYPE,
    DEFAULT_NAME,
)
from whisper_lmi.sagemaker.deploy import Deployment, deploy
from whisper_lmi.sagemaker.identity import default_bucket, execution_role
from whisper_lmi.sagemaker.images import DEFAULT_LMI_VERSION, lmi_image_uri
from whisper_lmi.sagemaker.s3uri import S3Uri
from whisper_lmi.sagemaker.scaling import ScalingOptions
from whisper_lmi.sagemaker.spec import AsyncOptions, EndpointSpec
from whisper_lmi.sagemaker.upload import UploadOptions, upload
from whisper_lmi.sagemaker.waiting import WaitOptions

QUICK_PREFIX = "whisper-lmi"
ARTIFACT_SUBPREFIX = "artifact/"


@dataclass(frozen=True)
class QuickOptions:
    endpoint: str = DEFAULT_NAME
    instance_type: str = DEFAULT_INSTANCE_TYPE
    instance_count: int = DEFAULT_INSTANCE_COUNT
    options: Mapping[str, str] = field(default_factory=dict)  # whisper-lmi options, e.g. {"max_batch_windows": "32"}
    is_async: bool = False
    scaling: ScalingOptions | None = None
    lmi_version: str = DEFAULT_LMI_VERSION
    bucket: str | None = None  # None: the session's default bucket, as the sagemaker SDK finds it
    role_arn: str | None = None  # None: the execution role, as the sagemaker SDK finds it


def deployment_prefix(aws: Aws, quick: QuickOptions) -> S3Uri:
    """Where this deployment's files go: ``s3://<bucket>/whisper-lmi/<endpoint>/``."""
    bucket = quick.bucket or default_bucket(aws)
    return S3Uri(bucket, f"{QUICK_PREFIX}/{quick.endpoint}/")


def quick_spec(aws: Aws, quick: QuickOptions, base: S3Uri) -> EndpointSpec:
    """The endpoint ``quick_deploy`` makes from the artifact uploaded under ``base``."""
    async_config = None
    if quick.is_async:
        async_config = AsyncOptions(base.join(ASYNC_OUTPUT_SUBPREFIX), base.join(ASYNC_FAILURE_SUBPREFIX))
    return EndpointSpec(
        artifact=base.join(ARTIFACT_SUBPREFIX), image=lmi_image_uri(aws.region, quick.lmi_version),
        role_arn=quick.role_arn or execution_role(aws), endpoint=quick.endpoint, instance_type=quick.instance_type,
        instance_count=quick.instance_count, options=dict(quick.options), async_config=async_config,
        scaling=quick.scaling,
    )


def package_and_upload(aws: Aws, base: S3Uri) -> None:
    """The artifact packaged into a temporary folder and uploaded under ``base``."""
    destination = base.join(ARTIFACT_SUBPREFIX)
    with tempfile.TemporaryDirectory(prefix="whisper-lmi-artifact-") as folder:
        artifact_dir = Path(folder) / "artifact"
        package(PackageOptions(output_dir=artifact_dir))
        upload(aws, UploadOptions(artifact_dir, destination))


def quick_deploy(aws: Aws, quick: QuickOptions = QuickOptions(), wait: WaitOptions | None = WaitOptions()
                 ) -> Deployment:
    """Package, upload and deploy; waits for InService unless ``wait=None``."""
    base = deployment_prefix(aws, quick)
    package_and_upload(aws, base)
    return deploy(aws, quick_spec(aws, quick, base), wait)
