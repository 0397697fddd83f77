"""Decode bombs: files that declare or hold hours of audio in a few KB (FLAC silence in its largest blocks, with or
without its declared length), and headers that claim more audio than the file holds (WAV, Ogg)."""

from __future__ import annotations

import io
import struct
from functools import cache

import av
import numpy as np

from serving.constants import SAMPLE_RATE


@cache
def flac_silence(seconds: int, rate: int = SAMPLE_RATE) -> bytes:
    """Digital silence in FLAC's largest blocks: about 20 KB per hour, its length declared in STREAMINFO."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="flac") as out:
        stream = out.add_stream("flac", rate=rate, layout="mono", options={"frame_size": "65535"})
        stream.codec_context.format = "s16"
        block = np.zeros((1, rate * 10), dtype=np.int16)
        for index in range(seconds // 10):
            frame = av.AudioFrame.from_ndarray(block, format="s16", layout="mono")
            frame.sample_rate, frame.pts = rate, index * block.shape[1]
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buffer.getvalue()


def without_declared_length(flac: bytes) -> bytes:
    """The same FLAC with STREAMINFO's total-sample count zeroed ("unknown"): only decoding can find the length."""
    data = bytearray(flac)
    total_samples_at = 4 + 4 + 13  # "fLaC", the metadata block header, then 13 bytes into STREAMINFO
    data[total_samples_at] &= 0xF0  # the count is 36 bits: the low 4 bits of this byte and the next 4 bytes
    data[total_samples_at + 1 : total_samples_at + 5] = bytes(4)
    return bytes(data)


def wav_claiming(seconds: float, data_bytes: int = 4000) -> bytes:
    """A 16 kHz 16-bit WAV whose header claims ``seconds`` of audio but carries only ``data_bytes`` of it."""
    claimed = min(int(seconds * SAMPLE_RATE * 2), 0xFFFF_FFF0)
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 0xFFFF_FFF0, b"WAVE", b"fmt ", 16, 1, 1, SAMPLE_RATE,
                         SAMPLE_RATE * 2, 2, 16, b"data", claimed)
    return header + bytes(data_bytes)


def ogg_claiming(seconds: float, ogg: bytes) -> bytes:
    """An Ogg file whose last page's granule position (FFmpeg reads the duration from it) claims ``seconds``."""
    data = bytearray(ogg)
    last = data.rfind(b"OggS")
    rate = 48_000  # Opus granules count 48 kHz samples whatever the input rate
    data[last + 6 : last + 14] = struct.pack("<q", int(seconds * rate))
    data[last + 22 : last + 26] = bytes(4)
    page_end = last + 27 + data[last + 26] + sum(data[last + 27 : last + 27 + data[last + 26]])
    data[last + 22 : last + 26] = struct.pack("<I", _ogg_crc(bytes(data[last:page_end])))
    return bytes(data)


def _ogg_crc(page: bytes) -> int:
    """Ogg's CRC-32 (polynomial 0x04C11DB7, no reflection, initial value 0), computed with the CRC field zeroed."""
    crc = 0
    for byte in page:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x8000_0000 else crc << 1
            crc &= 0xFFFF_FFFF
    return crc
