"""DJL's async mode (``option.async_mode=true``): ``AsyncRequestManager`` adds ``request_tracking_id`` to each
request and routes each Output its handler returns or yields; ``Request.addResponse`` applies the binary-encoded
``data``/``last``/``code``/``error`` item; ``InferenceRequestHandler.sendOutput`` sends status and headers with the
first chunk (a first chunk that is also the last is a plain response). Read with ``python_async_engine.py``
(``invoke_handler``) at the commit named in ``scripts.djl``."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Union

from scripts.djl.engine import EngineContext, to_python
from scripts.djl.errors import DjlWorkerError
from scripts.djl.java import JavaInput
from scripts.djl.wire import Wire, decode_item, decode_output
from serving.djl_compat import Input, Output

REQUEST_TRACKING_ID = "request_tracking_id"
ASYNC_FAILURE_PREFIX = "Async Inference Failure "


def async_request(java: JavaInput, ctx: Union[EngineContext, None] = None) -> Input:
    """One request as the async ``handle`` receives it: ``AsyncRequestManager.addInput`` adds a fresh
    ``request_tracking_id``; no dynamic batching (``batch_size=1``)."""
    tracked = java.copy()
    tracked.add_property(REQUEST_TRACKING_ID, str(uuid.uuid4()))
    return to_python(tracked, ctx)


@dataclass
class AsyncReply:
    """One request's response in async mode, built from the Outputs its handler returns or yields, in order.

    ``add(output)`` applies one Output as ``AsyncRequestManager.addOutput`` does and returns the bytes it appends
    to the body (``None``: nothing yet):

    * code != 200: the response ends with that code and DJL's own body, GSON of ``new Output(code, "Async
      Inference Failure " + message)``, rendered here as ``{"code", "message"}``; the Output's properties (its
      Content-Type too) are NOT used;
    * else content entry 0 is the binary-encoded item (``Output.binary_encode``): its properties are added to the
      response's (all of them become headers, ``request_tracking_id`` included); an empty ``data`` that is not
      ``last`` appends nothing; with ``code`` the response ends with that status, message ``error`` and the body
      ``{"code": code, "error": error}`` (compact JSON, as GSON writes it); else ``data`` (UTF-8) is appended and
      ``last`` ends the response.

    ``InferenceRequestHandler.sendOutput`` sends the status and headers as they are when the first chunk is
    read; a first chunk that is also the last makes a plain (not chunked) response.
    """

    code: int = 200
    message: str = "OK"
    properties: dict = field(default_factory=dict)
    last: bool = False

    def add(self, output: Output) -> Union[bytes, None]:
        if self.last:
            raise DjlWorkerError("an Output arrived for a request that was already answered")
        wire = Wire()
        output.send(wire)
        code, message, props, content, _ = decode_output(bytes(wire.buffer))
        if code != 200:
            self.code, self.message, self.last = code, ASYNC_FAILURE_PREFIX + str(message), True
            return json.dumps({"code": code, "message": self.message}, separators=(",", ":")).encode()
        if not content:
            raise DjlWorkerError("IndexOutOfBoundsException: an async Output without content")
        self.properties.update(props.to_dict())
        item = decode_item(bytes(content[0][1]))
        data = item.get("data")
        self.last = item.get("last", "").lower() == "true"
        if not data and not self.last:
            return None
        if "code" in item:
            self.code, self.last = int(item["code"]), True
            body = {"code": self.code}
            if "error" in item:
                self.message = body["error"] = item["error"]
            return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return data.encode("utf-8")
