"""Fetch ``s3://bucket/key`` audio with the container's own AWS role, from allowed buckets only.

HeadObject first: an object over ``max_bytes`` is refused before any of it is downloaded. Then one GetObject for
that very version (``IfMatch`` the ETag), ranged to one byte over the limit and read in chunks, so an object that
grew in between cannot be read past the limit either. boto3 is imported on first use: the LMI image ships it, and
the service checks at start-up that it is importable when S3 input is on.

Status codes: a refused bucket, a missing object or bucket are the client's (400); S3 refusing the endpoint's role
(403) is the deployment's and S3 failing is upstream's (502); too slow is 504. Messages carry the S3 error code,
never S3's message text (it can name the role's ARN and account).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Set

from serving.errors import (
    AudioTooLarge,
    BadParameter,
    SourceAccessDenied,
    SourceNotAllowed,
    SourceNotFound,
    SourceTimeout,
    SourceUnavailable,
)
from serving.fetch.audio_url import S3Object
from serving.fetch.limits import Deadline, FetchLimits, read_capped

logger = logging.getLogger(__name__)

NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NoSuchBucket", "NotFound"})
ACCESS_DENIED_CODES = frozenset({"403", "AccessDenied", "Forbidden", "AllAccessDisabled"})
CHANGED_CODES = frozenset({"412", "PreconditionFailed"})
MAX_ATTEMPTS = 2  # botocore's standard retry mode: one retry of throttling and transient errors


class S3Fetcher:
    def __init__(self, allowed_buckets: Set[str], limits: FetchLimits, client=None) -> None:
        """``client``: a boto3 S3 client to use instead of the one made from the container's configuration."""
        self.allowed_buckets = frozenset(allowed_buckets)
        self.limits = limits
        self._client = client
        self._lock = threading.Lock()

    def fetch(self, obj: S3Object) -> bytes:
        self._check_allowed(obj)
        deadline = Deadline(self.limits.timeout_seconds)
        client = self._s3()
        try:
            etag = self._check_size(client, obj)
            deadline.check(obj)
            body = client.get_object(
                Bucket=obj.bucket, Key=obj.key, IfMatch=etag, Range=f"bytes=0-{self.limits.max_bytes}"
            )["Body"]
            try:
                return read_capped(body.read, self.limits, deadline, obj)
            finally:
                body.close()
        except Exception as exc:
            raise _mapped(exc, obj) from None

    def _check_allowed(self, obj: S3Object) -> None:
        if not self.allowed_buckets:
            raise SourceNotAllowed("S3 input is off on this endpoint (option.s3_allowed_buckets is empty)")
        if obj.bucket not in self.allowed_buckets:
            raise SourceNotAllowed(f"bucket {obj.bucket!r} is not one this endpoint may read (option.s3_allowed_buckets)")

    def _check_size(self, client, obj: S3Object) -> str:
        head = client.head_object(Bucket=obj.bucket, Key=obj.key)
        size = int(head["ContentLength"])
        if size > self.limits.max_bytes:
            raise AudioTooLarge(f"{obj} is {size} bytes; the limit is {self.limits.max_bytes} bytes")
        if size == 0:
            raise BadParameter(f"{obj} is empty")
        return head["ETag"]

    def _s3(self):
        with self._lock:
            if self._client is None:
                self._client = _make_client(self.limits.timeout_seconds)
            return self._client


def _make_client(timeout_seconds: float):
    import boto3
    from botocore.config import Config

    config = Config(
        connect_timeout=timeout_seconds,
        read_timeout=timeout_seconds,
        retries={"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
    )
    return boto3.session.Session().client("s3", config=config)


def _mapped(exc: Exception, obj: S3Object) -> Exception:
    """Our own errors pass; botocore's become the client's answer (S3's code only, never its message)."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    if isinstance(exc, ClientError):
        return _client_error(exc, obj)
    if isinstance(exc, (ConnectTimeoutError, ReadTimeoutError)):
        return SourceTimeout(f"S3 did not answer in time for {obj}")
    if isinstance(exc, NoCredentialsError):
        return SourceAccessDenied("the endpoint has no AWS credentials to read S3")
    if isinstance(exc, BotoCoreError):
        logger.warning("S3 fetch of %s failed: %s", obj, type(exc).__name__)
        return SourceUnavailable(f"S3 could not be read for {obj} ({type(exc).__name__})")
    return exc


def _client_error(exc, obj: S3Object) -> Exception:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in NOT_FOUND_CODES or status == 404:
        return SourceNotFound(f"{obj} does not exist")
    if code in ACCESS_DENIED_CODES or status == 403:
        return SourceAccessDenied(
            f"S3 refused this endpoint's role access to {obj} (403); S3 also answers 403 for a missing key "
            "when the role may not list the bucket"
        )
    if code in CHANGED_CODES or status == 412:
        return SourceUnavailable(f"{obj} changed while it was being read; retry")
    logger.warning("S3 answered %s (HTTP %s) for %s", code, status, obj)
    return SourceUnavailable(f"S3 answered {code or status} for {obj}")
