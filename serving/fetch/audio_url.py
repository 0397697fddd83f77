"""Where a request's audio lives when it is not in the body: ``audio_url`` parsed into an S3 object or an https URL.

Only the syntax is checked here; whether this endpoint may fetch it (allowed buckets, https on, public address) is
decided by the fetchers. ``str()`` of a location never includes an https query string, which may carry a presigned
URL's signature: it is safe for logs and error messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from serving.errors import BadParameter
from serving.settings import BUCKET_NAME

S3_PREFIX = "s3://"
HTTPS_SCHEME = "https"
HTTPS_DEFAULT_PORT = 443
MAX_URL_CHARS = 4096  # presigned URLs run to about 1-2 KB
# S3 bucket naming rules (general purpose buckets): 3-63 characters, lower-case letters, digits, dots and hyphens.
_UNSAFE_CHARACTERS = re.compile(r"[\x00-\x20\x7f]")  # controls and spaces: header injection, ambiguous parsing
# S3 key segments that a path-normalising proxy or S3-compatible endpoint would resolve: 'a/../../other-bucket/key'
# sent as the path '/bucket/a/../../other-bucket/key' reads another bucket. Empty segments ('a//b') are legal keys
# and kept: collapsing them cannot leave the bucket, and '..' (the only way up) is refused.
DOT_SEGMENTS = frozenset({".", ".."})


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"{S3_PREFIX}{self.bucket}/{self.key}"


@dataclass(frozen=True)
class HttpsUrl:
    host: str  # as written (IDNA-encodable), without brackets for IPv6
    port: int
    target: str  # path and query, as sent in the request line

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if self.port == HTTPS_DEFAULT_PORT else f":{self.port}"
        path = self.target.split("?", 1)[0]
        return f"{HTTPS_SCHEME}://{host}{port}{path}"


AudioLocation = S3Object | HttpsUrl


def parse_audio_url(text: str) -> AudioLocation:
    """``s3://bucket/key`` or ``https://host[:port]/path[?query]``; anything else is a :class:`BadParameter`."""
    if len(text) > MAX_URL_CHARS:
        raise BadParameter(f"'audio_url' is {len(text)} characters long; the limit is {MAX_URL_CHARS}")
    if _UNSAFE_CHARACTERS.search(text):
        raise BadParameter("'audio_url' contains spaces or control characters; percent-encode them")
    if text.startswith(S3_PREFIX):
        return _s3_object(text)
    if text.lower().startswith(f"{HTTPS_SCHEME}://"):
        return _https_url(text)
    raise BadParameter("'audio_url' must be an s3://bucket/key or https:// URL")


def _s3_object(text: str) -> S3Object:
    """Keys are taken literally (as the AWS CLI does): no percent-decoding, '?' and '#' are part of the key."""
    bucket, _, key = text[len(S3_PREFIX):].partition("/")
    if not BUCKET_NAME.fullmatch(bucket):
        raise BadParameter(f"'audio_url' names no valid S3 bucket ({bucket[:70]!r})")
    if not key:
        raise BadParameter("'audio_url' names an S3 bucket but no object key (s3://bucket/key)")
    dots = sorted({segment for segment in key.split("/") if segment in DOT_SEGMENTS}, key=len)
    if dots:
        raise BadParameter(
            f"'audio_url' has an S3 key with a {' or '.join(repr(d) for d in dots)} path segment; such keys are refused "
            "because a path-normalising proxy or S3-compatible endpoint would read another object or bucket"
        )
    return S3Object(bucket, key)


def _https_url(text: str) -> HttpsUrl:
    try:
        parts = urlsplit(text)
        port = parts.port or HTTPS_DEFAULT_PORT
    except ValueError:
        raise BadParameter("'audio_url' is not a valid https URL (host or port)") from None
    if parts.username is not None or parts.password is not None:
        raise BadParameter("'audio_url' must not carry credentials (user:password@); use a presigned URL")
    host = parts.hostname
    if not host:
        raise BadParameter("'audio_url' has no host")
    try:
        host.encode("idna")
    except UnicodeError:
        raise BadParameter("'audio_url' has a host name that is not valid") from None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return HttpsUrl(host, port, target)
