"""Request errors and the one place where exceptions become HTTP status codes.

Every problem with a client's input raises a subclass of :class:`RequestError` that names the problem; so does a
failure of the place a request's ``audio_url`` points to (502/504: neither our bug nor the client's). Anything else
is a bug (500, traceback logged) or the accelerator running out of memory (507).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass

logger = logging.getLogger(__name__)

RETRY_AFTER = "Retry-After"
MAX_MESSAGE_CHARS = 2000  # a message that quotes the client's input is cut here (body and log line)


class RequestError(Exception):
    """A problem with the client's request or the source it named: the message is safe to return to the client."""

    status = 400
    kind = "bad_request"


class BadParameter(RequestError):
    status = 400
    kind = "bad_parameter"


class AudioTooLarge(RequestError):
    status = 413
    kind = "too_large"


class AudioTooLong(RequestError):
    status = 413
    kind = "too_long"


class UnsupportedMediaType(RequestError):
    status = 415
    kind = "unsupported_media_type"


class UndecodableAudio(RequestError):
    status = 422
    kind = "undecodable_audio"


class SourceNotAllowed(RequestError):
    """An ``audio_url`` this endpoint may not fetch: the input kind is off, the bucket is not allowed, the host is
    not public, or the URL redirects."""

    status = 400
    kind = "source_not_allowed"


class SourceNotFound(RequestError):
    """An ``audio_url`` that points at nothing: no such S3 object or bucket, HTTP 404/410, a host that does not
    resolve."""

    status = 400
    kind = "source_not_found"


class SourceRejected(RequestError):
    """An https ``audio_url`` whose server refused the request (a 4xx other than 404/410)."""

    status = 400
    kind = "source_rejected"


class SourceAccessDenied(RequestError):
    """S3 refused the endpoint's own role: the deployment's permissions, not the client's request, are at fault."""

    status = 502
    kind = "source_access_denied"


class SourceUnavailable(RequestError):
    """The source failed upstream: unreachable, a 5xx, a broken connection or TLS handshake."""

    status = 502
    kind = "source_unavailable"


class SourceTimeout(RequestError):
    """The source did not deliver the audio within ``option.fetch_timeout_seconds``."""

    status = 504
    kind = "source_timeout"


class ShuttingDown(RequestError):
    """The server is stopping: it takes no new work, and what is still in flight when its drain
    (``option.drain_timeout_seconds``) runs out is answered with this. Not the request's fault: retry later."""

    status = 503
    kind = "shutting_down"


class RequestTimedOut(RequestError):
    """The request was not finished within its time budget (``option.request_timeout_seconds``, from its arrival at the
    scheduler); its work was stopped. A 5xx, not a 4xx: the request was valid, and whether it fits the budget
    depends on the server's load and options (a retry may succeed); SageMaker counts it among the endpoint's 5XX
    errors, where a budget too small for the traffic shows."""

    status = 504
    kind = "request_timeout"


class Overloaded(RequestError):
    """The server holds as much audio as it may (``option.max_audio_seconds_in_flight``): retry after
    ``retry_after_seconds`` (sent as ``Retry-After``). Not the request's fault, and not a bug."""

    status = 503
    kind = "overloaded"

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class ConfigurationError(ValueError):
    """A bad serving option: model loading fails with this message."""


@dataclass(frozen=True)
class ErrorResponse:
    status: int
    kind: str
    message: str
    retry_after_seconds: int | None = None  # sent as Retry-After (503 overloaded)

    def body(self) -> dict:
        """``retry_after_seconds`` too where there is one: SageMaker hands a client the body, not the headers."""
        error = {"code": self.status, "type": self.kind, "message": self.message}
        if self.retry_after_seconds is not None:
            error["retry_after_seconds"] = self.retry_after_seconds
        return {"error": error}

    def headers(self) -> dict[str, str]:
        """HTTP headers the response carries besides its Content-Type."""
        return {} if self.retry_after_seconds is None else {RETRY_AFTER: str(self.retry_after_seconds)}


def _bounded(message: str) -> str:
    if len(message) <= MAX_MESSAGE_CHARS:
        return message
    return f"{message[:MAX_MESSAGE_CHARS]}... ({len(message) - MAX_MESSAGE_CHARS} more characters)"


def _is_out_of_memory(exc: BaseException) -> bool:
    """Host or accelerator memory ran out. torch is looked up, not imported: where it was never loaded, no torch
    error can occur (and modules that map errors stay torch-free)."""
    torch = sys.modules.get("torch")
    return isinstance(exc, MemoryError) or (torch is not None and isinstance(exc, torch.OutOfMemoryError))


def error_response(exc: BaseException, request_id: str = "-") -> ErrorResponse:
    """Map any exception to the response a client gets; bugs are logged with their traceback."""
    if isinstance(exc, RequestError):
        message = _bounded(str(exc))
        level = logging.WARNING if exc.status >= 500 else logging.INFO
        logger.log(level, "request %s rejected (%d %s): %s", request_id, exc.status, exc.kind, message)
        return ErrorResponse(exc.status, exc.kind, message, getattr(exc, "retry_after_seconds", None))
    if _is_out_of_memory(exc):
        logger.error("request %s: out of memory", request_id, exc_info=exc)
        return ErrorResponse(507, "out_of_memory", "the server ran out of memory for this request; retry later")
    logger.error("request %s: internal error", request_id, exc_info=exc)
    return ErrorResponse(500, "internal_error", f"internal error ({type(exc).__name__}); see the server log")
