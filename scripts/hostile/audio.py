"""Hostile audio bytes: every committed codec clip truncated, bit-flipped (often in the header) and/or spliced with
random bytes; random bytes; the clips intact; speech as float WAVs scaled far beyond full scale (mono, stereo,
stereo whose channels cancel). Hypothesis strategies."""

from __future__ import annotations

import struct
from functools import cache

import numpy as np
from hypothesis import strategies as st

from scripts.material.clips import clip_bytes, clips
from serving.audio.decode import AudioLimits, decode_audio
from serving.constants import SAMPLE_RATE

MISSCALE_FACTORS = (1e3, 1e6, 1e18, -1e18, 1e30, 3e38)  # a float export that forgot to divide, or worse


@cache
def codec_clips() -> dict[str, bytes]:
    return {name: clip_bytes(name) for name in clips() if name.startswith("codec_")}


# --- audio bytes -----------------------------------------------------------------------------------------------


@st.composite
def damaged_clips(draw) -> bytes:
    """A codec clip truncated, bit-flipped (often in the header) and/or with a run of random bytes spliced in."""
    name = draw(st.sampled_from(sorted(codec_clips())))
    data = bytearray(codec_clips()[name])
    if draw(st.booleans()):
        del data[draw(st.integers(0, len(data))):]
    positions = st.one_of(st.integers(0, 511), st.integers(0, 2**31))
    for position, bit in draw(st.lists(st.tuples(positions, st.integers(0, 7)), max_size=32)):
        if data:
            data[position % len(data)] ^= 1 << bit
    if data and draw(st.booleans()):
        at = draw(st.integers(0, len(data) - 1))
        data[at : at + draw(st.integers(0, 64))] = draw(st.binary(max_size=64))
    return bytes(data)


def audio_bytes() -> st.SearchStrategy[bytes]:
    return st.one_of(damaged_clips(), st.binary(max_size=4096), st.sampled_from(sorted(codec_clips().values())),
                     misscaled_float_wavs())


@cache
def _speech() -> np.ndarray:
    return decode_audio(clip_bytes("codec_wav.wav"), AudioLimits(max_bytes=64 * 1024 * 1024, max_seconds=600))


def float_wav(channels_first: np.ndarray) -> bytes:
    """A 32-bit IEEE float WAV at SAMPLE_RATE of (channels, samples), the values stored as they are."""
    data = np.ascontiguousarray(channels_first.T, dtype="<f4").tobytes()
    count = channels_first.shape[0]
    fmt = struct.pack("<HHIIHH", 3, count, SAMPLE_RATE, SAMPLE_RATE * 4 * count, 4 * count, 32)
    body = b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


@st.composite
def misscaled_float_wavs(draw) -> bytes:
    """Speech as a float WAV scaled far beyond full scale, mono, stereo or stereo whose channels cancel."""
    speech = _speech() * np.float32(draw(st.sampled_from(MISSCALE_FACTORS)))
    layout = draw(st.sampled_from(["mono", "stereo", "cancelling"]))
    channels = {"mono": speech[None], "stereo": np.stack([speech, speech]), "cancelling": np.stack([speech, -speech])}
    return float_wav(channels[layout])
