"""Polling SageMaker resources with progress until they settle; failures come back with their reason."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from whisper_lmi.sagemaker.aws import Aws
from whisper_lmi.sagemaker.constants import DEFAULT_ENDPOINT_WAIT_S, DEFAULT_POLL_S
from whisper_lmi.errors import CliError

logger = logging.getLogger(__name__)

ENDPOINT_DONE = frozenset({"InService"})
ENDPOINT_FAILED = frozenset({"Failed", "OutOfService", "RollingBack"})
TRANSFORM_DONE = frozenset({"Completed"})
TRANSFORM_FAILED = frozenset({"Failed", "Stopped"})


@dataclass(frozen=True)
class WaitOptions:
    poll_s: float = DEFAULT_POLL_S
    timeout_s: float = DEFAULT_ENDPOINT_WAIT_S
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


def wait_for_endpoint(aws: Aws, name: str, options: WaitOptions) -> dict:
    def describe() -> dict:
        return aws.client("sagemaker").describe_endpoint(EndpointName=name)

    hint = f"see CloudWatch log group /aws/sagemaker/Endpoints/{name}"
    return _wait(f"endpoint {name}", "EndpointStatus", describe, ENDPOINT_DONE, ENDPOINT_FAILED, hint, options)


def wait_for_transform(aws: Aws, name: str, options: WaitOptions) -> dict:
    def describe() -> dict:
        return aws.client("sagemaker").describe_transform_job(TransformJobName=name)

    hint = "see CloudWatch log group /aws/sagemaker/TransformJobs"
    return _wait(f"transform job {name}", "TransformJobStatus", describe, TRANSFORM_DONE, TRANSFORM_FAILED, hint, options)


def _wait(what, status_key, describe, done, failed, hint, options: WaitOptions) -> dict:
    start = options.clock()
    last = None
    while True:
        description = describe()
        status = description.get(status_key)
        elapsed = options.clock() - start
        if status != last:
            logger.info("%s: %s (%.0f s)", what, status, elapsed)
            last = status
        if status in done:
            return description
        if status in failed:
            reason = description.get("FailureReason", "no reason given")
            raise CliError(f"{what} is {status}: {reason} ({hint})")
        if elapsed >= options.timeout_s:
            raise CliError(f"{what} still {status} after {elapsed:.0f} s; it keeps going, check it later")
        options.sleep(options.poll_s)
