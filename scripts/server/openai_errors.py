"""OpenAI's error body, ``{"error": {"message", "type", "param", "code"}}``, for the ``/v1/audio`` routes: made here
for what the route refuses itself, or translated from the container's own error body (DJL's ``{"code", "error"}``
with the handler's ``"<kind>: <message>"``, or DJL's ``{"code", "message"}``), keeping its status."""

from __future__ import annotations

import json
import re

from starlette.responses import JSONResponse

INVALID_REQUEST = "invalid_request_error"
SERVER_ERROR = "server_error"
KIND_PREFIX = re.compile(r"^(?P<kind>[a-z_]+): (?P<message>.*)$", re.DOTALL)
# The parameter an error of the handler is about, when its message starts by naming it ("language 'xx' ...",
# "parameter 'temperature'=...", "unknown parameter 'foo'").
NAMED_PARAMETER = re.compile(r"^(?:unknown )?(?:parameter )?'?(?P<param>[a-z_]+)'?[ =]")
PARAMETERS = frozenset({"file", "model", "language", "prompt", "response_format", "temperature",
                        "timestamp_granularities", "stream", "task", "long_form", "condition_on_previous_text"})


def openai_error(status: int, message: str, param: str | None = None, code: str | None = None) -> JSONResponse:
    kind = INVALID_REQUEST if status < 500 else SERVER_ERROR
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


def from_container(status: int, body: bytes) -> JSONResponse:
    """The container's error response in OpenAI's shape."""
    text = _message(body)
    matched = KIND_PREFIX.match(text)
    code, message = (matched["kind"], matched["message"]) if matched else (None, text)
    named = NAMED_PARAMETER.match(message)
    param = named["param"] if named and named["param"] in PARAMETERS else None
    return openai_error(status, message, param=param, code=code)


def _message(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace")
    try:
        parsed = json.loads(text)
    except ValueError:
        return text
    if isinstance(parsed, dict):
        found = parsed.get("error", parsed.get("message"))
        if isinstance(found, dict):  # already {"error": {"message": ...}}
            found = found.get("message")
        if isinstance(found, str):
            return found
    return text
