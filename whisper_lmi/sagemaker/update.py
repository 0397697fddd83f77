"""``update``: a live endpoint switched to a new model and endpoint config without downtime (UpdateEndpoint is
blue/green: the old fleet serves until the new one is healthy), then the old config and models retired."""

from __future__ import annotations

import logging

from whisper_lmi.errors import WhisperLmiError
from whisper_lmi.sagemaker.aws import ApiCall, Aws
from whisper_lmi.sagemaker.deploy import Deployment, container_for, create_model_and_config
from whisper_lmi.sagemaker.endpoints import config_models, describe_endpoint, is_not_found
from whisper_lmi.sagemaker.naming import Naming, ResourceNames
from whisper_lmi.sagemaker.resources import delete_config_call, delete_model_call, update_endpoint_call
from whisper_lmi.sagemaker.rollback import Rollback
from whisper_lmi.sagemaker.scaling import (
    ScalingOptions,
    current_scaling,
    delete_alarm_call,
    deregister_call,
    scaling_calls,
)
from whisper_lmi.sagemaker.spec import EndpointSpec, check_spec
from whisper_lmi.sagemaker.waiting import ENDPOINT_DONE, WaitFailed, WaitOptions, wait_for_endpoint

logger = logging.getLogger(__name__)


def update(aws: Aws, spec: EndpointSpec, wait: WaitOptions = WaitOptions(), naming: Naming | None = None
           ) -> Deployment:
    """Switch ``spec.endpoint`` to ``spec``; autoscaling is kept (or replaced by ``spec.scaling``)."""
    check_spec(spec)
    old_config = _live_config(aws, spec.endpoint)
    old_models = config_models(aws, old_config)
    scaling = current_scaling(aws, spec.endpoint)
    environment = container_for(aws, spec)
    names = (naming or Naming()).next(spec.endpoint)
    with Rollback(aws) as created:
        create_model_and_config(created, spec, names, environment)
        _pause_scaling(aws, spec.endpoint, scaling)
        try:
            aws.call(update_endpoint_call(names))
        except Exception:
            _resume_scaling(aws, spec, scaling)
            raise
    if not aws.dry_run:
        _wait_updated(aws, names, old_config, wait)
    _retire(aws, old_config, [model for model in old_models if model != names.model])
    _resume_scaling(aws, spec, spec.scaling or scaling)
    return Deployment(names, "dry-run" if aws.dry_run else "InService", environment)


def _live_config(aws: Aws, endpoint: str) -> str:
    description = describe_endpoint(aws, endpoint)
    if description is None:
        raise WhisperLmiError(f"no endpoint {endpoint} to update: `whisper-lmi deploy` creates it")
    status = description["EndpointStatus"]
    if status not in ENDPOINT_DONE:
        raise WhisperLmiError(f"endpoint {endpoint} is {status}: update needs it InService (`whisper-lmi status`)")
    return description["EndpointConfigName"]


def _pause_scaling(aws: Aws, endpoint: str, scaling: ScalingOptions | None) -> None:
    """Application Auto Scaling refuses an update that changes a registered variant: deregister first."""
    if scaling is not None:
        aws.call(deregister_call(endpoint))
        _ignore_missing(aws, [delete_alarm_call(endpoint)])


def _resume_scaling(aws: Aws, spec: EndpointSpec, scaling: ScalingOptions | None) -> None:
    if scaling is not None:
        scaling_calls(aws, spec.endpoint, scaling, is_async=spec.is_async)


def _wait_updated(aws: Aws, names: ResourceNames, old_config: str, wait: WaitOptions) -> None:
    try:
        wait_for_endpoint(aws, names.endpoint, wait)
    except WaitFailed as error:
        raise WaitFailed(f"{error}; the endpoint goes back to {old_config}, and model and config {names.model} stay "
                         "for their logs (`whisper-lmi delete` removes everything)") from None


def _retire(aws: Aws, config: str, models: list[str]) -> None:
    _ignore_missing(aws, [delete_config_call(config), *(delete_model_call(model) for model in models)])
    logger.info("retired endpoint config %s and model(s) %s", config, ", ".join(models) or "-")


def _ignore_missing(aws: Aws, calls: list[ApiCall]) -> None:
    for api_call in calls:
        try:
            aws.call(api_call)
        except Exception as error:
            if not is_not_found(error):
                raise
