"""Polling SageMaker resources until they settle, with progress: a line at each status change and one every
``progress_s`` while it does not change, each with the time elapsed; failures come back with their reason."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from whisper_lmi.errors import WhisperLmiError
from whisper_lmi.sagemaker.aws import Aws
from whisper_lmi.sagemaker.constants import DEFAULT_ENDPOINT_WAIT_S, DEFAULT_POLL_S, DEFAULT_PROGRESS_S

logger = logging.getLogger(__name__)

ENDPOINT_DONE = frozenset({"InService"})
ENDPOINT_FAILED = frozenset({"Failed", "OutOfService", "RollingBack"})
TRANSFORM_DONE = frozenset({"Completed"})
TRANSFORM_FAILED = frozenset({"Failed", "Stopped"})


class WaitFailed(WhisperLmiError):
    """The resource settled in a failed state (not a timeout)."""


def _log(line: str) -> None:
    logger.info("%s", line)


@dataclass(frozen=True)
class WaitOptions:
    poll_s: float = DEFAULT_POLL_S
    timeout_s: float = DEFAULT_ENDPOINT_WAIT_S
    progress_s: float = DEFAULT_PROGRESS_S
    report: Callable[[str], None] = field(default=_log)
    sleep: Callable[[float], None] = field(default=time.sleep)
    clock: Callable[[], float] = field(default=time.monotonic)


@dataclass(frozen=True)
class Watch:
    what: str
    status_key: str
    describe: Callable[[], dict]
    done: frozenset[str]
    failed: frozenset[str]
    hint: str


def endpoint_log_hint(name: str) -> str:
    return f"see CloudWatch log group /aws/sagemaker/Endpoints/{name}"


def wait_for_endpoint(aws: Aws, name: str, options: WaitOptions) -> dict:
    def describe() -> dict:
        return aws.client("sagemaker").describe_endpoint(EndpointName=name)

    return wait(Watch(f"endpoint {name}", "EndpointStatus", describe, ENDPOINT_DONE, ENDPOINT_FAILED,
                      endpoint_log_hint(name)), options)


def wait_for_transform(aws: Aws, name: str, options: WaitOptions) -> dict:
    def describe() -> dict:
        return aws.client("sagemaker").describe_transform_job(TransformJobName=name)

    return wait(Watch(f"transform job {name}", "TransformJobStatus", describe, TRANSFORM_DONE, TRANSFORM_FAILED,
                      "see CloudWatch log group /aws/sagemaker/TransformJobs"), options)


def wait(watch: Watch, options: WaitOptions) -> dict:
    start = options.clock()
    last_status, last_report = None, start
    while True:
        description = watch.describe()
        status = description.get(watch.status_key)
        now = options.clock()
        if status != last_status or now - last_report >= options.progress_s:
            options.report(f"{watch.what}: {status} ({now - start:.0f} s)")
            last_status, last_report = status, now
        if status in watch.done:
            return description
        if status in watch.failed:
            reason = description.get("FailureReason", "no reason given")
            raise WaitFailed(f"{watch.what} is {status}: {reason} ({watch.hint})")
        if now - start >= options.timeout_s:
            raise WhisperLmiError(f"{watch.what} still {status} after {now - start:.0f} s; it keeps going, check it "
                                  "later with `whisper-lmi status`")
        options.sleep(options.poll_s)
