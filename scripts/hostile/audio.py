"""Hostile audio bytes: every committed codec clip truncated, bit-flipped (often in the header) and/or spliced with
random bytes; random bytes; the clips intact. Hypothesis strategies."""

from __future__ import annotations

from functools import cache

from hypothesis import strategies as st

from scripts.material.clips import clip_bytes, clips


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
    return st.one_of(damaged_clips(), st.binary(max_size=4096), st.sampled_from(sorted(codec_clips().values())))
