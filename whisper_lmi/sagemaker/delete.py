"""``delete``: autoscaling, endpoint, endpoint config and model; anything already gone is skipped."""

from __future__ import annotations

import logging

from whisper_lmi.sagemaker.aws import ApiCall, Aws, error_code
from whisper_lmi.sagemaker.scaling import delete_alarm_call, deregister_call

logger = logging.getLogger(__name__)

NOT_FOUND_CODES = frozenset({"ValidationException", "ObjectNotFoundException", "ResourceNotFound"})


def discover(aws: Aws, endpoint: str) -> tuple[str, list[str]]:
    """The endpoint's config and models; the names ``deploy`` gives when the endpoint is gone."""
    if aws.dry_run:
        return endpoint, [endpoint]
    sagemaker = aws.client("sagemaker")
    try:
        config = sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
    except Exception as error:
        if error_code(error) not in NOT_FOUND_CODES:
            raise
        config = endpoint
    try:
        variants = sagemaker.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"]
        models = sorted({variant["ModelName"] for variant in variants})
    except Exception as error:
        if error_code(error) not in NOT_FOUND_CODES:
            raise
        models = [endpoint]
    return config, models


def delete_calls(endpoint: str, config: str, models: list[str]) -> list[ApiCall]:
    return [
        deregister_call(endpoint),
        delete_alarm_call(endpoint),
        ApiCall("sagemaker", "delete_endpoint", {"EndpointName": endpoint}),
        ApiCall("sagemaker", "delete_endpoint_config", {"EndpointConfigName": config}),
        *(ApiCall("sagemaker", "delete_model", {"ModelName": model}) for model in models),
    ]


def delete(aws: Aws, endpoint: str) -> list[str]:
    """Delete everything; returns what was actually deleted (empty on a second run)."""
    config, models = discover(aws, endpoint)
    deleted = []
    for api_call in delete_calls(endpoint, config, models):
        try:
            aws.call(api_call)
        except Exception as error:
            if error_code(error) not in NOT_FOUND_CODES:
                raise
            logger.info("%s: nothing to delete", api_call.operation)
            continue
        if api_call.service == "sagemaker":
            deleted.append(f"{api_call.operation}:{next(iter(api_call.params.values()))}")
    return deleted
