"""Hostile requests (``RawRequest``), as hypothesis strategies: audio or junk under any content type, with parameters
as headers and query fields; damaged uploads; JSON mixing the accepted fields with junk, deeply nested or enormous;
base64 junk; ``audio_url`` junk; thousands of headers, some of them 1 MB long; forms with odd fields.

Large inputs are built from a few drawn numbers (a seed, a size), so hypothesis stays within its buffer.
"""

from __future__ import annotations

import base64
import json
import random
from functools import cache

from hypothesis import strategies as st

from scripts.hostile.audio import audio_bytes, damaged_clips
from serving.api.requests import RawRequest

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
# The odd values real clients send: each is accepted, or refused with a named 4xx.
SPECIAL_TOKEN_PROMPTS = ("<|translate|>", "<|en|>", "<|endoftext|>", " <|0.00|> Hallo <|30.00|>", "<|notimestamps|><|de|>")
ODD_LANGUAGES = ("yue", "cantonese", "jw", "Chinese", "haw")  # some models lack them; forcing a wrong one is valid
ODD_VALUES = SPECIAL_TOKEN_PROMPTS + ODD_LANGUAGES
DATA_URI_MEDIA_TYPES = ("audio/wav", "audio/webm;codecs=opus", "", "application/octet-stream", "image/png")


def content_types() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(CONTENT_TYPES), st.text(max_size=40))


def parameter_values() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(GOOD_VALUES), st.text(max_size=30), st.sampled_from(ODD_VALUES))


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
    return st.one_of(encoded, junk, json_values(), lenient_base64_values())


def lenient_base64_values() -> st.SearchStrategy[str]:
    """Base64 in lines (MIME's 76 characters and CRLF, the base64 tool's LF) and data: URIs of any media type."""
    def in_lines(data: bytes, width: int, newline: str) -> str:
        encoded = base64.b64encode(data).decode()
        return newline.join(encoded[i : i + width] for i in range(0, len(encoded), width)) + newline

    lines = st.builds(in_lines, audio_bytes(), st.sampled_from([64, 76]), st.sampled_from(["\n", "\r\n", " "]))
    uris = st.builds("data:{};base64,{}".format, st.sampled_from(DATA_URI_MEDIA_TYPES),
                     st.one_of(lines, audio_bytes().map(lambda data: base64.b64encode(data).decode())))
    return st.one_of(lines, uris)


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
