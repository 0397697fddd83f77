"""Hostile inputs for tests/test_fuzz.py and ``python -m benchmarks.fuzz``, and the properties they must keep.

Inputs: truncated, bit-flipped and spliced versions of every codec clip; random bytes under every content type;
huge header sets (thousands of headers, 1 MB values); deeply nested and enormous JSON; base64 junk; forms with odd
fields; ``audio_url`` junk; decode bombs (files that declare or hold hours of audio in a few KB).

Large inputs are built from a few drawn numbers (a seed, a size), so hypothesis stays within its buffer.

Properties (``*_outcome`` return an outcome label such as ``"ok"`` or ``"415 unsupported_media_type"``, or one
starting with ``FAIL`` when a property is broken): nothing but a RequestError escapes the decoder or the parser;
the service answers every request with its own response, never a 5xx, and every error body names the problem.
"""

from __future__ import annotations

import base64
import io
import json
import random
import struct
from functools import cache

import av
import numpy as np
from hypothesis import strategies as st

from scripts.material.clips import clip_bytes, clips
from serving.api.requests import RawRequest, parse_request
from serving.audio.decode import AudioLimits, decode_audio
from serving.constants import SAMPLE_RATE
from serving.endpoint.service import TranscriptionService
from serving.errors import MAX_MESSAGE_CHARS, RequestError
from serving.results import Transcription
from serving.settings import load_settings

FAIL = "FAIL"
CLIENT_STATUSES = frozenset({400, 413, 415, 422})
CONTENT_TYPES = (
    "audio/wav", "audio/x-wav", "audio/mpeg", "audio/flac", "audio/ogg", "audio/webm", "audio/mp4", "audio/aac",
    "AUDIO/WAV", "audio/", "application/octet-stream", "video/webm", "video/mp4", "video/ogg",
    "application/json", "application/json; charset=utf-8", "APPLICATION/JSON;;;", "multipart/form-data; boundary=x",
    "application/x-www-form-urlencoded", "text/plain", "text/html", "image/png", "application/xml", "*/*", "",
    "\x00", "audio/wav; codecs=\"\x7f\"", "application/json\r\nX-Injected: 1",
)
PARAMETER_NAMES = ("language", "task", "prompt", "temperature", "response_format")
GOOD_VALUES = ("en", "German", "translate", "transcribe", "0", "0.5", "text", "json", "a prompt", "")
DEEP_LEVELS = (1_000, 100_000)
ENORMOUS_BYTES = (100_000, 1_000_000, 8_000_000)
HUGE_HEADER_BYTES = 1_000_000
LIMITS = AudioLimits(max_bytes=64 * 1024 * 1024, max_seconds=600)
SERVICE_OPTIONS = {"max_audio_seconds": "600"}


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


# --- requests --------------------------------------------------------------------------------------------------


def content_types() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(CONTENT_TYPES), st.text(max_size=40))


def parameter_values() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(GOOD_VALUES), st.text(max_size=30))


def parameter_names() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(PARAMETER_NAMES + ("model", "file", "audio", "inputs")), st.text(max_size=20))


@st.composite
def raw_audio_requests(draw) -> RawRequest:
    """Audio (or junk) as the body under any content type, parameters as headers and query fields."""
    headers = {"Content-Type": draw(content_types())}
    some = st.one_of(st.just({}), st.dictionaries(st.sampled_from(PARAMETER_NAMES), parameter_values(), max_size=3))
    headers.update(draw(some))
    query = draw(st.one_of(st.just({}), st.dictionaries(parameter_names(), parameter_values().map(str.encode),
                                                         max_size=2)))
    return RawRequest(headers, draw(audio_bytes()), query)


@st.composite
def damaged_uploads(draw) -> RawRequest:
    """A damaged clip sent the way a well-behaved client sends audio: the decoder, not the parser, must cope."""
    content_type = draw(st.sampled_from(["audio/wav", "audio/mpeg", "application/octet-stream", "video/webm", ""]))
    return RawRequest({"Content-Type": content_type}, draw(damaged_clips()))


def json_values() -> st.SearchStrategy:
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20))
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                            max_size=4), max_leaves=4)


