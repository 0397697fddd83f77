"""Hostile requests to mix into a load test (``benchmarks/load_test.py --hostile N``), drawn from a seeded
``random.Random`` rather than hypothesis: each is valid-looking input that once stalled the endpoint or cost every
other request (issue 16), and what its answer must be.

Sorts: speech as a float WAV scaled far beyond full scale (mono, or stereo whose channels cancel); speech with a
forced wrong language (``jw``, ``Chinese``, ``haw`` on English speech: valid, answered); a language the model lacks
(``yue``: a 400 naming it); damaged codec clips (truncated, bit-flipped: answered or a named 4xx).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from scripts.hostile.audio import MISSCALE_FACTORS, codec_clips, float_wav
from scripts.material.clips import REFERENCES, clip_bytes, english_speech_clips
from serving.audio.decode import AudioLimits, decode_audio

ANY_ANSWER = 0  # the expected status of a request that may be answered or refused, as long as it is not a 5xx
WRONG_LANGUAGES = ("jw", "Chinese", "haw")
MISSING_LANGUAGE = "yue"
SORTS = ("misscaled", "cancelling", "wrong_language", "missing_language", "damaged")
LIMITS = AudioLimits(max_bytes=64 * 1024 * 1024, max_seconds=600)


@dataclass(frozen=True)
class HostileRequest:
    sort: str  # one of SORTS
    body: bytes
    headers: dict[str, str]
    status: int  # 200, a 4xx, or ANY_ANSWER
    reference: str = ""  # the speech's words, where the answer must carry them
    seconds: float = 0.0


def hostile_requests(count: int, rng: random.Random) -> list[HostileRequest]:
    """``count`` hostile requests, the sorts in turn from a random start."""
    start = rng.randrange(len(SORTS))
    return [BUILDERS[SORTS[(start + i) % len(SORTS)]](rng) for i in range(count)]


def _speech(rng: random.Random) -> tuple[str, np.ndarray]:
    name = rng.choice(english_speech_clips())
    return name, decode_audio(clip_bytes(name), LIMITS)


def _misscaled(rng: random.Random) -> HostileRequest:
    name, speech = _speech(rng)
    scaled = speech * np.float32(rng.choice(MISSCALE_FACTORS))
    return HostileRequest("misscaled", float_wav(scaled[None]), {"Content-Type": "audio/wav"}, 200,
                          REFERENCES[name]["text"], REFERENCES[name]["seconds"])


def _cancelling(rng: random.Random) -> HostileRequest:
    name, speech = _speech(rng)
    return HostileRequest("cancelling", float_wav(np.stack([speech, -speech])), {"Content-Type": "audio/wav"}, 200,
                          REFERENCES[name]["text"], REFERENCES[name]["seconds"])


def _wrong_language(rng: random.Random) -> HostileRequest:
    name = rng.choice(english_speech_clips())
    headers = {"Content-Type": "audio/wav", "language": rng.choice(WRONG_LANGUAGES)}
    return HostileRequest("wrong_language", clip_bytes(name), headers, 200)


def _missing_language(rng: random.Random) -> HostileRequest:
    name = rng.choice(english_speech_clips())
    return HostileRequest("missing_language", clip_bytes(name),
                          {"Content-Type": "audio/wav", "language": MISSING_LANGUAGE}, 400)


def _damaged(rng: random.Random) -> HostileRequest:
    name = rng.choice(sorted(codec_clips()))
    data = bytearray(codec_clips()[name])
    if rng.random() < 0.5:
        del data[rng.randrange(len(data)):]
    for _ in range(rng.randrange(1, 16)):
        if data:
            data[rng.randrange(min(len(data), 512) if rng.random() < 0.5 else len(data))] ^= 1 << rng.randrange(8)
    return HostileRequest("damaged", bytes(data), {"Content-Type": "application/octet-stream"}, ANY_ANSWER)


BUILDERS = {"misscaled": _misscaled, "cancelling": _cancelling, "wrong_language": _wrong_language,
            "missing_language": _missing_language, "damaged": _damaged}
