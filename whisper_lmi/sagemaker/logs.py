"""``logs``: the endpoint's CloudWatch log events (log group ``/aws/sagemaker/Endpoints/<name>``), newest streams
first, merged in time order: the last ``limit`` events, optionally only those of the last ``since`` (``"10m"``)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from whisper_lmi.errors import WhisperLmiError
from whisper_lmi.sagemaker.aws import Aws, error_code
from whisper_lmi.sagemaker.constants import DEFAULT_LOG_LIMIT, DEFAULT_LOG_STREAMS, LOG_GROUP_PREFIX

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MISSING_GROUP_CODES = frozenset({"ResourceNotFoundException"})


@dataclass(frozen=True)
class LogEvent:
    timestamp: datetime  # UTC
    message: str
    stream: str  # e.g. AllTraffic/i-0abc...

    def line(self) -> str:
        return f"{self.timestamp.isoformat(timespec='milliseconds')} {self.stream} {self.message.rstrip()}"


def log_group(endpoint: str) -> str:
    return f"{LOG_GROUP_PREFIX}{endpoint}"


def parse_duration(text: str) -> timedelta:
    """``30s``, ``10m``, ``2h``, ``1d`` -> a timedelta."""
    match = DURATION.match(text)
    if match is None:
        raise WhisperLmiError(f"not a duration: {text!r} (expected a number and s, m, h or d, e.g. 10m)")
    return timedelta(seconds=float(match.group(1)) * UNIT_SECONDS[match.group(2)])


def logs(aws: Aws, endpoint: str, since: timedelta | str | None = None, limit: int = DEFAULT_LOG_LIMIT,
         streams: int = DEFAULT_LOG_STREAMS, now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
         ) -> list[LogEvent]:
    """The last ``limit`` events of the ``streams`` most recently written streams, oldest first."""
    if limit < 1:
        raise WhisperLmiError(f"limit must be at least 1 (got {limit})")
    window = parse_duration(since) if isinstance(since, str) else since
    start_ms = int((now() - window).timestamp() * 1000) if window is not None else None
    found = []
    for stream in newest_streams(aws, endpoint, streams):
        found.extend(_stream_events(aws, log_group(endpoint), stream, limit, start_ms))
    return sorted(found, key=lambda event: event.timestamp)[-limit:]


def newest_streams(aws: Aws, endpoint: str, count: int) -> list[str]:
    group = log_group(endpoint)
    try:
        described = aws.client("logs").describe_log_streams(logGroupName=group, orderBy="LastEventTime",
                                                            descending=True, limit=count)
    except Exception as error:
        if error_code(error) in MISSING_GROUP_CODES:
            raise WhisperLmiError(f"no logs for endpoint {endpoint} in {aws.region}: log group {group} does not "
                                  "exist (yet: it appears once an instance starts)") from None
        raise
    return [stream["logStreamName"] for stream in described.get("logStreams", [])]


def _stream_events(aws: Aws, group: str, stream: str, limit: int, start_ms: int | None) -> list[LogEvent]:
    request = {"logGroupName": group, "logStreamName": stream, "limit": limit, "startFromHead": False}
    if start_ms is not None:
        request["startTime"] = start_ms
    response = aws.client("logs").get_log_events(**request)
    return [LogEvent(datetime.fromtimestamp(item["timestamp"] / 1000, timezone.utc), item["message"], stream)
            for item in response.get("events", [])]