def base64_values() -> st.SearchStrategy:
    encoded = audio_bytes().map(lambda data: base64.b64encode(data).decode())
    junk = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n!", max_size=200)
    return st.one_of(encoded, junk, json_values())


def audio_urls() -> st.SearchStrategy:
    hosts = st.sampled_from(["127.0.0.1", "localhost", "169.254.169.254", "[::1]", "[fd00:ec2::254]", "example.com",
                             "10.0.0.1", "", "a..b", "xn--", "host:99999"])
    return st.one_of(
        st.text(max_size=60),
        st.builds("s3://{}/{}".format, st.text(max_size=70), st.text(max_size=30)),
        st.builds("https://{}/{}".format, hosts, st.text(max_size=30)),
        st.builds("{}://{}/x".format, st.sampled_from(["http", "ftp", "file", "gopher", "S3", "HTTPS"]), hosts),
        json_values(),
    )


@st.composite
def json_requests(draw) -> RawRequest:
    """A JSON object mixing the accepted fields with junk, or junk bytes labelled JSON."""
    if draw(st.integers(0, 9)) == 0:
        return RawRequest({"Content-Type": "application/json"}, draw(st.binary(max_size=512)))
    optional = {"audio": base64_values(), "inputs": base64_values(), "audio_url": audio_urls(),
                "parameters": st.one_of(st.dictionaries(parameter_names(), json_values(), max_size=3), json_values())}
    optional.update({name: st.one_of(parameter_values(), json_values()) for name in PARAMETER_NAMES})
    document = draw(st.fixed_dictionaries({}, optional=optional))
    document.update(draw(st.dictionaries(st.text(max_size=12), json_values(), max_size=2)))
    body = json.dumps(document).encode() if draw(st.booleans()) else json.dumps(document, indent=1).encode()
    return RawRequest({"Content-Type": draw(st.sampled_from(["application/json", "application/json; charset=utf-8"]))},
                      body)


@st.composite
def deep_json_requests(draw) -> RawRequest:
    levels = draw(st.sampled_from(DEEP_LEVELS))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}"), ('{"audio":[', "]}")]))
    inner = draw(st.sampled_from(["1", '"AAAA"', "", "null"]))
    body = ('{"parameters":' if draw(st.booleans()) else "") + opener * levels + inner + closer * levels
    return RawRequest({"Content-Type": "application/json"}, body.encode())


@st.composite
def enormous_json_requests(draw) -> RawRequest:
    """Megabytes of JSON: a huge base64 string, a huge parameter, a huge array or a huge object."""
    body = _enormous_json(draw(st.sampled_from(["audio", "prompt", "array", "keys"])), draw(st.sampled_from(ENORMOUS_BYTES)))
    return RawRequest({"Content-Type": "application/json"}, body)


