"""``stream``: InvokeEndpointWithResponseStream -> typed events as segments are decoded.

The endpoint answers ``stream=true`` with server-sent events in the shape of OpenAI's streaming transcription
(``serving.api.streaming``): ``transcript.text.delta`` events (``delta``: the text of the next final segment), then
one ``transcript.text.done`` (the whole result), or an ``error`` event. SageMaker carries the bytes in
``PayloadPart`` events whose boundaries have nothing to do with the server-sent events': the bytes are joined and
split again on blank lines (:class:`EventSplitter`). A delta is a :class:`TranscriptDelta`, the done event a
:class:`TranscriptDone` whose ``result`` is what ``transcribe`` would return; an ``error`` event, a
``ModelStreamError`` or an ``InternalStreamFailure`` raises :class:`StreamFailed` naming the message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import EventStreamError

from whisper_lmi.errors import WhisperLmiError
from whisper_lmi.sagemaker.aws import Aws, error_code
from whisper_lmi.sagemaker.invoke import Invocation, build_body, realtime_call
from whisper_lmi.sagemaker.params import JSON_FORMATS, SUBTITLE_FORMATS
from whisper_lmi.sagemaker.retries import DEFAULT_RETRY, RetryOptions, with_retries
from whisper_lmi.sagemaker.transcript import Result, Subtitles, Transcript, parse_result, transcript_from_document

STREAM_OPERATION = "invoke_endpoint_with_response_stream"
EVENT_STREAM_TYPE = "text/event-stream"
DELTA = "transcript.text.delta"
DONE = "transcript.text.done"
ERROR = "error"
PAYLOAD_PART = "PayloadPart"
STREAM_FAILURES = ("ModelStreamError", "InternalStreamFailure")
EVENT_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")  # a blank line ends a server-sent event
LINE_END = re.compile(r"\r\n|\n|\r")
DATA_FIELD = "data"


@dataclass(frozen=True)
class TranscriptDelta:
    text: str  # the next segment's text; the deltas joined are the final text


@dataclass(frozen=True)
class TranscriptDone:
    result: Result
    document: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # the event as sent

    @property
    def text(self) -> str:
        return self.result.text


StreamEvent = TranscriptDelta | TranscriptDone


class StreamFailed(WhisperLmiError):
    """The endpoint or SageMaker ended the stream with an error."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(f"the stream failed: {message}" + (f" ({code})" if code else ""))
        self.message = message
        self.code = code


class EventSplitter:
    """Bytes in chunks of any size -> whole server-sent events (the bytes before each blank line)."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        self._buffer += chunk
        events = []
        while (end := EVENT_END.search(self._buffer)) is not None:
            events.append(self._buffer[: end.start()])
            self._buffer = self._buffer[end.end():]
        return [event for event in events if event.strip()]

    def finish(self) -> list[bytes]:
        """What is left when the stream ends (an event without its blank line)."""
        rest, self._buffer = self._buffer, b""
        return [rest] if rest.strip() else []


def event_data(event: bytes) -> str | None:
    """The event's ``data`` lines joined (None for an event without data: a comment, a keep-alive)."""
    lines = []
    for line in LINE_END.split(event.decode("utf-8", errors="replace")):
        name, _, value = line.partition(":")
        if name == DATA_FIELD:
            lines.append(value.removeprefix(" "))
    return "\n".join(lines) if lines else None


def parse_event(data: str, response_format: str) -> StreamEvent:
    try:
        payload = json.loads(data)
    except ValueError:
        raise StreamFailed(f"an event that is not JSON: {data[:200]!r}") from None
    kind = payload.get("type") if isinstance(payload, dict) else None
    if kind == DELTA:
        return TranscriptDelta(str(payload.get("delta", "")))
    if kind == DONE:
        document = {key: value for key, value in payload.items() if key != "type"}
        return TranscriptDone(done_result(document, response_format), payload)
    if kind == ERROR:
        error = payload.get("error") or {}
        raise StreamFailed(str(error.get("message") or payload), error.get("code") or error.get("type"))
    raise StreamFailed(f"an event of unknown type {kind!r}")


def done_result(document: dict[str, Any], response_format: str) -> Result:
    """The done event's data -> what the same request without streaming returns (its body included, as raw)."""
    if response_format in SUBTITLE_FORMATS:
        subtitles = str(document.get(response_format, ""))
        return Subtitles(response_format, subtitles, raw=subtitles.encode("utf-8"))
    if response_format in JSON_FORMATS:
        raw = json.dumps(document, ensure_ascii=False).encode("utf-8")
        return transcript_from_document(document, response_format, raw)
    text = str(document.get("text", ""))
    return Transcript(text, response_format=response_format, raw=text.encode("utf-8"))


def payload_chunks(body: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    """The bytes of each PayloadPart; a stream error (an event, or botocore's EventStreamError) raises."""
    try:
        for event in body:
            if PAYLOAD_PART in event:
                yield event[PAYLOAD_PART].get("Bytes", b"")
            for failure in STREAM_FAILURES:
                if failure in event:
                    raise StreamFailed(event[failure].get("Message", failure), failure)
    except EventStreamError as error:
        raise StreamFailed(error.response.get("Error", {}).get("Message", str(error)), error_code(error)) from None
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()


def events(chunks: Iterable[bytes], response_format: str) -> Iterator[StreamEvent]:
    splitter = EventSplitter()
    for chunk in chunks:
        yield from _parsed(splitter.feed(chunk), response_format)
    yield from _parsed(splitter.finish(), response_format)


def _parsed(raw_events: list[bytes], response_format: str) -> Iterator[StreamEvent]:
    for raw in raw_events:
        data = event_data(raw)
        if data is not None:
            yield parse_event(data, response_format)


def stream(aws: Aws, request: Invocation, retry: RetryOptions = DEFAULT_RETRY) -> Iterator[StreamEvent]:
    """Send ``request`` with ``stream=true`` now; iterate over its events as they arrive (none in dry-run mode). A 503
    answered before the stream starts is retried as ``retry`` says."""
    request = replace(request, params=replace(request.params, stream=True))
    call = realtime_call(request.endpoint, build_body(aws, request), STREAM_OPERATION, Accept=EVENT_STREAM_TYPE)
    response = with_retries(lambda: aws.call(call), retry)
    if aws.dry_run:
        return iter(())
    return response_events(response, request.params.format)


def response_events(response: dict[str, Any], response_format: str) -> Iterator[StreamEvent]:
    chunks = payload_chunks(response["Body"])
    if not str(response.get("ContentType", EVENT_STREAM_TYPE)).startswith(EVENT_STREAM_TYPE):
        yield TranscriptDone(parse_result(b"".join(chunks), response_format))  # an endpoint that did not stream
        return
    yield from events(chunks, response_format)
