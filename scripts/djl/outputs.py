"""An ``Output`` of the sync engine split back into per-request HTTP responses: ``Connection.OutputDecoder``, then
``PyPredictor.batchPredict`` (one response per batched request), then ``InferenceRequestHandler.sendOutput``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from scripts.djl.errors import DjlHttpError, DjlWorkerError
from scripts.djl.wire import Wire, decode_output
from serving.djl_compat import Input, Output

_BATCH_OUTPUT_KEY = re.compile(r"batch_(\d+)\.(.*)")  # PyPredictor.BATCH_PATTERN


@dataclass
class DjlResponse:
    """One HTTP response as ``InferenceRequestHandler.sendOutput`` builds it.

    ``properties`` are the Output properties that become response headers (folded
    case-insensitively, values ``str()``-ed; DJL adds no Content-Type of its own), ``body``
    is content ``"data"`` or else the first entry (other entries are dropped), ``chunks``
    is the list of streamed chunks for stream content (``None`` otherwise). Iterating
    yields ``(code, properties, body)``.
    """

    code: int
    properties: dict
    body: bytes
    message: str = "OK"
    chunks: Union[list, None] = None

    def __iter__(self):
        return iter((self.code, self.properties, self.body))


def _get_data(content: list):
    """``Input.getData()``: entry "data", else the first one, else None."""
    if not content:
        return None
    for key, value in content:
        if key == "data":
            return value
    return content[0][1]


def outputs_of(output: Output, batch: Union[Input, int, None] = None) -> list[DjlResponse]:
    """Decode ``output`` into the per-request HTTP responses (sync engine).

    ``batch`` is the Input ``handle()`` got (or its batch size); without it the output
    is treated as unbatched. Mirrors ``PyPredictor.batchPredict``:

    * code >= 300: every request gets the SAME whole response (code, message,
      properties, body = the error JSON);
    * otherwise the content must have exactly N entries keyed ``batch_<i>.<key>``, else
      all N requests fail with HTTP 400 (raised as :class:`DjlHttpError`); each request
      gets the shared code, message and properties (no per-item code/headers) and its
      own entries with the prefix removed.

    Stream content is consumed (``Output.send`` drains the iterator).
    """
    wire = Wire()
    output.send(wire)
    code, message, props, content, chunks = decode_output(bytes(wire.buffer))
    headers = props.to_dict()

    size = None
    if isinstance(batch, int):
        size = batch
    elif batch is not None and batch.is_batch():
        size = batch.get_batch_size()

    def response(items: list) -> DjlResponse:
        body = _get_data(items)
        return DjlResponse(code, dict(headers), b"" if body is None else bytes(body),
                           message, chunks)

    if size is None or size == 1:
        return [response(content)]
    if code >= 300:
        return [response(content) for _ in range(size)]
    if len(content) != size:
        raise DjlHttpError(
            400, f"Batch output size mismatch, expected: {size}, actual: {len(content)}")
    per_item: list[list] = [[] for _ in range(size)]
    for key, value in content:
        if key is None:
            raise DjlWorkerError("NullPointerException: batch output key is null")
        match = _BATCH_OUTPUT_KEY.fullmatch(key)
        if match is None:
            raise DjlHttpError(400, f"Unexpected batch output key: {key}")
        index = int(match.group(1))
        if index >= size:
            raise DjlWorkerError(f"IndexOutOfBoundsException: batch index {index}")
        per_item[index].append((match.group(2), value))
    return [response(items) for items in per_item]
