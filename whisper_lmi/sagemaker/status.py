"""``status``: where an endpoint stands, as one typed record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from whisper_lmi.errors import WhisperLmiError
from whisper_lmi.sagemaker.aws import Aws
from whisper_lmi.sagemaker.endpoints import describe_endpoint
from whisper_lmi.sagemaker.scaling import ScalingOptions, current_scaling


@dataclass(frozen=True)
class EndpointStatus:
    endpoint: str
    status: str
    config: str
    models: tuple[str, ...]
    instance_type: str | None
    instance_count: int | None  # instances running now
    is_async: bool
    scaling: ScalingOptions | None
    failure_reason: str | None
    last_modified: datetime | None


def status(aws: Aws, endpoint: str) -> EndpointStatus:
    described = describe_endpoint(aws, endpoint)
    if described is None:
        raise WhisperLmiError(f"no endpoint {endpoint} in {aws.region}")
    config_name = described["EndpointConfigName"]
    config = aws.client("sagemaker").describe_endpoint_config(EndpointConfigName=config_name)
    variants = config.get("ProductionVariants") or [{}]
    variant = variants[0]
    running = (described.get("ProductionVariants") or [{}])[0]
    return EndpointStatus(
        endpoint=endpoint,
        status=described["EndpointStatus"],
        config=config_name,
        models=tuple(sorted({v["ModelName"] for v in variants if "ModelName" in v})),
        instance_type=variant.get("InstanceType"),
        instance_count=running.get("CurrentInstanceCount"),
        is_async="AsyncInferenceConfig" in config,
        scaling=current_scaling(aws, endpoint),
        failure_reason=described.get("FailureReason"),
        last_modified=described.get("LastModifiedTime"),
    )
