"""OpenAI's audio API on the local server, so that ``OpenAI(base_url="http://127.0.0.1:PORT/v1")`` works unchanged:
``POST /v1/audio/transcriptions`` and ``POST /v1/audio/translations`` take OpenAI's multipart form (``file``,
``model``, ``language``, ``prompt``, ``response_format``, ``temperature``, ``timestamp_granularities[]``,
``stream``) and answer in its shapes (the handler already speaks them: ``json``, ``text``, ``verbose_json`` with
``words``, ``srt``, ``vtt``, and ``stream=true`` as ``transcript.text.delta``/``done`` events).

The route checks what OpenAI requires (a ``file``, a ``model``, which is then ignored: the server has one), merges
repeated ``timestamp_granularities[]`` fields into one, adds ``task=translate`` for translations, and sends the form
to the container's ``/invocations``; any other field goes along, so the handler's own parameters (``long_form``...)
work too and an unknown one is refused by name. Errors come back as ``{"error": {"message", "type", "param",
"code"}}`` with the container's status (:mod:`scripts.server.openai_errors`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from scripts.server.container import Invoke, container_request, response_body
from scripts.server.djl_http import RequestTooLarge, read_body
from scripts.server.openai_errors import from_container, openai_error

FILE_FIELD = "file"
MODEL_FIELD = "model"
GRANULARITIES_FIELD = "timestamp_granularities[]"
TASK_FIELD = "task"
FORM_TYPE = "multipart/form-data"
DEFAULT_AUDIO_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class AudioFile:
    name: str
    content_type: str
    data: bytes


class BadForm(ValueError):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def openai_routes(invoke: Invoke, max_request_bytes: int) -> list[Route]:
    async def transcriptions(request: Request) -> Response:
        return await _audio(request, invoke, max_request_bytes, task=None)

    async def translations(request: Request) -> Response:
        return await _audio(request, invoke, max_request_bytes, task="translate")

    return [
        Route("/v1/audio/transcriptions", transcriptions, methods=["POST"]),
        Route("/v1/audio/translations", translations, methods=["POST"]),
    ]


async def _audio(request: Request, invoke: Invoke, limit: int, task: str | None) -> Response:
    if not request.headers.get("content-type", "").lower().startswith(FORM_TYPE):
        return openai_error(400, f"expected a {FORM_TYPE} body with the audio in field 'file'", param=FILE_FIELD)
    try:
        body = await read_body(request, limit)
        audio, fields = await _parse(request, body)
    except RequestTooLarge as exc:
        return openai_error(413, str(exc), param=FILE_FIELD)
    except BadForm as exc:
        return openai_error(400, str(exc), param=exc.param)
    if task is not None:
        fields[TASK_FIELD] = task
    form, content_type = encode_form(fields, audio)
    response = await invoke(container_request([("content-type", content_type)], form, client=request.receive))
    if response.status_code >= 400:
        return from_container(response.status_code, await response_body(response))
    return response


async def _parse(request: Request, body: bytes) -> tuple[AudioFile, dict[str, str]]:
    """The uploaded file and the text fields (repeated granularities joined with commas)."""

    async def replay() -> dict:  # the body was already read and size-checked
        return {"type": "http.request", "body": body, "more_body": False}

    form = await Request(request.scope, replay).form(max_part_size=len(body) + 1)
    try:
        upload = form.get(FILE_FIELD)
        if not isinstance(upload, UploadFile):
            raise BadForm("the form has no 'file' field with the audio", param=FILE_FIELD)
        if not str(form.get(MODEL_FIELD) or "").strip():
            raise BadForm("you must provide a model parameter", param=MODEL_FIELD)
        audio = AudioFile(upload.filename or "audio", upload.content_type or DEFAULT_AUDIO_TYPE, await upload.read())
        fields: dict[str, str] = {}
        for name, value in form.multi_items():
            if name in (FILE_FIELD, MODEL_FIELD) or isinstance(value, UploadFile):
                continue
            fields[name] = f"{fields[name]},{value}" if name == GRANULARITIES_FIELD and name in fields else value
        return audio, fields
    finally:
        await form.close()


def encode_form(fields: dict[str, str], audio: AudioFile) -> tuple[bytes, str]:
    """A multipart/form-data body of the text fields and the file; returns it and its Content-Type."""
    boundary = uuid.uuid4().hex
    parts = [_part(boundary, f'name="{_quoted(name)}"', value.encode("utf-8")) for name, value in fields.items()]
    disposition = f'name="{FILE_FIELD}"; filename="{_quoted(audio.name)}"\r\nContent-Type: {audio.content_type}'
    parts.append(_part(boundary, disposition, audio.data))
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"{FORM_TYPE}; boundary={boundary}"


def _part(boundary: str, disposition: str, data: bytes) -> bytes:
    return f"--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\n\r\n".encode() + data + b"\r\n"


def _quoted(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")
