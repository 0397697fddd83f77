"""An HTTP request as DJL's ``RequestParser`` turns it into a Java Input: query parameters -> content; headers ->
properties; SageMaker custom attributes split into properties; body -> content ``"data"``; forms -> one content entry
per field; then ``InferenceRequestHandler`` adds the property ``requestId``."""

from __future__ import annotations

from typing import Mapping, Sequence, Union

from scripts.djl.errors import DjlHttpError
from scripts.djl.java import JavaInput, java_split, java_trim

CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"

Headers = Union[Mapping[str, str], Sequence[tuple]]


def _header_items(headers: Union[Headers, None]) -> list[tuple]:
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        return list(headers.items())
    return [tuple(h) for h in headers]


def _query_items(query) -> list[tuple]:
    if query is None:
        return []
    items = query.items() if isinstance(query, Mapping) else query
    grouped: dict = {}  # QueryStringDecoder.parameters(): key -> [values], first-seen order
    for key, value in items:
        values = value if isinstance(value, (list, tuple)) else [value]
        grouped.setdefault(key, []).extend(values)
    return [(key, v) for key, values in grouped.items() for v in values]


def _parse_http(headers: Union[Headers, None],
                query,
                request_id: Union[str, None],
                request_id_header: str,
                allow_handler_override: bool) -> JavaInput:
    java = JavaInput()
    for key, value in _query_items(query):  # query params come first, as content
        java.add(key, str(value))
    header_items = _header_items(headers)
    for key, value in header_items:
        if key.lower() == CUSTOM_ATTRIBUTES_HEADER.lower():
            for token in java_split(value, ";"):
                pair = token.split("=", 1)
                if len(pair) == 2:
                    java.add_property(java_trim(pair[0]), java_trim(pair[1]))
        else:
            java.add_property(key, value)
    if request_id is None:  # Session: header value, else a random UUID
        request_id = next((v for k, v in header_items
                           if k.lower() == request_id_header.lower()),
                          "00000000-0000-4000-8000-000000000000")
    java._request_id = request_id
    java._allow_handler_override = allow_handler_override
    return java


def _finish_http(java: JavaInput) -> JavaInput:
    if "handler" in java.properties and not java._allow_handler_override:
        raise DjlHttpError(400, "The handler can't be overridden in a request")
    java.add_property("requestId", java._request_id)  # InferenceRequestHandler
    return java


def http_request(body: bytes = b"",
                 headers: Union[Headers, None] = None,
                 *,
                 query=None,
                 request_id: Union[str, None] = None,
                 request_id_header: str = "x-request-id",
                 allow_handler_override: bool = False) -> JavaInput:
    """``RequestParser.parseRequest`` for a non-form body (+ ``requestId``).

    Each header becomes a property named as sent (case-insensitively unique, last value
    wins); ``X-Amzn-SageMaker-Custom-Attributes`` is split on ``;``, each token on the
    first ``=``, both sides trimmed, tokens without ``=`` dropped, and the raw header is
    NOT kept. The body is content ``"data"`` (even when empty). Query parameters are
    content entries (UTF-8 strings) placed before ``"data"``. ``requestId`` is the value
    of ``request_id_header`` (``x-request-id``; ``X-Amzn-SageMaker-Inference-Id`` on
    SageMaker) or a random UUID. Content type is not inspected here: for
    ``multipart/form-data`` or ``application/x-www-form-urlencoded`` use
    :func:`form_request`.
    """
    java = _parse_http(headers, query, request_id, request_id_header, allow_handler_override)
    java.add("data", bytes(body))
    return _finish_http(java)


def form_request(fields: Union[Mapping[str, Union[bytes, str]], Sequence[tuple]],
                 headers: Union[Headers, None] = None,
                 *,
                 urlencoded: bool = False,
                 boundary: str = "djl-test-boundary",
                 query=None,
                 request_id: Union[str, None] = None,
                 request_id_header: str = "x-request-id",
                 allow_handler_override: bool = False) -> JavaInput:
    """``RequestParser`` + ``NettyUtils.addFormData`` for a form body.

    One content entry per form part, in order, keyed by the field name: text fields
    (``str``) as UTF-8, file parts (``bytes``) as raw bytes. File names and per-part
    content types are dropped; there is no ``"data"`` entry unless a field is named
    ``data``. A ``Content-Type`` header with the boundary is added if missing.
    """
    items = list(fields.items()) if isinstance(fields, Mapping) else list(fields)
    header_items = _header_items(headers)
    if not any(k.lower() == "content-type" for k, _ in header_items):
        ctype = ("application/x-www-form-urlencoded" if urlencoded else
                 f"multipart/form-data; boundary={boundary}")
        header_items.append(("Content-Type", ctype))
    java = _parse_http(header_items, query, request_id, request_id_header,
                       allow_handler_override)
    for name, value in items:
        java.add(name, value)
    return _finish_http(java)
