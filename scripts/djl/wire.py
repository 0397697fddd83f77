"""DJL's wire format between the Java frontend and the Python engine: ``Connection.RequestEncoder`` (a Java Input
to bytes, which ``Input().read()`` decodes on the Python side), ``Connection.OutputDecoder`` (an ``Output.send()``
back to code, message, properties and content) and the binary-encoded items of async mode (``Output.binary_encode``
as ``Request.addResponse`` reads them). ``Wire`` is both the socket ``Input.read``/``Output.send`` talk to and
``CodecUtils``' reader."""

from __future__ import annotations

import struct

from scripts.djl.errors import DjlWorkerError
from scripts.djl.java import JavaInput, JavaProperties

# CodecUtils.MAX_BUFFER_SIZE (override: MAX_NETTY_BUFFER_SIZE): limit per content item
# that Python sends back; larger items make the Java decoder drop the connection.
MAX_RESPONSE_ITEM_BYTES = 20 * 1024 * 1024


class Wire:
    def __init__(self, data: bytes = b""):
        self.buffer = bytearray(data)
        self.pos = 0

    def recv(self, n: int) -> bytes:
        chunk = bytes(self.buffer[self.pos:self.pos + n])
        self.pos += len(chunk)
        return chunk

    def sendall(self, data) -> None:
        self.buffer += data

    # Java-side reads (CodecUtils)
    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.buffer):
            raise ValueError("truncated DJL frame")
        return self.recv(n)

    def read_short(self) -> int:
        return struct.unpack(">h", self._take(2))[0]

    def read_int(self) -> int:
        return struct.unpack(">i", self._take(4))[0]

    def read_byte(self) -> int:
        return self._take(1)[0]

    def read_bytes(self, limit: int = MAX_RESPONSE_ITEM_BYTES):
        size = self.read_int()
        if size < 0:
            return None
        if size > limit:
            raise DjlWorkerError(f"Message size exceed limit: {size}")
        return self._take(size)

    def read_utf8(self):
        size = self.read_int()
        return None if size < 0 else self._take(size).decode("utf-8")


def utf8(value) -> bytes:
    if value is None:
        return struct.pack(">i", -1)
    raw = value.encode("utf-8")
    return struct.pack(">i", len(raw)) + raw


def encode_request(java: JavaInput) -> bytes:
    """``Connection.RequestEncoder.encode``."""
    props = list(java.properties.items())
    out = bytearray(struct.pack(">h", len(props)))
    for key, value in props:
        out += utf8(key) + utf8(value)
    out += struct.pack(">h", len(java.content))
    for key, value in java.content:
        value = b"" if value is None else bytes(value)
        out += utf8(key) + struct.pack(">i", len(value)) + value
    return bytes(out)


def decode_output(raw: bytes):
    """``Connection.OutputDecoder.decode``."""
    wire = Wire(raw)
    code = wire.read_short()
    message = wire.read_utf8()
    props = JavaProperties()
    for _ in range(wire.read_short()):
        key = wire.read_utf8()
        props.put(key, wire.read_utf8())
    size = wire.read_short()
    content, chunks = [], None
    if size == -1:
        chunks = []
        more = True
        while more:
            more = wire.read_byte() == 1
            chunk = wire.read_bytes()
            chunks.append(b"" if chunk is None else chunk)
        content.append((None, b"".join(chunks)))
    else:
        for _ in range(size):
            key = wire.read_utf8()
            content.append((key, wire.read_bytes()))
    return code, message, props, content, chunks


def decode_item(raw: bytes) -> dict:
    """``Output.binary_encode``: ``short n`` then n * (utf8 key, utf8 value), as ``Request.addResponse`` reads it."""
    wire = Wire(raw)
    item = {}
    for _ in range(wire.read_short()):
        key, value = wire.read_utf8(), wire.read_utf8()
        if key is None or value is None:
            raise DjlWorkerError("NullPointerException: a null key or value in an async Output item")
        item[key] = value
    return item
