"""``Endpoint``: a deployed endpoint to call, in the spirit of the sagemaker SDK's ``Predictor``.

    endpoint = Endpoint(aws, "whisper")            # or deployment.endpoint(aws), Endpoint.from_deployment(...)
    endpoint.transcribe("talk.wav").text
    endpoint.transcribe("talk.wav", response_format="verbose_json", timestamp_granularities=("word",)).words
    endpoint.translate(b"...", language="de")
    for event in endpoint.stream("s3://bucket/talk.mp3"): ...
    endpoint.transcribe_async("long.mp3").wait().text
    endpoint.logs(since="10m"); endpoint.status(); endpoint.delete()
    endpoint.audio_transcriptions(file=open("talk.mp3", "rb"), model="whisper-1", response_format="srt")  # OpenAI's

Audio is a path, bytes, an open binary file, OpenAI's ``(name, bytes)`` or an ``s3://`` URI. Parameters come as a :class:`TranscriptionParams`, as keywords (its
field names), or both (the keywords win). ``body`` picks the request's shape (``bodies``: auto, raw, form, json).
A 503 from the model (overloaded, shutting down) is retried (``retries``): ``Endpoint(aws, "whisper",
retry=RetryOptions(attempts=8))``, or ``retry=NO_RETRY`` to see it at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from whisper_lmi.errors import WhisperLmiError
from whisper_lmi.sagemaker.asynchronous import AsyncTranscription, transcribe_async
from whisper_lmi.sagemaker.audio import AudioInput
from whisper_lmi.sagemaker.aws import Aws
from whisper_lmi.sagemaker.constants import DEFAULT_LOG_LIMIT, DEFAULT_LOG_STREAMS
from whisper_lmi.sagemaker.delete import delete
from whisper_lmi.sagemaker.invoke import Invocation, invocation, transcribe
from whisper_lmi.sagemaker.logs import LogEvent, logs
from whisper_lmi.sagemaker.params import TranscriptionParams
from whisper_lmi.sagemaker.retries import DEFAULT_RETRY, RetryOptions
from whisper_lmi.sagemaker.s3uri import S3Uri
from whisper_lmi.sagemaker.status import EndpointStatus, status
from whisper_lmi.sagemaker.streaming import StreamEvent, stream
from whisper_lmi.sagemaker.transcript import Result

if TYPE_CHECKING:
    from whisper_lmi.sagemaker.deploy import Deployment

PARAM_NAMES = frozenset(item.name for item in fields(TranscriptionParams))


@dataclass(frozen=True)
class Endpoint:
    aws: Aws
    name: str
    retry: RetryOptions = DEFAULT_RETRY  # a 503 from the model (overloaded, shutting down); NO_RETRY: none

    @classmethod
    def from_deployment(cls, aws: Aws, deployment: Deployment) -> Endpoint:
        return cls(aws, deployment.names.endpoint)

    def transcribe(self, audio: AudioInput, params: TranscriptionParams | None = None, *, body: str = "auto",
                   content_type: str | None = None, **values: Any) -> Result:
        """A :class:`Transcript` (json, verbose_json, text) or :class:`Subtitles` (srt, vtt)."""
        return transcribe(self.aws, self._request(audio, params, body, content_type, values), self.retry)

    def translate(self, audio: AudioInput, params: TranscriptionParams | None = None, *, body: str = "auto",
                  content_type: str | None = None, **values: Any) -> Result:
        """To English: ``transcribe`` with ``task="translate"``."""
        return self.transcribe(audio, params, body=body, content_type=content_type, **{**values, "task": "translate"})

    def stream(self, audio: AudioInput, params: TranscriptionParams | None = None, *, body: str = "auto",
               content_type: str | None = None, **values: Any) -> Iterator[StreamEvent]:
        """InvokeEndpointWithResponseStream: :class:`TranscriptDelta` events, then one :class:`TranscriptDone`."""
        return stream(self.aws, self._request(audio, params, body, content_type, values), self.retry)

    def transcribe_async(self, audio: AudioInput, params: TranscriptionParams | None = None, *, body: str = "auto",
                         content_type: str | None = None, input_prefix: S3Uri | str | None = None,
                         **values: Any) -> AsyncTranscription | None:
        """InvokeEndpointAsync; the handle's ``wait()`` returns the result (None only in dry-run mode)."""
        prefix = S3Uri.prefix(input_prefix) if isinstance(input_prefix, str) else input_prefix
        return transcribe_async(self.aws, self._request(audio, params, body, content_type, values), prefix)

    def audio_transcriptions(self, file: AudioInput, *, model: str | None = None, stream: bool = False,
                             **values: Any) -> Result | Iterator[StreamEvent]:
        """OpenAI's ``client.audio.transcriptions.create(file=..., model=..., ...)`` against this endpoint, with the
        same argument names (``model`` is accepted and ignored: the endpoint serves one model); the result, or the
        events with ``stream=True``."""
        del model
        return self.stream(file, **values) if stream else self.transcribe(file, **values)

    def audio_translations(self, file: AudioInput, *, model: str | None = None, **values: Any) -> Result:
        """OpenAI's ``client.audio.translations.create``: to English (``model`` is ignored)."""
        del model
        return self.translate(file, **values)

    def logs(self, since: timedelta | str | None = None, limit: int = DEFAULT_LOG_LIMIT,
             streams: int = DEFAULT_LOG_STREAMS) -> list[LogEvent]:
        return logs(self.aws, self.name, since, limit, streams)

    def status(self) -> EndpointStatus:
        return status(self.aws, self.name)

    def delete(self) -> list[str]:
        """The endpoint, its configs and models, its autoscaling; returns what was deleted."""
        return delete(self.aws, self.name)

    def _request(self, audio: AudioInput, params: TranscriptionParams | None, body: str, content_type: str | None,
                 values: dict[str, Any]) -> Invocation:
        return invocation(self.name, audio, with_values(params, values), body, content_type)


def with_values(params: TranscriptionParams | None, values: dict[str, Any]) -> TranscriptionParams:
    """``params`` (or the defaults) with the keyword values on top; an unknown name is an error naming it."""
    unknown = sorted(set(values) - PARAM_NAMES)
    if unknown:
        raise WhisperLmiError(f"unknown parameter(s) {', '.join(unknown)} (accepted: {', '.join(sorted(PARAM_NAMES))})")
    return replace(params or TranscriptionParams(), **values)
