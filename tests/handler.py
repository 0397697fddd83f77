"""Drive ``serving.model.handle`` exactly as DJL does: options once in an empty Input, then requests."""

from __future__ import annotations

import json
from dataclasses import dataclass

from scripts.djl_requests import batch_input, initial_input, outputs_of, request_input
from scripts.properties import PROJECT_ROOT, handler_options
from serving import model


@dataclass
class Reply:
    code: int
    content_type: str
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


def start_handler(model_id: str, batch_size: int = 8, **options: str) -> None:
    """Load the handler afresh from serving.properties with ``model_id`` and option overrides."""
    model._service = None
    entries = handler_options(model_id=str(model_id), **options)
    entries["batch_size"] = str(batch_size)
    assert model.handle(initial_input(entries, model_dir=str(PROJECT_ROOT), device_id="-1")) is None


def send(body: bytes, headers: dict[str, str] | None = None) -> Reply:
    output = model.handle(request_input(body, headers or {}, model_dir=str(PROJECT_ROOT)))
    (response,) = outputs_of(output)
    return Reply(response.code, _content_type(response.properties), response.body)


def send_batch(requests: list[tuple[bytes, dict[str, str]]]) -> list[Reply]:
    items = [request_input(body, headers, model_dir=str(PROJECT_ROOT)) for body, headers in requests]
    batch = batch_input(items)
    output = model.handle(batch)
    return [Reply(r.code, _content_type(r.properties), r.body) for r in outputs_of(output, batch)]


def _content_type(properties: dict) -> str:
    return next((value for key, value in properties.items() if key.lower() == "content-type"), "")
