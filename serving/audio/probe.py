"""How many seconds of audio a request's bytes will decode to, before decoding them (for admission,
:mod:`serving.endpoint.admission`): a plain WAV's exact length, a container's declared duration, and the per-request
limit where a file declares none (it may hold that much). Bytes that are not a readable container count as nothing:
decoding refuses them at once with the right status.
"""

from __future__ import annotations

import io

import av

from serving.audio.av_decoding import declared_seconds
from serving.audio.wav import parse_wav


def expected_seconds(data: bytes, max_seconds: float) -> float:
    """The seconds to reserve for ``data``, at most ``max_seconds``."""
    wav = parse_wav(data)
    if wav is not None:
        return min(wav.seconds, max_seconds)
    try:
        container = av.open(io.BytesIO(data), mode="r", metadata_errors="ignore")
    except (av.FFmpegError, ValueError):
        return 0.0
    with container:
        if not container.streams.audio:
            return 0.0
        declared = declared_seconds(container, container.streams.audio[0])
    return max_seconds if declared is None else min(declared, max_seconds)
