"""Streaming responses (``stream=true``, async mode): server-sent events in the shape of OpenAI's streaming
transcription API.

Each event is one ``data: <JSON>`` line and a blank line (no ``event:`` line; the type is in the JSON), content type
``text/event-stream``:

* ``{"type": "transcript.text.delta", "delta": " Next sentence."}``: one per segment with text, in order, sent as
  soon as no later window can change the segment; the first delta has no leading space, so the deltas joined are
  the final ``text``;
* ``{"type": "transcript.text.done", "text": ...}`` last, carrying the whole result in the requested format's data:
  ``json`` and ``verbose_json`` add their document's fields (``language``, ``duration``; ``task``, ``segments``,
  ``words``), ``srt`` and ``vtt`` add the subtitle file as a string under their own name, ``text`` nothing more;
* ``{"type": "error", "error": {"code", "type", "message"}}`` last instead, when the request fails after events
  were sent (OpenAI's SDKs raise an APIError for an event with an ``error`` object). A request that fails before
  its first event gets a plain error response with its own status code instead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from serving.api.formats import JSON, json_bytes, render
from serving.api.params import TranscriptionParams
from serving.errors import ErrorResponse
from serving.results import Segment, Transcription

EVENT_STREAM = "text/event-stream; charset=utf-8"
DELTA = "transcript.text.delta"
DONE = "transcript.text.done"
ERROR = "error"
SUBTITLE_FORMATS = frozenset({"srt", "vtt"})


@dataclass(frozen=True)
class Event:
    data: bytes  # one whole server-sent event
    last: bool = False


class TranscriptEvents:
    """The events of one request: its deltas as segments become final, then the done (or error) event."""

    def __init__(self, params: TranscriptionParams) -> None:
        self.params = params
        self.started = False  # a delta with text was sent (the next ones keep their leading space)

    def deltas(self, segments: Sequence[Segment]) -> list[Event]:
        events = []
        for segment in segments:
            text = segment.text if self.started else segment.text.lstrip()
            if text:
                events.append(Event(_sse({"type": DELTA, "delta": text})))
                self.started = True
        return events

    def done(self, transcription: Transcription) -> Event:
        return Event(_sse({"type": DONE, **self._document(transcription)}), last=True)

    @staticmethod
    def error(error: ErrorResponse) -> Event:
        return Event(_sse({"type": ERROR, **error.body()}), last=True)

    def _document(self, transcription: Transcription) -> dict:
        """The non-streaming response's data: its JSON document, else the text (and the subtitle file)."""
        rendered = render(transcription, self.params)
        if rendered.content_type == JSON:
            return json.loads(rendered.body)
        document = {"text": transcription.text}
        if self.params.response_format in SUBTITLE_FORMATS:
            document[self.params.response_format] = rendered.body.decode("utf-8")
        return document


def _sse(payload: dict) -> bytes:
    """One event: JSON escapes every line break, so the payload is one ``data:`` line (strict JSON, as every body)."""
    return b"data: " + json_bytes(payload) + b"\n\n"
