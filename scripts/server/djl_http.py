"""HTTP <-> DJL: a Starlette request becomes the JavaInput DJL's RequestParser builds (headers as properties,
custom attributes split, form fields as content entries, the body as ``data``, query parameters as content), and
a DjlResponse becomes the HTTP response (its status, its properties as headers, its body); an async-mode stream
becomes a chunked response, each chunk sent as the handler yields it."""

from __future__ import annotations

import json
import uuid

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from scripts.djl.http import form_request, http_request
from scripts.djl.java import JavaInput
from scripts.djl.outputs import DjlResponse
from scripts.server.async_mode import DjlStream

FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
REQUEST_ID_HEADER = "x-request-id"
# Headers the HTTP layer computes itself; an Output property of that name is not passed through.
HOP_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})


class RequestTooLarge(Exception):
    """The body is over the server's request limit (DJL/Netty: 413)."""


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"request of {declared} bytes is over the limit of {limit}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise RequestTooLarge(f"request is over the limit of {limit} bytes")
    return bytes(body)


async def to_java_input(request: Request, body: bytes) -> JavaInput:
    headers = list(request.headers.items())
    query = list(request.query_params.multi_items())
    request_id = request.headers.get(REQUEST_ID_HEADER) or str(uuid.uuid4())
    content_type = request.headers.get("content-type", "").lower()
    if content_type.startswith(FORM_TYPES):
        fields = await _form_fields(request, body)
        return form_request(fields, headers, query=query, request_id=request_id)
    return http_request(body, headers, query=query, request_id=request_id)


async def _form_fields(request: Request, body: bytes) -> list[tuple[str, bytes | str]]:
    """Every part in order, keyed by its field name: files as bytes, text fields as str."""

    async def replay() -> dict:  # the body was already read (and size-checked): parse it again
        return {"type": "http.request", "body": body, "more_body": False}

    form = await Request(request.scope, replay).form(max_part_size=len(body) + 1)
    fields: list[tuple[str, bytes | str]] = []
    for name, value in form.multi_items():
        fields.append((name, await value.read() if isinstance(value, UploadFile) else value))
    await form.close()
    return fields


def to_http(response: DjlResponse | DjlStream) -> Response:
    headers = {key: str(value) for key, value in response.properties.items() if key.lower() not in HOP_HEADERS}
    if isinstance(response, DjlStream):
        return StreamingResponse(_chunks(response), status_code=response.code, headers=headers)
    return Response(content=response.body, status_code=response.code, headers=headers)


async def _chunks(stream: DjlStream):
    yield stream.first
    async for chunk in stream.rest:
        yield chunk


def error_response(code: int, error_type: str, message: str) -> Response:
    """DJL's own error body (ErrorResponse: code, type, message)."""
    body = {"code": code, "type": error_type, "message": message}
    return Response(json.dumps(body), status_code=code, media_type="application/json")
