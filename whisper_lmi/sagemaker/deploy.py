"""``deploy``: a new endpoint from an uploaded artifact. Model and endpoint config get unique names; what a failed
request leaves is rolled back; autoscaling is registered once the endpoint is InService."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from whisper_lmi.artifact.layout import PROPERTIES_FILE
from whisper_lmi.errors import WhisperLmiError
from whisper_lmi.sagemaker.aws import Aws
from whisper_lmi.sagemaker.endpoint import Endpoint
from whisper_lmi.sagemaker.endpoints import describe_endpoint
from whisper_lmi.sagemaker.naming import Naming, ResourceNames
from whisper_lmi.sagemaker.options import ContainerInputs, container_environment
from whisper_lmi.sagemaker.remote_artifact import inspect_artifact
from whisper_lmi.sagemaker.resources import (
    delete_config_call,
    delete_endpoint_call,
    delete_model_call,
    endpoint_call,
    endpoint_config_call,
    model_call,
)
from whisper_lmi.sagemaker.rollback import Rollback
from whisper_lmi.sagemaker.scaling import scaling_calls
from whisper_lmi.sagemaker.spec import EndpointSpec, check_spec
from whisper_lmi.sagemaker.waiting import WaitFailed, WaitOptions, wait_for_endpoint

logger = logging.getLogger(__name__)

DRY_RUN_STATUS = "dry-run"
CREATING = "Creating"


@dataclass(frozen=True)
class Deployment:
    names: ResourceNames
    status: str  # InService, Creating (not waited for) or dry-run
    environment: Mapping[str, str] = field(default_factory=dict)

    def endpoint(self, aws: Aws) -> Endpoint:
        """The endpoint to call: ``deploy(aws, spec).endpoint(aws).transcribe("talk.wav")``."""
        return Endpoint(aws, self.names.endpoint)


def deploy(aws: Aws, spec: EndpointSpec, wait: WaitOptions | None = WaitOptions(), naming: Naming | None = None
           ) -> Deployment:
    """Create model, endpoint config and endpoint; ``wait=None`` returns once the endpoint is accepted."""
    check_spec(spec)
    if spec.scaling is not None and wait is None:
        raise WhisperLmiError("autoscaling is registered once the endpoint is InService: wait for it (no --no-wait)")
    names = (naming or Naming()).next(spec.endpoint)
    if not aws.dry_run and describe_endpoint(aws, spec.endpoint) is not None:
        raise WhisperLmiError(f"endpoint {spec.endpoint} exists: `whisper-lmi update` replaces what it serves")
    environment = container_for(aws, spec)
    with Rollback(aws) as created:
        create_model_and_config(created, spec, names, environment)
        created.call(endpoint_call(names), delete_endpoint_call(names.endpoint))
    logger.info("endpoint %s: model %s, endpoint config %s", names.endpoint, names.model, names.config)
    status = DRY_RUN_STATUS if aws.dry_run else CREATING
    if wait is not None and not aws.dry_run:
        status = _wait_created(aws, names.endpoint, wait)
    if spec.scaling is not None:
        scaling_calls(aws, names.endpoint, spec.scaling, is_async=spec.is_async)
    return Deployment(names, status, environment)


def container_for(aws: Aws, spec: EndpointSpec) -> dict[str, str]:
    """The container's environment, after checking the artifact prefix (refused without serving.properties)."""
    artifact = inspect_artifact(aws, spec.artifact)
    inputs = ContainerInputs(options=spec.options, variables=spec.environment, properties=artifact.properties,
                             has_weights=artifact.has_weights, is_async=spec.is_async,
                             source=str(spec.artifact.join(PROPERTIES_FILE)))
    return container_environment(inputs)


def create_model_and_config(created: Rollback, spec: EndpointSpec, names: ResourceNames,
                            environment: Mapping[str, str]) -> None:
    created.call(model_call(spec, names, environment), delete_model_call(names.model))
    created.call(endpoint_config_call(spec, names), delete_config_call(names.config))


def _wait_created(aws: Aws, endpoint: str, wait: WaitOptions) -> str:
    try:
        return wait_for_endpoint(aws, endpoint, wait)["EndpointStatus"]
    except WaitFailed as error:
        raise WaitFailed(f"{error}; it stays for its logs: `whisper-lmi delete --name {endpoint}` removes it") from None
