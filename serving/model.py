"""DJL Serving's Python entry point (``option.entryPoint=serving/model.py``): a thin adapter, no inference here.

The first call is an empty Input carrying the serving options (``option.`` stripped): the service is started from
it once and cached. Later calls are single requests or, with ``batch_size`` > 1, a dynamic batch whose items share
one status code and one set of response properties (DJL's sync-mode contract): then every item gets its own body,
and an item that failed gets an error body naming its problem while the others are transcribed normally.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from serving.djl_compat import Input, Output
from serving.requests import RawRequest
from serving.service import Response, TranscriptionService

logger = logging.getLogger(__name__)

BODY_KEY = "data"  # DJL's content key for the request body
MIXED_CONTENT_TYPE = "text/plain; charset=utf-8"

_service: TranscriptionService | None = None


def handle(inputs: Input) -> Output | None:
    if inputs.is_empty():
        _ensure_service(inputs.get_properties())
        return None
    service = _ensure_service(inputs.get_properties())
    if inputs.is_batch():
        items = inputs.get_batches()
        return _batch_output(service.handle([_raw(item) for item in items]))
    return _single_output(service.handle([_raw(inputs)])[0])


def _ensure_service(properties: Mapping[str, str]) -> TranscriptionService:
    global _service
    if _service is None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        _service = TranscriptionService.start(dict(properties))
    return _service


def _raw(item: Input) -> RawRequest:
    """DJL puts the body in content ``data`` and form fields and query parameters in entries named by field."""
    properties = {key: str(value) for key, value in item.get_properties().items()}
    content = item.get_content()
    entries: dict[str, bytes] = {}
    for key, value in zip(content.get_keys(), content.get_values()):
        if key in entries and key.endswith("[]"):  # a repeated list field (timestamp_granularities[])
            entries[key] += b"," + _as_bytes(value)
        else:
            entries[key] = _as_bytes(value)
    body = entries.pop(BODY_KEY, b"")
    return RawRequest(properties=properties, body=body, fields=entries)


def _as_bytes(value: bytes | bytearray | str | None) -> bytes:
    """DJL reads content off its socket as bytearray; the stand-in may hold str or None."""
    if value is None:
        return b""
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def _single_output(response: Response) -> Output:
    output = Output().set_code(response.status).add_property("Content-Type", response.content_type)
    if response.status >= 300:
        output.set_message(_message(response))
    return output.add(response.body)


def _batch_output(responses: list[Response]) -> Output:
    output = Output().add_property("Content-Type", _shared_content_type(responses))
    for index, response in enumerate(responses):
        output.add(response.body, key="data", batch_index=index)
    return output


def _shared_content_type(responses: list[Response]) -> str:
    """DJL sends one Content-Type for the whole batch: the items' own when they agree, else plain UTF-8 text (every
    body, JSON, text, SRT or WebVTT, is UTF-8 text in exactly the format its request asked for)."""
    types = {response.content_type for response in responses}
    return types.pop() if len(types) == 1 else MIXED_CONTENT_TYPE


def _message(response: Response) -> str:
    return response.body.decode("utf-8", errors="replace")
