"""A stand-in for SageMaker's runtime in the client's tests (moto answers InvokeEndpoint with a canned body and has no
InvokeEndpointWithResponseStream): botocore's request, as it would leave the machine, is read by the endpoint's own
request parser (``serving.api.requests`` after the local server's HTTP -> DJL step) and answered with the endpoint's
own renderer (``serving.api.formats``, ``serving.api.streaming``) for a fixed transcription; streaming answers are
real AWS event-stream frames, cut at arbitrary places, so botocore parses them as it parses SageMaker's.

SageMaker hands the container ``Content-Type``, ``Accept`` (``X-Amzn-SageMaker-Accept`` on the streaming API) and
``X-Amzn-SageMaker-Custom-Attributes``; :func:`container_headers` does the same renaming.
"""

from __future__ import annotations

import asyncio
import io
import json
import struct
from binascii import crc32
from collections.abc import Iterable
from dataclasses import dataclass, field

from botocore.awsrequest import AWSResponse
from botocore.eventstream import EventStream
from botocore.parsers import EventStreamJSONParser
from starlette.requests import Request

from scripts.server.djl_http import to_java_input
from serving.api.formats import render
from serving.api.requests import ParsedRequest, RawRequest, parse_request
from serving.api.streaming import TranscriptEvents
from serving.results import Segment, Transcription, Word

STREAM_OPERATION = "InvokeEndpointWithResponseStream"
FORWARDED = {"content-type": "Content-Type", "accept": "Accept", "x-amzn-sagemaker-accept": "Accept",
             "x-amzn-sagemaker-custom-attributes": "X-Amzn-SageMaker-Custom-Attributes"}
BODY_KEY = "data"

SPOKEN = Transcription(
    language="de", duration=4.0, task="transcribe",
    segments=(
        Segment(0.0, 1.5, " Guten Morgen.", (50364, 1, 2, 50439), -0.2, 0.01, 0.9, 0.0,
                (Word(" Guten", 0.0, 0.6, 0.9), Word(" Morgen.", 0.6, 1.5, 0.8))),
        Segment(1.5, 4.0, " Wie geht's?", (50439, 3, 4, 50564), -0.3, 0.02, 1.0, 0.0,
                (Word(" Wie", 1.5, 2.0, 0.95), Word(" geht's?", 2.0, 4.0, 0.7))),
    ),
)


class FakeRaw(io.BytesIO):
    """What botocore reads a response body from: ``read`` (streaming blobs) and ``stream`` (event streams)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = list(chunks)
        super().__init__(b"".join(self.chunks))

    def stream(self, **_):
        yield from self.chunks


def container_headers(headers) -> list[tuple[str, str]]:
    return [(FORWARDED[name.lower()], _text(value)) for name, value in headers.items() if name.lower() in FORWARDED]


def _text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode("latin-1")


def parse_as_endpoint(headers: list[tuple[str, str]], body: bytes) -> ParsedRequest:
    """The request as the endpoint reads it: the local server's HTTP -> DJL step, then ``parse_request``."""

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": "POST", "path": "/invocations", "query_string": b"",
             "headers": [(name.lower().encode(), value.encode("latin-1")) for name, value in headers]}
    java = asyncio.run(to_java_input(Request(scope, receive), body))
    content = dict(java.content)
    raw = RawRequest(properties=java.properties.to_dict(), body=content.pop(BODY_KEY, b""), fields=content)
    return parse_request(raw)


@dataclass
class FakeRuntime:
    """before-send handler: answers InvokeEndpoint and InvokeEndpointWithResponseStream as the endpoint would, for
    :data:`SPOKEN`; records what the endpoint parsed. ``stream_chunk`` cuts the event stream's bytes into chunks."""

    transcription: Transcription = SPOKEN
    stream_chunk: int = 7
    seen: list[ParsedRequest] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    def __call__(self, request, **_) -> AWSResponse:
        self.headers.append({name: _text(value) for name, value in request.headers.items()})
        body = request.body if isinstance(request.body, bytes) else request.body.read()
        parsed = parse_as_endpoint(container_headers(request.headers), body)
        self.seen.append(parsed)
        if request.url.endswith("/invocations-response-stream"):
            sse = sse_bytes(self.transcription, parsed)
            frames = b"".join(payload_part(sse[i:i + self.stream_chunk]) for i in range(0, len(sse), self.stream_chunk))
            return AWSResponse(request.url, 200, {"X-Amzn-SageMaker-Content-Type": "text/event-stream"},
                               FakeRaw(cut(frames, 5)))
        rendered = render(self.transcription, parsed.params)
        return AWSResponse(request.url, 200, {"Content-Type": rendered.content_type}, FakeRaw([rendered.body]))


def sse_bytes(transcription: Transcription, parsed: ParsedRequest) -> bytes:
    events = TranscriptEvents(parsed.params)
    return b"".join(event.data for event in (*events.deltas(transcription.segments), events.done(transcription)))


def cut(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


# --- AWS event-stream frames (application/vnd.amazon.eventstream) ---------------------------------------------


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One message: prelude (total and header lengths, their CRC), string headers, payload, message CRC."""
    encoded = b"".join(bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(value)) + value.encode()
                       for name, value in headers.items())
    prelude = struct.pack(">II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    message = prelude + struct.pack(">I", crc32(prelude)) + encoded + payload
    return message + struct.pack(">I", crc32(message))


def payload_part(data: bytes) -> bytes:
    return frame({":event-type": "PayloadPart", ":message-type": "event",
                  ":content-type": "application/octet-stream"}, data)


def model_stream_error(message: str, code: str = "ModelError") -> bytes:
    return frame({":exception-type": "ModelStreamError", ":message-type": "exception",
                  ":content-type": "application/json"}, json.dumps({"Message": message, "ErrorCode": code}).encode())


def event_stream(client, frames: bytes, chunk: int = 5) -> EventStream:
    """What botocore gives as ``Body`` for these frames, read in chunks of ``chunk`` bytes."""
    shape = client.meta.service_model.operation_model(STREAM_OPERATION).output_shape.members["Body"]
    return EventStream(FakeRaw(cut(frames, chunk)), shape, EventStreamJSONParser(), STREAM_OPERATION)
