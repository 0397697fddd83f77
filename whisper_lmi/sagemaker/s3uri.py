"""``s3://bucket/key`` parsing and joining."""

from __future__ import annotations

from dataclasses import dataclass

from whisper_lmi.errors import WhisperLmiError

SCHEME = "s3://"


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str

    @classmethod
    def parse(cls, text: str) -> S3Uri:
        if not text.startswith(SCHEME) or not text[len(SCHEME):].split("/", 1)[0]:
            raise WhisperLmiError(f"not an S3 URI: {text!r} (expected s3://BUCKET/PREFIX/)")
        bucket, _, key = text[len(SCHEME):].partition("/")
        return cls(bucket, key)

    @classmethod
    def prefix(cls, text: str) -> S3Uri:
        """An S3 prefix, normalized to end with ``/`` (or be empty: the whole bucket)."""
        uri = cls.parse(text)
        key = uri.key if not uri.key or uri.key.endswith("/") else uri.key + "/"
        return cls(uri.bucket, key)

    def join(self, relative: str) -> S3Uri:
        return S3Uri(self.bucket, self.key + relative)

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.key}"
