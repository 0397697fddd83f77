"""Reading what exists: an endpoint, its config's models, and every model and config made for an endpoint."""

from __future__ import annotations

from whisper_lmi.sagemaker.aws import Aws, error_code
from whisper_lmi.sagemaker.naming import generated_for

NOT_FOUND_CODES = frozenset({"ValidationException", "ObjectNotFoundException", "ResourceNotFound"})


def is_not_found(error: Exception) -> bool:
    return error_code(error) in NOT_FOUND_CODES


def describe_endpoint(aws: Aws, endpoint: str) -> dict | None:
    """The endpoint's description, or None when there is no such endpoint."""
    try:
        return aws.client("sagemaker").describe_endpoint(EndpointName=endpoint)
    except Exception as error:
        if is_not_found(error):
            return None
        raise


def config_models(aws: Aws, config: str) -> tuple[str, ...]:
    """The models an endpoint config serves (none when the config is gone)."""
    try:
        variants = aws.client("sagemaker").describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"]
    except Exception as error:
        if is_not_found(error):
            return ()
        raise
    return tuple(sorted({variant["ModelName"] for variant in variants}))


def owned_configs(aws: Aws, endpoint: str) -> tuple[str, ...]:
    """Endpoint configs made for ``endpoint`` (unique names, or the endpoint's own name as older deploys gave)."""
    paginator = aws.client("sagemaker").get_paginator("list_endpoint_configs")
    names = [item["EndpointConfigName"] for page in paginator.paginate(NameContains=endpoint)
             for item in page["EndpointConfigs"]]
    return tuple(sorted(name for name in names if _owned(endpoint, name)))


def owned_models(aws: Aws, endpoint: str) -> tuple[str, ...]:
    paginator = aws.client("sagemaker").get_paginator("list_models")
    names = [item["ModelName"] for page in paginator.paginate(NameContains=endpoint) for item in page["Models"]]
    return tuple(sorted(name for name in names if _owned(endpoint, name)))


def _owned(endpoint: str, name: str) -> bool:
    return name == endpoint or generated_for(endpoint, name)
