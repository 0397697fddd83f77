"""``transcribe_async``: one audio file through S3 to an async endpoint (InvokeEndpointAsync) -> a handle.

Async inference reads its input from S3. An ``s3://`` audio sent as a raw body goes as it is; anything else (a local
file, bytes, or a form or JSON body) is staged first: under ``input_prefix`` when given, else under the endpoint's
own output path (``AsyncInferenceConfig.OutputConfig.S3OutputPath`` + ``inputs/``, where its role may write), else
under the default bucket (``whisper-lmi/async-inputs/``). The handle, :class:`AsyncTranscription`, knows where the
result and the failure will be written: ``done()`` looks, ``wait()`` polls until one is there and returns the
result, ``result()`` returns it when it is there.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from whisper_lmi.errors import WhisperLmiError
from whisper_lmi.sagemaker.audio import read_audio
from whisper_lmi.sagemaker.aws import ApiCall, Aws, error_code
from whisper_lmi.sagemaker.bodies import choose_mode, request_body
from whisper_lmi.sagemaker.constants import (
    ASYNC_STAGING_SUBPREFIX,
    DEFAULT_ASYNC_POLL_S,
    DEFAULT_ASYNC_STAGING_PREFIX,
    DEFAULT_ASYNC_WAIT_S,
)
from whisper_lmi.sagemaker.endpoints import describe_endpoint
from whisper_lmi.sagemaker.identity import default_bucket
from whisper_lmi.sagemaker.invoke import RUNTIME, Invocation
from whisper_lmi.sagemaker.s3uri import S3Uri
from whisper_lmi.sagemaker.transcript import Result, parse_result

logger = logging.getLogger(__name__)

MISSING_OBJECT_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


class AsyncFailed(WhisperLmiError):
    """The endpoint wrote a failure for this request."""


class NotDone(WhisperLmiError):
    """The result is not there yet."""


@dataclass(frozen=True)
class AsyncTranscription:
    """One async request: where its result (or failure) will be, and how to read it."""

    inference_id: str
    output: S3Uri
    failure: S3Uri | None
    input: S3Uri
    response_format: str
    aws: Aws = field(repr=False, compare=False)

    def done(self) -> bool:
        """The endpoint has written the result or a failure."""
        return _exists(self.aws, self.output) or (self.failure is not None and _exists(self.aws, self.failure))

    def result(self) -> Result:
        """The result now: :class:`AsyncFailed` when the endpoint failed, :class:`NotDone` when nothing is there."""
        data = _read_if_there(self.aws, self.output)
        if data is not None:
            return parse_result(data, self.response_format)
        failure = _read_if_there(self.aws, self.failure) if self.failure else None
        if failure is not None:
            raise AsyncFailed(f"async inference {self.inference_id} failed: {failure.decode(errors='replace')}")
        raise NotDone(f"no result at {self.output} yet")

    def wait(self, timeout_s: float = DEFAULT_ASYNC_WAIT_S, poll_s: float = DEFAULT_ASYNC_POLL_S,
             sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> Result:
        """Poll until the result or a failure is there (a timeout is an error: it may still arrive later)."""
        start = clock()
        while True:
            try:
                return self.result()
            except NotDone:
                if clock() - start >= timeout_s:
                    raise NotDone(f"no result at {self.output} after {timeout_s:.0f} s; it may still arrive "
                                  "there") from None
            sleep(poll_s)


def staging_prefix(aws: Aws, endpoint: str) -> S3Uri:
    """Where to stage inputs for ``endpoint``: under its async output path, else under the default bucket."""
    described = describe_endpoint(aws, endpoint)
    if described is None:
        raise WhisperLmiError(f"no endpoint {endpoint} in {aws.region}")
    config = aws.client("sagemaker").describe_endpoint_config(EndpointConfigName=described["EndpointConfigName"])
    async_config = config.get("AsyncInferenceConfig") or {}
    if not async_config:
        raise WhisperLmiError(f"endpoint {endpoint} is not asynchronous (deploy it with --async / AsyncOptions)")
    output_path = (async_config.get("OutputConfig") or {}).get("S3OutputPath")
    if output_path:
        return S3Uri.prefix(output_path).join(ASYNC_STAGING_SUBPREFIX)
    return S3Uri(default_bucket(aws), DEFAULT_ASYNC_STAGING_PREFIX)


def stage_input(aws: Aws, request: Invocation, input_prefix: S3Uri | None) -> tuple[S3Uri, str, str | None]:
    """The request's body in S3: (where, its content type, custom attributes)."""
    mode = choose_mode(request.params, request.body)
    audio = request.audio
    content_type = request.content_type or audio.content_type
    if mode == "raw" and audio.location is not None:
        return audio.location, content_type, request.params.custom_attributes()
    prefix = input_prefix or _default_prefix(aws, request.endpoint)
    suffix = "" if mode == "raw" else f".{mode}"  # a JSON or form body is not the audio file
    target = prefix.join(f"{uuid.uuid4().hex}-{audio.name}{suffix}")
    if mode == "raw" and audio.path is not None:
        aws.call(ApiCall("s3", "upload_file", {"Filename": str(audio.path), "Bucket": target.bucket,
                                               "Key": target.key}))
        return target, content_type, request.params.custom_attributes()
    body = request_body(read_audio(aws, audio), audio.name, content_type, request.params, mode)
    aws.call(ApiCall("s3", "put_object", {"Bucket": target.bucket, "Key": target.key, "Body": body.body,
                                          "ContentType": body.content_type}))
    return target, body.content_type, body.custom_attributes


def _default_prefix(aws: Aws, endpoint: str) -> S3Uri:
    if aws.dry_run:
        raise WhisperLmiError("--dry-run needs --async-input (input_prefix): finding where to stage sends requests")
    return staging_prefix(aws, endpoint)


def async_call(endpoint: str, location: S3Uri, content_type: str, attributes: str | None) -> ApiCall:
    params = {"EndpointName": endpoint, "InputLocation": str(location), "ContentType": content_type}
    if attributes:
        params["CustomAttributes"] = attributes
    return ApiCall(RUNTIME, "invoke_endpoint_async", params)


def transcribe_async(aws: Aws, request: Invocation, input_prefix: S3Uri | None = None) -> AsyncTranscription | None:
    """Stage the input when needed, send InvokeEndpointAsync, return the handle (None in dry-run mode)."""
    if request.params.stream:
        raise WhisperLmiError("stream=True is for real-time endpoints (Endpoint.stream)")
    location, content_type, attributes = stage_input(aws, request, input_prefix)
    response = aws.call(async_call(request.endpoint, location, content_type, attributes))
    if aws.dry_run:
        return None
    failure = response.get("FailureLocation")
    handle = AsyncTranscription(
        inference_id=response.get("InferenceId", ""), output=S3Uri.parse(response["OutputLocation"]),
        failure=S3Uri.parse(failure) if failure else None, input=location,
        response_format=request.params.format, aws=aws,
    )
    logger.info("async inference %s: input %s, result to %s", handle.inference_id, location, handle.output)
    return handle


def _exists(aws: Aws, uri: S3Uri) -> bool:
    try:
        aws.client("s3").head_object(Bucket=uri.bucket, Key=uri.key)
    except Exception as error:
        if error_code(error) in MISSING_OBJECT_CODES:
            return False
        raise
    return True


def _read_if_there(aws: Aws, uri: S3Uri | None) -> bytes | None:
    if uri is None:
        return None
    try:
        return aws.client("s3").get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read()
    except Exception as error:
        if error_code(error) in MISSING_OBJECT_CODES:
            return None
        raise
