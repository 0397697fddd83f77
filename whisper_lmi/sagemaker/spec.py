"""What an endpoint should be: the one description ``deploy`` creates and ``update`` switches to."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from whisper_lmi.errors import WhisperLmiError
from whisper_lmi.sagemaker.constants import (
    DEFAULT_DOWNLOAD_TIMEOUT_S,
    DEFAULT_INSTANCE_COUNT,
    DEFAULT_INSTANCE_TYPE,
    DEFAULT_NAME,
    DEFAULT_STARTUP_TIMEOUT_S,
)
from whisper_lmi.sagemaker.s3uri import S3Uri
from whisper_lmi.sagemaker.scaling import ScalingOptions


@dataclass(frozen=True)
class AsyncOptions:
    output_path: S3Uri
    failure_path: S3Uri | None = None
    success_topic: str | None = None
    error_topic: str | None = None
    max_concurrent_invocations: int | None = None


@dataclass(frozen=True)
class EndpointSpec:
    artifact: S3Uri  # an S3 prefix holding an uploaded artifact (serving.properties at its top)
    image: str
    role_arn: str
    endpoint: str = DEFAULT_NAME
    instance_type: str = DEFAULT_INSTANCE_TYPE
    instance_count: int = DEFAULT_INSTANCE_COUNT
    volume_gb: int | None = None  # instance types with NVMe storage (g5, g6) reject it
    startup_timeout_s: int = DEFAULT_STARTUP_TIMEOUT_S
    download_timeout_s: int = DEFAULT_DOWNLOAD_TIMEOUT_S
    options: Mapping[str, str] = field(default_factory=dict)  # whisper-lmi / LMI options -> OPTION_<NAME>
    environment: Mapping[str, str] = field(default_factory=dict)  # any other container variables
    network_isolation: bool = False
    async_config: AsyncOptions | None = None
    scaling: ScalingOptions | None = None

    @property
    def is_async(self) -> bool:
        return self.async_config is not None


def check_spec(spec: EndpointSpec) -> None:
    if not spec.role_arn:
        raise WhisperLmiError("no SageMaker execution role: pass --role-arn or set WHISPER_LMI_ROLE_ARN")
    scaling = spec.scaling
    if scaling is not None and scaling.min_capacity == 0 and not spec.is_async:
        raise WhisperLmiError("--min-instances 0 (scale to zero) needs --async: real-time endpoints keep one instance")
    if scaling is not None and not 0 <= scaling.min_capacity <= scaling.max_capacity:
        raise WhisperLmiError("autoscaling needs 0 <= --min-instances <= --max-instances")
