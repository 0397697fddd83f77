"""``invoke``: one audio file to a real-time endpoint (raw or multipart body) or through S3 to an async one."""

from __future__ import annotations

import logging
import mimetypes
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from whisper_lmi.errors import WhisperLmiError
from whisper_lmi.sagemaker.aws import ApiCall, Aws, error_code
from whisper_lmi.sagemaker.constants import (
    CUSTOM_ATTRIBUTES_MAX,
    DEFAULT_AUDIO_CONTENT_TYPE,
    MULTIPART_FIELD,
    REALTIME_PAYLOAD_MAX,
)
from whisper_lmi.sagemaker.s3uri import SCHEME, S3Uri
from whisper_lmi.sagemaker.waiting import WaitOptions

logger = logging.getLogger(__name__)

EXTRA_AUDIO_TYPES = {".m4a": "audio/mp4", ".opus": "audio/ogg", ".flac": "audio/flac", ".webm": "audio/webm"}


@dataclass(frozen=True)
class TranscriptionParams:
    """The request parameters the handler accepts, sent as SageMaker custom attributes."""

    language: str | None = None
    task: str | None = None
    prompt: str | None = None
    temperature: float | None = None
    response_format: str | None = None

    def custom_attributes(self) -> str | None:
        pairs = [(name, value) for name, value in vars(self).items() if value is not None]
        for name, value in pairs:
            if ";" in str(value):
                raise WhisperLmiError(f"{name} must not contain ';' (it separates custom attributes)")
        text = "; ".join(f"{name}={value}" for name, value in pairs)
        if not text.isascii():
            raise WhisperLmiError("custom attributes must be ASCII (SageMaker's limit); send a JSON body for other text")
        if len(text) > CUSTOM_ATTRIBUTES_MAX:
            raise WhisperLmiError(f"custom attributes are {len(text)} characters, SageMaker allows {CUSTOM_ATTRIBUTES_MAX}")
        return text or None


@dataclass(frozen=True)
class InvokeOptions:
    endpoint: str
    source: str
    params: TranscriptionParams = field(default_factory=TranscriptionParams)
    content_type: str | None = None
    multipart: bool = False
    is_async: bool = False
    async_input: S3Uri | None = None
    output: Path | None = None


def guess_content_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return EXTRA_AUDIO_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or DEFAULT_AUDIO_CONTENT_TYPE


def multipart_body(filename: str, data: bytes, content_type: str, boundary: str | None = None) -> tuple[bytes, str]:
    """A multipart/form-data body with the audio as field ``file``; returns (body, content type)."""
    boundary = boundary or uuid.uuid4().hex
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{MULTIPART_FIELD}"; filename="{Path(filename).name}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def read_source(aws: Aws, source: str) -> bytes:
    if source.startswith(SCHEME):
        uri = S3Uri.parse(source)
        return aws.client("s3").get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
    path = Path(source)
    if not path.is_file():
        raise WhisperLmiError(f"{source}: no such file")
    return path.read_bytes()


def realtime_call(options: InvokeOptions, data: bytes) -> ApiCall:
    content_type = options.content_type or guess_content_type(options.source)
    body = data
    if options.multipart:
        body, content_type = multipart_body(options.source, data, content_type)
    if len(body) > REALTIME_PAYLOAD_MAX:
        raise WhisperLmiError(f"{len(body)} bytes is over the real-time limit of {REALTIME_PAYLOAD_MAX}; use --async")
    params = {"EndpointName": options.endpoint, "Body": body, "ContentType": content_type}
    attributes = options.params.custom_attributes()
    if attributes:
        params["CustomAttributes"] = attributes
    return ApiCall("sagemaker-runtime", "invoke_endpoint", params)


def async_call(options: InvokeOptions, input_location: str) -> ApiCall:
    params = {
        "EndpointName": options.endpoint,
        "InputLocation": input_location,
        "ContentType": options.content_type or guess_content_type(options.source),
    }
    attributes = options.params.custom_attributes()
    if attributes:
        params["CustomAttributes"] = attributes
    return ApiCall("sagemaker-runtime", "invoke_endpoint_async", params)


def invoke(aws: Aws, options: InvokeOptions, wait: WaitOptions) -> bytes | None:
    if options.is_async:
        return _invoke_async(aws, options, wait)
    if options.source.startswith(SCHEME) and aws.dry_run:
        uri = S3Uri.parse(options.source)
        aws.call(ApiCall("s3", "get_object", {"Bucket": uri.bucket, "Key": uri.key}))
        data = b""
    else:
        data = read_source(aws, options.source)
    response = aws.call(realtime_call(options, data))
    if aws.dry_run:
        return None
    return _deliver(response["Body"].read(), options.output)


def _stage_input(aws: Aws, options: InvokeOptions) -> str:
    """The S3 location of the audio: as given, or the local file uploaded under --async-input."""
    if options.source.startswith(SCHEME):
        return options.source
    if options.async_input is None:
        raise WhisperLmiError("--async with a local file needs --async-input s3://BUCKET/PREFIX/ to stage it")
    path = Path(options.source)
    if not path.is_file():
        raise WhisperLmiError(f"{options.source}: no such file")
    target = options.async_input.join(f"{uuid.uuid4().hex}-{path.name}")
    aws.call(ApiCall("s3", "upload_file", {"Filename": str(path), "Bucket": target.bucket, "Key": target.key}))
    return str(target)


def _invoke_async(aws: Aws, options: InvokeOptions, wait: WaitOptions) -> bytes | None:
    response = aws.call(async_call(options, _stage_input(aws, options)))
    if aws.dry_run:
        return None
    logger.info("async inference %s -> %s", response.get("InferenceId"), response["OutputLocation"])
    data = _poll_result(aws, response["OutputLocation"], response.get("FailureLocation"), wait)
    return _deliver(data, options.output)


def _poll_result(aws: Aws, output: str, failure: str | None, wait: WaitOptions) -> bytes:
    start = wait.clock()
    while True:
        data = _get_if_exists(aws, output)
        if data is not None:
            return data
        error = _get_if_exists(aws, failure) if failure else None
        if error is not None:
            raise WhisperLmiError(f"async inference failed: {error.decode(errors='replace')}")
        if wait.clock() - start >= wait.timeout_s:
            raise WhisperLmiError(f"no result at {output} after {wait.timeout_s:.0f} s; it may still arrive there")
        wait.sleep(wait.poll_s)


def _get_if_exists(aws: Aws, location: str) -> bytes | None:
    uri = S3Uri.parse(location)
    try:
        return aws.client("s3").get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
    except Exception as error:
        if error_code(error) in {"NoSuchKey", "404"}:
            return None
        raise


def _deliver(data: bytes, output: Path | None) -> bytes:
    if output is not None:
        output.write_bytes(data)
        logger.info("result saved to %s (%d bytes)", output, len(data))
    return data
