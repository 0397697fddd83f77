"""``deploy``: the CreateModel / CreateEndpointConfig / CreateEndpoint requests, built as data, then sent."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from whisper_lmi.sagemaker.aws import ApiCall, Aws
from whisper_lmi.sagemaker.constants import (
    DEFAULT_DOWNLOAD_TIMEOUT_S,
    DEFAULT_INSTANCE_COUNT,
    DEFAULT_INSTANCE_TYPE,
    DEFAULT_STARTUP_TIMEOUT_S,
    DEFAULT_VARIANT,
    TAG_KEY,
    TAG_VALUE,
)
from whisper_lmi.errors import CliError
from whisper_lmi.sagemaker.s3uri import S3Uri
from whisper_lmi.sagemaker.scaling import ScalingOptions, scaling_calls
from whisper_lmi.sagemaker.waiting import WaitOptions, wait_for_endpoint

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AsyncOptions:
    output_path: S3Uri
    failure_path: S3Uri | None = None
    success_topic: str | None = None
    error_topic: str | None = None
    max_concurrent_invocations: int | None = None


@dataclass(frozen=True)
class DeployOptions:
    name: str
    artifact: S3Uri
    image: str
    role_arn: str
    instance_type: str = DEFAULT_INSTANCE_TYPE
    instance_count: int = DEFAULT_INSTANCE_COUNT
    volume_gb: int | None = None  # instance types with NVMe storage (g5, g6) reject it
    startup_timeout_s: int = DEFAULT_STARTUP_TIMEOUT_S
    download_timeout_s: int = DEFAULT_DOWNLOAD_TIMEOUT_S
    environment: Mapping[str, str] = field(default_factory=dict)
    network_isolation: bool = False
    async_config: AsyncOptions | None = None
    scaling: ScalingOptions | None = None
    wait: bool = True


def model_call(options: DeployOptions) -> ApiCall:
    container = {
        "Image": options.image,
        "ModelDataSource": {
            "S3DataSource": {"S3Uri": str(options.artifact), "S3DataType": "S3Prefix", "CompressionType": "None"}
        },
        "Environment": dict(options.environment),
    }
    params = {
        "ModelName": options.name,
        "PrimaryContainer": container,
        "ExecutionRoleArn": options.role_arn,
        "EnableNetworkIsolation": options.network_isolation,
        "Tags": [{"Key": TAG_KEY, "Value": TAG_VALUE}],
    }
    return ApiCall("sagemaker", "create_model", params)


def production_variant(options: DeployOptions) -> dict:
    variant = {
        "VariantName": DEFAULT_VARIANT,
        "ModelName": options.name,
        "InstanceType": options.instance_type,
        "InitialInstanceCount": options.instance_count,
        "InitialVariantWeight": 1.0,
        "ContainerStartupHealthCheckTimeoutInSeconds": options.startup_timeout_s,
        "ModelDataDownloadTimeoutInSeconds": options.download_timeout_s,
    }
    if options.volume_gb is not None:
        variant["VolumeSizeInGB"] = options.volume_gb
    return variant


def async_inference_config(config: AsyncOptions) -> dict:
    output: dict = {"S3OutputPath": str(config.output_path)}
    if config.failure_path is not None:
        output["S3FailurePath"] = str(config.failure_path)
    topics = {"SuccessTopic": config.success_topic, "ErrorTopic": config.error_topic}
    if any(topics.values()):
        output["NotificationConfig"] = {key: value for key, value in topics.items() if value}
    result: dict = {"OutputConfig": output}
    if config.max_concurrent_invocations is not None:
        result["ClientConfig"] = {"MaxConcurrentInvocationsPerInstance": config.max_concurrent_invocations}
    return result


def endpoint_config_call(options: DeployOptions) -> ApiCall:
    params = {
        "EndpointConfigName": options.name,
        "ProductionVariants": [production_variant(options)],
        "Tags": [{"Key": TAG_KEY, "Value": TAG_VALUE}],
    }
    if options.async_config is not None:
        params["AsyncInferenceConfig"] = async_inference_config(options.async_config)
    return ApiCall("sagemaker", "create_endpoint_config", params)


def endpoint_call(options: DeployOptions) -> ApiCall:
    params = {
        "EndpointName": options.name,
        "EndpointConfigName": options.name,
        "Tags": [{"Key": TAG_KEY, "Value": TAG_VALUE}],
    }
    return ApiCall("sagemaker", "create_endpoint", params)


def check(options: DeployOptions) -> None:
    if not options.role_arn:
        raise CliError("no SageMaker execution role: pass --role-arn or set WHISPER_LMI_ROLE_ARN")
    if options.scaling is not None and options.scaling.min_capacity == 0 and options.async_config is None:
        raise CliError("--min-instances 0 (scale to zero) needs --async: real-time endpoints keep one instance")


def deploy(aws: Aws, options: DeployOptions, wait: WaitOptions) -> None:
    check(options)
    for api_call in (model_call(options), endpoint_config_call(options), endpoint_call(options)):
        aws.call(api_call)
        logger.info("%s %s", api_call.operation, options.name)
    if options.wait and not aws.dry_run:
        wait_for_endpoint(aws, options.name, wait)
    if options.scaling is not None:
        scaling_calls(aws, options.name, options.scaling, is_async=options.async_config is not None)
