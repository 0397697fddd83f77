"""Retrying a real-time call the endpoint answered with 503: the server is overloaded (it holds as much audio as
``option.max_audio_seconds_in_flight`` allows) or shutting down (a new instance takes over). SageMaker passes the
container's answer on as a ``ModelError`` whose ``OriginalStatusCode`` is 503; botocore does not retry those (it
retries SageMaker's own throttling). Other errors, and 503s after the last attempt, are raised as they came.

The wait before the next attempt is the server's ``Retry-After`` where the answer carries one (the HTTP header, or
``retry_after_seconds`` in the error body), else exponential backoff with full jitter; each wait at most
:attr:`RetryOptions.max_delay_s`. ``RetryOptions(attempts=1)`` (:data:`NO_RETRY`) turns retrying off.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from botocore.exceptions import ClientError

from whisper_lmi.sagemaker.aws import error_code

logger = logging.getLogger(__name__)

T = TypeVar("T")
RETRIED_STATUS = 503
MODEL_ERROR = "ModelError"
RETRY_AFTER_HEADER = "retry-after"  # botocore lower-cases response headers


@dataclass(frozen=True)
class RetryOptions:
    attempts: int = 4  # in all, the first included; 1: no retry
    base_delay_s: float = 1.0  # backoff: attempt n waits up to base * 2**(n-1), when the server names no wait
    max_delay_s: float = 30.0  # the longest single wait, Retry-After included
    honour_retry_after: bool = True

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1 (got {self.attempts})")
        if self.base_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("delays must not be negative")


DEFAULT_RETRY = RetryOptions()
NO_RETRY = RetryOptions(attempts=1)


def with_retries(call: Callable[[], T], options: RetryOptions, jitter: Callable[[], float] = random.random) -> T:
    """``call()``, again after a 503 from the model while attempts remain."""
    for attempt in range(1, options.attempts + 1):
        try:
            return call()
        except ClientError as error:
            if attempt == options.attempts or not is_unavailable(error):
                raise
            delay = wait_seconds(error, attempt, options, jitter)
            logger.info("the endpoint answered 503 (%s); attempt %d of %d in %.1f s", unavailable_kind(error),
                        attempt + 1, options.attempts, delay)
            _sleep(delay)
    raise AssertionError("unreachable: the last attempt returns or raises")


def is_unavailable(error: ClientError) -> bool:
    """A ``ModelError`` carrying the container's 503."""
    return error_code(error) == MODEL_ERROR and error.response.get("OriginalStatusCode") == RETRIED_STATUS


def unavailable_kind(error: ClientError) -> str:
    """``overloaded``, ``shutting_down``, ... as the server's error body names it (``unknown`` where it does not)."""
    body = _body(error)
    nested = body.get("error")
    if isinstance(nested, dict):  # sync mode: {"error": {"code", "type", "message"}}
        return str(nested.get("type", "unknown"))
    if isinstance(nested, str):  # DJL's async mode: {"code", "error": "overloaded: ..."}
        return nested.split(":", 1)[0].strip() or "unknown"
    return "unknown"


def wait_seconds(error: ClientError, attempt: int, options: RetryOptions, jitter: Callable[[], float]) -> float:
    named = retry_after(error) if options.honour_retry_after else None
    if named is None:
        named = jitter() * options.base_delay_s * 2 ** (attempt - 1)
    return min(named, options.max_delay_s)


def retry_after(error: ClientError) -> float | None:
    """The seconds the server asked for: its ``Retry-After`` header (in seconds), else ``retry_after_seconds`` in
    its error body; None where it names none."""
    headers = error.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    for value in (headers.get(RETRY_AFTER_HEADER), _body_retry_after(_body(error))):
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            continue
        if seconds >= 0:
            return seconds
    return None


def _body(error: ClientError) -> dict:
    try:
        body = json.loads(error.response.get("OriginalMessage") or "{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _body_retry_after(body: dict) -> object:
    nested = body.get("error")
    return nested.get("retry_after_seconds") if isinstance(nested, dict) else body.get("retry_after_seconds")


def _sleep(seconds: float) -> None:
    """The wait between attempts (one name for tests to replace)."""
    time.sleep(seconds)
