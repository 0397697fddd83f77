"""DJL Serving's Python entry point (``option.entryPoint=serving/model.py``): a thin adapter, no inference here.

One module, one handler per DJL mode (DJL calls the function named by ``option.handler``, default ``handle``, and in
async mode awaits it):

* ``handle`` (``option.async_mode=false``): DJL's sync engine calls it with one request or, with ``batch_size`` > 1,
  a dynamic batch whose items share one status code and one set of response properties: then every item gets its
  own body, and an item that failed gets an error body naming its problem while the others are transcribed
  normally. The batch's requests are submitted to the service's scheduler together and awaited: the same path as
  async mode.
* ``handle_async`` (``option.async_mode=true`` with ``option.handler=handle_async`` and ``batch_size=1``): DJL's async
  engine awaits it once per request, concurrently, on one event loop; the scheduler batches the windows of all
  requests in flight. Each request gets its own Output in that engine's contract: one binary-encoded item
  ``{"data", "last"}`` with its own Content-Type; an error adds ``code`` (its own status) and ``error`` (the
  problem), from which DJL writes the body ``{"code", "error"}`` itself, and the Output's properties become headers
  (``Retry-After`` where the server is out of room for audio: :mod:`serving.endpoint.admission`); ``stream=true`` is an async generator of
  such Outputs, one server-sent event each (:mod:`serving.api.streaming`).

The first call in either mode is an empty Input carrying the serving options (``option.`` stripped): the service is
started from it once and cached; a handler that does not match ``option.async_mode`` fails the model loading. Once
the service runs, an empty Input with a request id is a request without content (a form with no fields): it gets the
400 naming that, not a second start.

Two more functions for a server that can use them (the local server; DJL has no such hooks): ``cancel(request_id)``
stops the work of a request whose client has gone, and ``shutdown()`` drains within ``option.drain_timeout_seconds``
and answers what is left with a 503.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Mapping

from serving.api.requests import RawRequest
from serving.djl_compat import Input, Output
from serving.endpoint.async_service import AsyncTranscriptionService, EventStream
from serving.endpoint.service import Response, TranscriptionService
from serving.errors import ConfigurationError

logger = logging.getLogger(__name__)

BODY_KEY = "data"  # DJL's content key for the request body
REQUEST_ID_PROPERTIES = ("requestId", "request_tracking_id")  # set by DJL on every request, never on the options
MIXED_CONTENT_TYPE = "text/plain; charset=utf-8"
ASYNC_HANDLER = "handle_async"
_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f]+")  # not allowed in DJL's HTTP reason phrase (Netty refuses CR/LF)

_service: TranscriptionService | None = None
_async_service: AsyncTranscriptionService | None = None


def handle(inputs: Input) -> Output | None:
    if _is_options(inputs, running=_service is not None):
        _require_mode(inputs.get_properties(), async_mode=False)
        _ensure_service(inputs.get_properties())
        return None
    service = _ensure_service(inputs.get_properties())
    if inputs.is_batch():
        items = inputs.get_batches()
        return _batch_output(service.handle([_raw(item) for item in items]))
    return _single_output(service.handle([_raw(inputs)])[0])


async def handle_async(inputs: Input) -> Output | AsyncIterator[Output] | None:
    if _is_options(inputs, running=_async_service is not None):
        properties = dict(inputs.get_properties())
        _require_mode(properties, async_mode=True)
        await asyncio.to_thread(_start_async_service, properties)
        return None
    if _async_service is None or inputs.is_batch():
        raise ConfigurationError("async mode: the options (first, empty Input) must come first, and batch_size=1")
    answer = await _async_service.answer(_raw(inputs))
    if isinstance(answer, EventStream):
        return _event_outputs(answer)
    return _async_output(answer)


def cancel(request_id: str) -> int:
    """Stop the work of the requests in flight with this ``requestId`` (a server whose client has gone calls this;
    DJL itself has no such hook). How many were stopped."""
    service = _async_service or _service
    return service.cancel(request_id) if service is not None else 0


def shutdown() -> None:
    """Take no new request, let those in flight finish within ``option.drain_timeout_seconds``, answer the rest with
    503, stop (the local server calls this on SIGTERM; DJL stops its Python workers on its own)."""
    for service in (_async_service, _service):
        if service is not None:
            service.close()


def _is_options(inputs: Input, running: bool) -> bool:
    """DJL's first, empty Input (the options) rather than a request without content (a form with no fields): before
    the service runs, any empty Input; after, one that carries no request id (DJL gives every request one)."""
    if not inputs.is_empty():
        return False
    return not running or not any(key in inputs.get_properties() for key in REQUEST_ID_PROPERTIES)


def _ensure_service(properties: Mapping[str, str]) -> TranscriptionService:
    global _service
    if _service is None:
        _configure_logging()
        _service = TranscriptionService.start(dict(properties), async_mode=False)
    return _service


def _start_async_service(properties: Mapping[str, str]) -> None:
    global _async_service
    if _async_service is None:
        _configure_logging()
        _async_service = AsyncTranscriptionService.start(properties)


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _require_mode(properties: Mapping[str, str], async_mode: bool) -> None:
    """DJL calls ``option.handler`` in sync mode and awaits it in async mode: the two settings must agree."""
    configured = str(properties.get("async_mode", "false")).strip().lower() == "true"
    if configured != async_mode:
        wanted = f"option.handler={ASYNC_HANDLER}" if configured else "no option.handler (or handle)"
        raise ConfigurationError(f"option.async_mode={str(configured).lower()} needs {wanted}")
    if async_mode and int(properties.get("batch_size", "1")) != 1:
        raise ConfigurationError(
            "option.async_mode=true needs batch_size=1: requests are batched by the scheduler (max_batch_windows, "
            "max_batch_wait_ms); DJL's dynamic batches cannot be answered per request in async mode"
        )


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
    output = _with_headers(Output().set_code(response.status).add_property("Content-Type", response.content_type),
                           response)
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


def _async_output(response: Response) -> Output:
    """One whole response in the async engine's contract (DJL's Request.addResponse reads these fields)."""
    item = {"data": response.body.decode("utf-8"), "last": True}
    if response.status != 200:
        item["code"] = response.status
        item["error"] = _reason(response)
    output = _with_headers(Output().add_property("Content-Type", response.content_type), response)
    return output.add(Output.binary_encode(item))


def _with_headers(output: Output, response: Response) -> Output:
    """DJL sends an Output's properties as HTTP headers (``Retry-After`` on a 503 overloaded). A dynamic batch shares
    one set of headers: its items' own are not sent (a refused item's body says why)."""
    for name, value in response.headers.items():
        output.add_property(name, value)
    return output


async def _event_outputs(stream: EventStream) -> AsyncIterator[Output]:
    """One Output per server-sent event; DJL sends the headers with the first and closes after the last."""
    async for event in stream.events:
        item = {"data": event.data.decode("utf-8"), "last": event.last}
        yield Output().add_property("Content-Type", stream.content_type).add(Output.binary_encode(item))


def _reason(response: Response) -> str:
    """DJL's error body field and HTTP reason phrase: the error's type and message on one line."""
    error = response.error
    text = f"{error.kind}: {error.message}" if error is not None else _message(response)
    return _LINE_BREAKS.sub(" ", text)
