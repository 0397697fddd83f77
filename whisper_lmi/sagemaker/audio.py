"""The audio of a request: a local path, bytes in memory, or an ``s3://`` URI; its name and content type."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from whisper_lmi.errors import WhisperLmiError
from whisper_lmi.sagemaker.aws import ApiCall, Aws
from whisper_lmi.sagemaker.constants import DEFAULT_AUDIO_CONTENT_TYPE
from whisper_lmi.sagemaker.s3uri import SCHEME, S3Uri

# A path, ``s3://bucket/key``, bytes, an open binary file, or OpenAI's ``(file name, bytes)``.
AudioInput = str | Path | bytes | bytearray | BinaryIO | tuple[str, bytes]
EXTRA_AUDIO_TYPES = {".m4a": "audio/mp4", ".opus": "audio/ogg", ".flac": "audio/flac", ".webm": "audio/webm"}
BYTES_NAME = "audio"  # the file name a form gives audio passed as bytes


@dataclass(frozen=True)
class Audio:
    """Where the audio is: exactly one of ``path``, ``data`` and ``location`` is set."""

    name: str
    path: Path | None = None
    data: bytes | None = None
    location: S3Uri | None = None

    @property
    def content_type(self) -> str:
        return guess_content_type(self.name)


def audio_from(audio: AudioInput, name: str | None = None) -> Audio:
    """``audio`` as given to the API: bytes, a file, ``s3://bucket/key``, or a path (checked to be a file)."""
    if isinstance(audio, (bytes, bytearray)):
        return Audio(name or BYTES_NAME, data=bytes(audio))
    if isinstance(audio, tuple):
        return Audio(name or Path(audio[0]).name, data=bytes(audio[1]))
    if hasattr(audio, "read"):
        return Audio(name or Path(str(getattr(audio, "name", BYTES_NAME))).name, data=audio.read())
    if isinstance(audio, str) and audio.startswith(SCHEME):
        location = S3Uri.parse(audio)
        return Audio(name or Path(location.key).name or BYTES_NAME, location=location)
    path = Path(audio)
    if not path.is_file():
        raise WhisperLmiError(f"{audio}: no such file")
    return Audio(name or path.name, path=path)


def read_audio(aws: Aws, audio: Audio) -> bytes:
    """The audio's bytes (from S3 when it is there; nothing is read in dry-run mode)."""
    if audio.data is not None:
        return audio.data
    if audio.path is not None:
        return audio.path.read_bytes()
    assert audio.location is not None
    call = ApiCall("s3", "get_object", {"Bucket": audio.location.bucket, "Key": audio.location.key})
    if aws.dry_run:
        aws.call(call)
        return b""
    return aws.call(call)["Body"].read()


def guess_content_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return EXTRA_AUDIO_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or DEFAULT_AUDIO_CONTENT_TYPE
