"""AWS event-stream messages (``application/vnd.amazon.eventstream``), the binary framing of
InvokeEndpointWithResponseStream's body: a 12-byte prelude (total length, headers length, CRC32 of those 8 bytes),
the headers (name length, name, value type 7 = string, value length, value), the payload, then the CRC32 of all
that precedes it. Only string-valued headers are written; that is all the runtime API's events use."""

from __future__ import annotations

import json
import struct
from binascii import crc32
from collections.abc import Sequence

CONTENT_TYPE = "application/vnd.amazon.eventstream"
PRELUDE_BYTES = 12
CHECKSUM_BYTES = 4
STRING_HEADER = 7
JSON = "application/json"
PAYLOAD_PART = "PayloadPart"
MODEL_STREAM_ERROR = "ModelStreamError"
INTERNAL_STREAM_FAILURE = "InternalStreamFailure"
STREAM_BROKEN = "StreamBroken"  # ModelStreamError's ErrorCode for a response the model stopped mid-way


def message(headers: Sequence[tuple[str, str]], payload: bytes) -> bytes:
    """One whole event-stream message."""
    encoded = b"".join(_header(name, value) for name, value in headers)
    total = PRELUDE_BYTES + len(encoded) + len(payload) + CHECKSUM_BYTES
    lengths = struct.pack(">II", total, len(encoded))
    prelude = lengths + struct.pack(">I", crc32(lengths))
    body = prelude + encoded + payload
    return body + struct.pack(">I", crc32(body))


def payload_part(data: bytes, content_type: str = "application/octet-stream") -> bytes:
    """A ``PayloadPart`` event carrying ``data`` (its ``Bytes``)."""
    return message([(":event-type", PAYLOAD_PART), (":content-type", content_type), (":message-type", "event")],
                   data)


def model_stream_error(text: str, error_code: str = STREAM_BROKEN) -> bytes:
    """The ``ModelStreamError`` exception event: the model's response broke off after it began."""
    return _exception(MODEL_STREAM_ERROR, {"Message": text, "ErrorCode": error_code})


def internal_stream_failure(text: str) -> bytes:
    """The ``InternalStreamFailure`` exception event: the stream failed for a reason of the server's own."""
    return _exception(INTERNAL_STREAM_FAILURE, {"Message": text})


def _exception(exception_type: str, body: dict) -> bytes:
    headers = [(":exception-type", exception_type), (":content-type", JSON), (":message-type", "exception")]
    return message(headers, json.dumps(body).encode())


def _header(name: str, value: str) -> bytes:
    name_bytes, value_bytes = name.encode(), value.encode()
    return (struct.pack(">B", len(name_bytes)) + name_bytes + struct.pack(">BH", STRING_HEADER, len(value_bytes))
            + value_bytes)
