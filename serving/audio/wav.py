"""RIFF/WAVE files read directly with numpy: the header checked strictly, the samples viewed without a decoder.

Only the plain layouts are read here: one ``fmt `` chunk then one ``data`` chunk (other chunks skipped, odd sizes
padded), PCM integers of 8/16/24/32 bits, IEEE floats of 32/64 bits, each either as a plain format tag or inside
WAVE_FORMAT_EXTENSIBLE, with a RIFF size, byte rate and block alignment that agree with the file. Anything else
(RF64, compressed codecs, a truncated or oversized data chunk, a header that disagrees with itself, more than
:data:`MAX_CHUNKS` chunks) is not read here: :func:`parse_wav` returns None and the caller decodes the file with
FFmpeg, which has its own rules.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

RIFF_HEADER = struct.Struct("<4sI4s")  # "RIFF", size of the rest, "WAVE"
CHUNK_HEADER = struct.Struct("<4sI")  # id, size of the body (a pad byte follows an odd body)
FMT = struct.Struct("<HHIIHH")  # format tag, channels, rate, byte rate, block align, bits per sample
EXTENSIBLE = struct.Struct("<HHI16s")  # extension size, valid bits, channel mask, sub-format GUID

FORMAT_PCM = 0x0001
FORMAT_IEEE_FLOAT = 0x0003
FORMAT_EXTENSIBLE = 0xFFFE
EXTENSION_BYTES = 22
MAX_CHUNKS = 32  # more is unusual, and walking millions of tiny chunks in Python would be a cheap attack
GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")  # KSDATAFORMAT_SUBTYPE_*: the tag, then this

# (format tag, bits per sample) -> the dtype the samples are stored as (24-bit is widened to int32 on reading).
SAMPLE_TYPES: dict[tuple[int, int], np.dtype] = {
    (FORMAT_PCM, 8): np.dtype(np.uint8),
    (FORMAT_PCM, 16): np.dtype("<i2"),
    (FORMAT_PCM, 24): np.dtype("<i4"),
    (FORMAT_PCM, 32): np.dtype("<i4"),
    (FORMAT_IEEE_FLOAT, 32): np.dtype("<f4"),
    (FORMAT_IEEE_FLOAT, 64): np.dtype("<f8"),
}


@dataclass(frozen=True)
class WavFormat:
    tag: int  # FORMAT_PCM or FORMAT_IEEE_FLOAT (an extensible file's sub-format)
    channels: int
    rate: int
    bits: int

    @property
    def block_bytes(self) -> int:
        return self.channels * self.bits // 8


@dataclass(frozen=True)
class WavAudio:
    format: WavFormat
    data: memoryview  # the data chunk's body: whole blocks only

    @property
    def frames(self) -> int:
        return len(self.data) // self.format.block_bytes

    @property
    def seconds(self) -> float:
        return self.frames / self.format.rate

    def channels_first(self) -> np.ndarray:
        """(channels, frames) in the stored type (24-bit widened to int32 as FFmpeg does: the value << 8)."""
        fmt = self.format
        if fmt.bits == 24:
            samples = _widen_24_bit(self.data)
        else:
            samples = np.frombuffer(self.data, dtype=SAMPLE_TYPES[fmt.tag, fmt.bits])
        return samples.reshape(self.frames, fmt.channels).T.astype(samples.dtype.newbyteorder("="), copy=False)


def parse_wav(data: bytes) -> WavAudio | None:
    """The file's format and sample bytes, or None where it is not a plain RIFF/WAVE file this module reads."""
    if len(data) < RIFF_HEADER.size:
        return None
    riff, riff_size, wave = RIFF_HEADER.unpack_from(data)
    if riff != b"RIFF" or wave != b"WAVE" or riff_size + 8 != len(data):
        return None
    chunks = _chunks(memoryview(data), RIFF_HEADER.size)
    if chunks is None or [name for name, _ in chunks if name in (b"fmt ", b"data")] != [b"fmt ", b"data"]:
        return None
    bodies = dict(chunks)
    fmt = _format(bodies[b"fmt "])
    if fmt is None or len(bodies[b"data"]) % fmt.block_bytes:
        return None
    return WavAudio(fmt, bodies[b"data"])


def _chunks(view: memoryview, at: int) -> list[tuple[bytes, memoryview]] | None:
    """Every chunk up to the end of the file, or None where one runs past it or there are too many."""
    chunks = []
    while at < len(view):
        if at + CHUNK_HEADER.size > len(view) or len(chunks) == MAX_CHUNKS:
            return None
        name, size = CHUNK_HEADER.unpack_from(view, at)
        body_at = at + CHUNK_HEADER.size
        end = body_at + size + (size & 1)
        if end > len(view):
            return None
        chunks.append((bytes(name), view[body_at : body_at + size]))
        at = end
    return chunks


def _format(body: memoryview) -> WavFormat | None:
    if len(body) < FMT.size:
        return None
    tag, channels, rate, byte_rate, block_align, bits = FMT.unpack_from(body)
    if tag == FORMAT_EXTENSIBLE:
        tag = _extensible_tag(body, bits)
    fmt = WavFormat(tag, channels, rate, bits)
    if (tag, bits) not in SAMPLE_TYPES or channels == 0 or rate == 0:
        return None
    if block_align != fmt.block_bytes or byte_rate != rate * block_align:
        return None
    return fmt


def _extensible_tag(body: memoryview, bits: int) -> int | None:
    """The sub-format's tag, where the extension is complete and all the container's bits are valid."""
    if len(body) < FMT.size + EXTENSIBLE.size:
        return None
    size, valid_bits, _, guid = EXTENSIBLE.unpack_from(body, FMT.size)
    if size < EXTENSION_BYTES or valid_bits != bits or guid[2:] != GUID_TAIL:
        return None
    return int.from_bytes(guid[:2], "little")


def _widen_24_bit(data: memoryview) -> np.ndarray:
    """Packed little-endian 24-bit samples -> int32 holding ``value << 8`` (the top three bytes)."""
    packed = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3)
    wide = np.zeros((packed.shape[0], 4), dtype=np.uint8)
    wide[:, 1:] = packed
    return wide.view("<i4").reshape(-1)
