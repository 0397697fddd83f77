"""``delete``: autoscaling, the endpoint, and every endpoint config and model made for it; anything already gone is
skipped, so a second run deletes nothing and says so."""

from __future__ import annotations

import logging

from whisper_lmi.sagemaker.aws import ApiCall, Aws
from whisper_lmi.sagemaker.endpoints import config_models, describe_endpoint, is_not_found, owned_configs, owned_models
from whisper_lmi.sagemaker.resources import delete_config_call, delete_endpoint_call, delete_model_call
from whisper_lmi.sagemaker.scaling import delete_alarm_call, deregister_call

logger = logging.getLogger(__name__)


def discover(aws: Aws, endpoint: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Configs and models to delete: the endpoint's own, and any other made for it (older deploys, failed updates)."""
    if aws.dry_run:
        return (), ()
    described = describe_endpoint(aws, endpoint)
    live_config = (described["EndpointConfigName"],) if described else ()
    configs = tuple(sorted({*live_config, *owned_configs(aws, endpoint)}))
    models = {model for config in configs for model in config_models(aws, config)}
    return configs, tuple(sorted(models | set(owned_models(aws, endpoint))))


def delete_calls(endpoint: str, configs: tuple[str, ...], models: tuple[str, ...]) -> list[ApiCall]:
    return [
        deregister_call(endpoint),
        delete_alarm_call(endpoint),
        delete_endpoint_call(endpoint),
        *(delete_config_call(config) for config in configs),
        *(delete_model_call(model) for model in models),
    ]


def delete(aws: Aws, endpoint: str) -> list[str]:
    """Delete everything; returns what was deleted, as ``operation:name`` (empty on a second run)."""
    configs, models = discover(aws, endpoint)
    deleted = []
    for api_call in delete_calls(endpoint, configs, models):
        try:
            aws.call(api_call)
        except Exception as error:
            if not is_not_found(error):
                raise
            logger.info("%s: nothing to delete", api_call.operation)
            continue
        if api_call.service == "sagemaker":
            deleted.append(f"{api_call.operation}:{next(iter(api_call.params.values()))}")
    return deleted