@cache
def _enormous_json(shape: str, size: int) -> bytes:
    if shape == "audio":
        document = {"audio": base64.b64encode(random.Random(size).randbytes(size * 3 // 4)).decode()}
    elif shape == "prompt":
        document = {"audio": "AAAA", "prompt": "x" * size}
    elif shape == "array":
        document = {"audio": [0] * (size // 3)}
    else:
        document = {f"k{i}": i for i in range(size // 12)}
    return json.dumps(document).encode()


@st.composite
def header_floods(draw) -> RawRequest:
    """Thousands of headers, parameter names in any case, some of them with 1 MB values."""
    rng = random.Random(draw(st.integers(0, 2**32)))
    names = list(PARAMETER_NAMES) + ["Content-Type", "X-Request-Id", "X-Amzn-SageMaker-Inference-Id", "requestId"]
    headers: dict[str, str] = {"Content-Type": draw(content_types())}
    for i in range(draw(st.integers(1000, 5000))):
        name = rng.choice(names) if rng.random() < 0.1 else f"X-{rng.getrandbits(40):x}-{i}"
        headers["".join(c.upper() if rng.random() < 0.5 else c for c in name)] = rng.choice(GOOD_VALUES) + str(i)
    for name in rng.sample(names, draw(st.integers(1, 4))):
        headers[name] = rng.choice(["x", "\u00e9", "\n", "1"]) * HUGE_HEADER_BYTES
    return RawRequest(headers, draw(audio_bytes()))


@st.composite
def form_requests(draw) -> RawRequest:
    """Form uploads with odd fields: missing or junk 'file', non-UTF-8 values, unknown and empty names."""
    values = st.one_of(audio_bytes(), st.binary(max_size=64), parameter_values().map(str.encode))
    fields = draw(st.dictionaries(parameter_names(), values, max_size=6))
    content_type = draw(st.sampled_from(["multipart/form-data; boundary=x", "application/x-www-form-urlencoded"]))
    return RawRequest({"Content-Type": content_type}, draw(st.binary(max_size=64)), fields)


def hostile_requests() -> st.SearchStrategy[RawRequest]:
    return st.one_of(damaged_uploads(), raw_audio_requests(), json_requests(), form_requests(), header_floods(), deep_json_requests(),
                     enormous_json_requests())


# --- decode bombs ----------------------------------------------------------------------------------------------


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


# --- properties ------------------------------------------------------------------------------------------------


def decode_outcome(data: bytes, limits: AudioLimits = LIMITS) -> str:
    try:
        waveform = decode_audio(data, limits)
    except RequestError as exc:
        return _client_error_outcome(exc)
    except Exception as exc:  # noqa: BLE001 - the property under test
        return f"{FAIL} {type(exc).__name__}: {exc}"[:300]
    if waveform.dtype != np.float32 or waveform.ndim != 1 or not waveform.size or not np.isfinite(waveform).all():
        return f"{FAIL} bad waveform {waveform.dtype} {waveform.shape}"
    return "ok"


def parse_outcome(raw: RawRequest) -> str:
    try:
        parse_request(raw)
    except RequestError as exc:
        return _client_error_outcome(exc)
    except Exception as exc:  # noqa: BLE001 - the property under test
        return f"{FAIL} {type(exc).__name__}: {exc}"[:300]
    return "ok"


def service_outcome(service: TranscriptionService, raw: RawRequest) -> str:
    try:
        responses = service.handle([raw])
    except Exception as exc:  # noqa: BLE001 - the property under test
        return f"{FAIL} escaped the boundary: {type(exc).__name__}: {exc}"[:300]
    if len(responses) != 1:
        return f"{FAIL} {len(responses)} responses for one request"
    response = responses[0]
    if response.status == 200:
        return "200 ok"
    try:
        error = json.loads(response.body)["error"]
    except (ValueError, KeyError, TypeError):
        return f"{FAIL} {response.status} without an error object"
    if response.status not in CLIENT_STATUSES or error.get("code") != response.status:
        return f"{FAIL} {response.status} {error.get('type')}: {error.get('message')}"[:300]
    if not error.get("type") or not _names_a_problem(error.get("message")):
        return f"{FAIL} {response.status} without a message"
    return f"{response.status} {error['type']}"


def _client_error_outcome(exc: RequestError) -> str:
    if exc.status not in CLIENT_STATUSES or not _names_a_problem(str(exc)[: MAX_MESSAGE_CHARS + 100]):
        return f"{FAIL} {exc.status} {exc.kind}: {str(exc)[:200]}"
    return f"{exc.status} {exc.kind}"


def _names_a_problem(message: object) -> bool:
    return isinstance(message, str) and len(message.strip()) >= 10


class WaveformCheckingTranscriber:
    """Stands in for the model at the service boundary (thousands of cases): every waveform that reaches it must be
    mono float32, finite and non-empty, else the request fails with a 500 and the property breaks."""

    def transcribe(self, jobs) -> list[Transcription]:
        for job in jobs:
            waveform = job.waveform
            if waveform.dtype != np.float32 or waveform.ndim != 1 or not waveform.size:
                raise AssertionError(f"bad waveform {waveform.dtype} {waveform.shape}")
            if not np.isfinite(waveform).all():
                raise AssertionError("non-finite samples reached the model")
        return [Transcription("en", job.waveform.size / SAMPLE_RATE) for job in jobs]


def boundary_service(transcriber=None) -> TranscriptionService:
    """The service as the handler builds it (default sources: S3 and https input off), with a stand-in model."""
    settings = load_settings(SERVICE_OPTIONS, {})
    return TranscriptionService(settings, transcriber or WaveformCheckingTranscriber())
