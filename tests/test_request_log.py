"""One log line per request: id, status, audio seconds, per-stage timings, RTF and RTFx."""

import logging
import re

import numpy as np
import pytest

from scripts.hostile.boundary import boundary_service
from serving.api.requests import RawRequest
from serving.endpoint.request_log import RequestRecord
from serving.identity import RequestId, safe_label
from tests.test_audio import wav_bytes

LOGGER = "serving.endpoint.request_log"
STAGE = r"(\d+\.\d) ms"


def test_rtf_is_processing_over_audio_seconds_and_rtfx_its_inverse():
    record = RequestRecord(RequestId.new("r-1"), 200, 10.0, {"parse": 100.0, "decode": 400.0, "transcribe": 1500.0})
    assert record.processing_seconds == pytest.approx(2.0)
    assert record.rtf == pytest.approx(0.2)
    assert record.line() == ("request r-1: 200, 10.00 s audio, parse 100.0 ms, decode 400.0 ms, "
                             "transcribe 1500.0 ms; RTF 0.2000, RTFx 5.0")


def test_a_failed_request_has_no_speed():
    record = RequestRecord(RequestId.new("r-2"), 415, None, {"parse": 0.2, "decode": 3.0})
    assert record.rtf is None
    assert record.line() == "request r-2: 415, no audio, parse 0.2 ms, decode 3.0 ms"


def test_the_language_is_logged_with_its_probability_when_detected():
    stages = {"parse": 1.0}
    detected = RequestRecord(RequestId.new("r-3"), 200, 2.0, stages, "de", 0.9712)
    given = RequestRecord(RequestId.new("r-4"), 200, 2.0, stages, "fr", None)
    assert detected.line().startswith("request r-3: 200, 2.00 s audio, language de (p 0.97), parse 1.0 ms")
    assert given.line().startswith("request r-4: 200, 2.00 s audio, language fr (given), parse 1.0 ms")


def test_each_request_of_a_batch_ends_with_its_own_line(caplog):
    service = boundary_service()
    requests = [
        RawRequest({"Content-Type": "audio/wav", "X-Request-Id": "good-1"}, wav_bytes(np.zeros(3 * 16_000))),
        RawRequest({"Content-Type": "text/csv", "X-Request-Id": "bad-2"}, b"a,b"),
        RawRequest({"Content-Type": "audio/wav", "X-Request-Id": "good-3"}, wav_bytes(np.zeros(1 * 16_000))),
    ]
    with caplog.at_level(logging.INFO, logger=LOGGER):
        service.handle(requests)
    lines = [record.getMessage() for record in caplog.records if record.name == LOGGER]
    assert [line.split(":")[0] for line in lines] == ["request good-1", "request bad-2", "request good-3"]
    good = re.fullmatch(rf"request good-1: 200, 3\.00 s audio, language en \(given\), parse {STAGE}, decode {STAGE}, plan {STAGE}, "
                        rf"segments {STAGE}, render {STAGE}; RTF [\d.]+, RTFx [\d.]+", lines[0])
    assert good is not None, lines[0]
    assert re.fullmatch(rf"request bad-2: 415, no audio, parse {STAGE}", lines[1]), lines[1]


def test_a_url_request_logs_its_fetch(caplog):
    service = boundary_service()
    body = b'{"audio_url": "s3://audio-in/a.wav"}'
    with caplog.at_level(logging.INFO, logger=LOGGER):
        (response,) = service.handle([RawRequest({"Content-Type": "application/json", "X-Request-Id": "u-1"}, body)])
    assert response.status == 400  # S3 input is off
    assert re.fullmatch(rf"request u-1: 400, no audio, parse {STAGE}, fetch {STAGE}", caplog.records[-1].getMessage())


@pytest.mark.parametrize(
    ("given", "kept"),
    [("abc-123", "abc-123"), ("a\nrequest forged: 200", "arequestforged:200"), ("x" * 500, "x" * 64)],
)
def test_client_chosen_request_ids_are_made_safe_for_the_log(given, kept):
    assert safe_label(given) == kept


def test_a_missing_or_empty_id_becomes_a_fresh_one():
    assert re.fullmatch(r"[0-9a-f]{12}", safe_label(None))
    assert re.fullmatch(r"[0-9a-f]{12}", safe_label("\n\n"))
