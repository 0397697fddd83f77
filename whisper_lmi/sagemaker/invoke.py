"""``transcribe``: one audio file to a real-time endpoint (InvokeEndpoint) -> a typed result.

The body is raw audio with custom attributes, a form or JSON (``bodies``); the payload limit of real-time inference
(6 MB) is checked before sending; a 503 from the model is retried (``retries``). In dry-run mode the request is
printed, nothing is sent, and the result is empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from whisper_lmi.errors import WhisperLmiError
from whisper_lmi.sagemaker.audio import Audio, AudioInput, audio_from, read_audio
from whisper_lmi.sagemaker.aws import ApiCall, Aws
from whisper_lmi.sagemaker.bodies import RequestBody, choose_mode, multipart_body, request_body
from whisper_lmi.sagemaker.constants import REALTIME_PAYLOAD_MAX
from whisper_lmi.sagemaker.params import TranscriptionParams
from whisper_lmi.sagemaker.retries import DEFAULT_RETRY, RetryOptions, with_retries
from whisper_lmi.sagemaker.transcript import Result, Transcript, parse_result

RUNTIME = "sagemaker-runtime"
DRY_RUN_RESULT = Transcript(text="", response_format="text")  # nothing was sent

__all__ = ["Invocation", "TranscriptionParams", "invocation", "multipart_body", "realtime_call", "transcribe"]


@dataclass(frozen=True)
class Invocation:
    """One request to make: the endpoint, the audio, the parameters and the body shape (``bodies.BODY_MODES``)."""

    endpoint: str
    audio: Audio
    params: TranscriptionParams = field(default_factory=TranscriptionParams)
    body: str = "auto"
    content_type: str | None = None  # of the audio; default from its name


def invocation(endpoint: str, audio: AudioInput, params: TranscriptionParams | None = None, body: str = "auto",
               content_type: str | None = None) -> Invocation:
    return Invocation(endpoint, audio_from(audio), params or TranscriptionParams(), body, content_type)


def build_body(aws: Aws, request: Invocation) -> RequestBody:
    audio = read_audio(aws, request.audio)
    mode = choose_mode(request.params, request.body)
    content_type = request.content_type or request.audio.content_type
    return request_body(audio, request.audio.name, content_type, request.params, mode)


def realtime_call(endpoint: str, body: RequestBody, operation: str = "invoke_endpoint", **extra: str) -> ApiCall:
    if len(body.body) > REALTIME_PAYLOAD_MAX:
        raise WhisperLmiError(f"the {body.mode} body is {len(body.body)} bytes, over the real-time limit of "
                              f"{REALTIME_PAYLOAD_MAX}: use an async endpoint (transcribe_async, --async)")
    params = {"EndpointName": endpoint, "Body": body.body, "ContentType": body.content_type, **extra}
    if body.custom_attributes:
        params["CustomAttributes"] = body.custom_attributes
    return ApiCall(RUNTIME, operation, params)


def transcribe(aws: Aws, request: Invocation, retry: RetryOptions = DEFAULT_RETRY) -> Result:
    """``retry``: how a 503 from the model (overloaded, shutting down) is retried (:mod:`~whisper_lmi.sagemaker.
    retries`; ``NO_RETRY``: not at all)."""
    if request.params.stream:
        raise WhisperLmiError("stream=True answers with events: use Endpoint.stream (whisper-lmi invoke --stream)")
    call = realtime_call(request.endpoint, build_body(aws, request))
    response = with_retries(lambda: aws.call(call), retry)
    if aws.dry_run:
        return DRY_RUN_RESULT
    return parse_result(response["Body"].read(), request.params.format)
