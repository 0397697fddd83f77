"""The properties hostile input must keep, each as an outcome label: ``"ok"``, a status and error kind such as
``"415 unsupported_media_type"``, or one starting with ``FAIL`` when a property is broken. Nothing but a
``RequestError`` escapes the decoder or the parser; the service answers every request with its own response, never a
5xx, and every error body names the problem."""

from __future__ import annotations

import json

import numpy as np

from serving.api.requests import RawRequest, parse_request
from serving.audio.decode import AudioLimits, decode_audio
from serving.audio.pcm import MAX_PEAK
from serving.endpoint.service import TranscriptionService
from serving.errors import MAX_MESSAGE_CHARS, RequestError

FAIL = "FAIL"
CLIENT_STATUSES = frozenset({400, 413, 415, 422})
LIMITS = AudioLimits(max_bytes=64 * 1024 * 1024, max_seconds=600)


def decode_outcome(data: bytes, limits: AudioLimits = LIMITS) -> str:
    try:
        waveform = decode_audio(data, limits)
    except RequestError as exc:
        return _client_error_outcome(exc)
    except Exception as exc:  # noqa: BLE001 - the property under test
        return f"{FAIL} {type(exc).__name__}: {exc}"[:300]
    if waveform.dtype != np.float32 or waveform.ndim != 1 or not waveform.size or not np.isfinite(waveform).all():
        return f"{FAIL} bad waveform {waveform.dtype} {waveform.shape}"
    if np.abs(waveform).max() > MAX_PEAK:
        return f"{FAIL} samples out of range (peak {np.abs(waveform).max():.3g})"
    return "ok"


def parse_outcome(raw: RawRequest) -> str:
    try:
        parse_request(raw)
    except RequestError as exc:
        return _client_error_outcome(exc)
    except Exception as exc:  # noqa: BLE001 - the property under test
        return f"{FAIL} {type(exc).__name__}: {exc}"[:300]
    return "ok"


def service_outcome(service: TranscriptionService, raw: RawRequest) -> str:
    try:
        responses = service.handle([raw])
    except Exception as exc:  # noqa: BLE001 - the property under test
        return f"{FAIL} escaped the boundary: {type(exc).__name__}: {exc}"[:300]
    if len(responses) != 1:
        return f"{FAIL} {len(responses)} responses for one request"
    response = responses[0]
    if response.status == 200:
        return "200 ok"
    try:
        error = json.loads(response.body)["error"]
    except (ValueError, KeyError, TypeError):
        return f"{FAIL} {response.status} without an error object"
    if response.status not in CLIENT_STATUSES or error.get("code") != response.status:
        return f"{FAIL} {response.status} {error.get('type')}: {error.get('message')}"[:300]
    if not error.get("type") or not _names_a_problem(error.get("message")):
        return f"{FAIL} {response.status} without a message"
    return f"{response.status} {error['type']}"


def _client_error_outcome(exc: RequestError) -> str:
    if exc.status not in CLIENT_STATUSES or not _names_a_problem(str(exc)[: MAX_MESSAGE_CHARS + 100]):
        return f"{FAIL} {exc.status} {exc.kind}: {str(exc)[:200]}"
    return f"{exc.status} {exc.kind}"


def _names_a_problem(message: object) -> bool:
    return isinstance(message, str) and len(message.strip()) >= 10
