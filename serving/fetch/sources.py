"""Where a request's audio comes from: the body's own bytes, or an ``audio_url`` fetched before decoding.

S3 input is on when ``option.s3_allowed_buckets`` names buckets; https input when ``option.https_input=true``
(off by default). Both are limited to ``option.max_audio_bytes`` and ``option.fetch_timeout_seconds``.
"""

from __future__ import annotations

import importlib.util

from serving.errors import ConfigurationError, SourceNotAllowed
from serving.fetch.audio_url import AudioLocation, HttpsUrl, S3Object
from serving.fetch.https import HttpsFetcher
from serving.fetch.limits import FetchLimits
from serving.fetch.s3 import S3Fetcher
from serving.settings import Settings


class AudioSources:
    def __init__(self, s3: S3Fetcher, https: HttpsFetcher | None) -> None:
        self.s3 = s3
        self.https = https

    @classmethod
    def from_settings(cls, settings: Settings) -> "AudioSources":
        if settings.s3_allowed_buckets and importlib.util.find_spec("boto3") is None:
            raise ConfigurationError(
                "option.s3_allowed_buckets is set but boto3 is not installed; add boto3 to requirements.txt"
            )
        limits = FetchLimits(settings.max_audio_bytes, settings.fetch_timeout_seconds)
        https = HttpsFetcher(limits) if settings.https_input else None
        return cls(S3Fetcher(frozenset(settings.s3_allowed_buckets), limits), https)

    def audio_bytes(self, audio: bytes | AudioLocation) -> bytes:
        """The bytes themselves, or the fetched object's."""
        if isinstance(audio, S3Object):
            return self.s3.fetch(audio)
        if isinstance(audio, HttpsUrl):
            if self.https is None:
                raise SourceNotAllowed("https input is off on this endpoint (option.https_input=false)")
            return self.https.fetch(audio)
        return audio
