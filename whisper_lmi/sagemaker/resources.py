"""The SageMaker requests that make and remove an endpoint's pieces, built as data (``--dry-run`` prints them)."""

from __future__ import annotations

from collections.abc import Mapping

from whisper_lmi.sagemaker.aws import ApiCall
from whisper_lmi.sagemaker.constants import DEFAULT_VARIANT, TAG_KEY, TAG_VALUE
from whisper_lmi.sagemaker.naming import ResourceNames
from whisper_lmi.sagemaker.spec import AsyncOptions, EndpointSpec

TAGS = [{"Key": TAG_KEY, "Value": TAG_VALUE}]


def model_call(spec: EndpointSpec, names: ResourceNames, environment: Mapping[str, str]) -> ApiCall:
    container = {
        "Image": spec.image,
        "ModelDataSource": {
            "S3DataSource": {"S3Uri": str(spec.artifact), "S3DataType": "S3Prefix", "CompressionType": "None"}
        },
        "Environment": dict(environment),
    }
    params = {
        "ModelName": names.model,
        "PrimaryContainer": container,
        "ExecutionRoleArn": spec.role_arn,
        "EnableNetworkIsolation": spec.network_isolation,
        "Tags": TAGS,
    }
    return ApiCall("sagemaker", "create_model", params)


def production_variant(spec: EndpointSpec, model: str) -> dict:
    variant = {
        "VariantName": DEFAULT_VARIANT,
        "ModelName": model,
        "InstanceType": spec.instance_type,
        "InitialInstanceCount": spec.instance_count,
        "InitialVariantWeight": 1.0,
        "ContainerStartupHealthCheckTimeoutInSeconds": spec.startup_timeout_s,
        "ModelDataDownloadTimeoutInSeconds": spec.download_timeout_s,
    }
    if spec.volume_gb is not None:
        variant["VolumeSizeInGB"] = spec.volume_gb
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


def endpoint_config_call(spec: EndpointSpec, names: ResourceNames) -> ApiCall:
    params = {
        "EndpointConfigName": names.config,
        "ProductionVariants": [production_variant(spec, names.model)],
        "Tags": TAGS,
    }
    if spec.async_config is not None:
        params["AsyncInferenceConfig"] = async_inference_config(spec.async_config)
    return ApiCall("sagemaker", "create_endpoint_config", params)


def endpoint_call(names: ResourceNames) -> ApiCall:
    params = {"EndpointName": names.endpoint, "EndpointConfigName": names.config, "Tags": TAGS}
    return ApiCall("sagemaker", "create_endpoint", params)


def update_endpoint_call(names: ResourceNames) -> ApiCall:
    """Blue/green by default: the new fleet takes traffic only once it is healthy, then the old one goes."""
    return ApiCall("sagemaker", "update_endpoint", {"EndpointName": names.endpoint, "EndpointConfigName": names.config})


def delete_model_call(model: str) -> ApiCall:
    return ApiCall("sagemaker", "delete_model", {"ModelName": model})


def delete_config_call(config: str) -> ApiCall:
    return ApiCall("sagemaker", "delete_endpoint_config", {"EndpointConfigName": config})


def delete_endpoint_call(endpoint: str) -> ApiCall:
    return ApiCall("sagemaker", "delete_endpoint", {"EndpointName": endpoint})
