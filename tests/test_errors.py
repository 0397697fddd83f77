import logging

import pytest
import torch

from serving.errors import (
    AudioTooLarge,
    AudioTooLong,
    BadParameter,
    SourceAccessDenied,
    SourceNotAllowed,
    SourceNotFound,
    SourceRejected,
    SourceTimeout,
    SourceUnavailable,
    UndecodableAudio,
    UnsupportedMediaType,
    error_response,
)


@pytest.mark.parametrize(
    ("exc", "status", "kind"),
    [
        (BadParameter("bad language"), 400, "bad_parameter"),
        (AudioTooLarge("big"), 413, "too_large"),
        (AudioTooLong("long"), 413, "too_long"),
        (UnsupportedMediaType("png"), 415, "unsupported_media_type"),
        (UndecodableAudio("broken"), 422, "undecodable_audio"),
    ],
)
def test_request_errors_keep_their_status_and_message(exc, status, kind):
    response = error_response(exc)
    assert (response.status, response.kind, response.message) == (status, kind, str(exc))


def test_out_of_memory_is_507(caplog):
    response = error_response(torch.OutOfMemoryError("CUDA out of memory"))
    assert response.status == 507 and response.kind == "out_of_memory"


def test_a_bug_is_500_with_the_traceback_logged_and_no_details_in_the_body(caplog):
    try:
        {}["secret-key"]
    except KeyError as exc:
        with caplog.at_level(logging.ERROR, logger="serving.errors"):
            response = error_response(exc, request_id="r-1")
    assert response.status == 500
    assert "secret-key" not in response.message and "KeyError" in response.message
    assert "r-1" in caplog.text and caplog.records[-1].exc_info is not None


def test_a_message_quoting_huge_input_is_cut_in_the_body_and_the_log(caplog):
    with caplog.at_level(logging.INFO, logger="serving.errors"):
        response = error_response(UnsupportedMediaType(f"Content-Type {'x' * 1_000_000!r} is not supported"))
    assert response.message.startswith("Content-Type 'xxx")
    assert response.message.endswith("... (998032 more characters)") and len(response.message) < 2100
    assert len(caplog.records[-1].getMessage()) < 2200


@pytest.mark.parametrize(
    ("exc", "status", "kind"),
    [
        (SourceNotAllowed("off"), 400, "source_not_allowed"),
        (SourceNotFound("missing"), 400, "source_not_found"),
        (SourceRejected("403"), 400, "source_rejected"),
        (SourceAccessDenied("role"), 502, "source_access_denied"),
        (SourceUnavailable("down"), 502, "source_unavailable"),
        (SourceTimeout("slow"), 504, "source_timeout"),
    ],
)
def test_source_errors_are_client_or_upstream_answers_without_a_traceback(exc, status, kind, caplog):
    with caplog.at_level(logging.INFO, logger="serving.errors"):
        response = error_response(exc, request_id="r-2")
    assert (response.status, response.kind, response.message) == (status, kind, str(exc))
    assert caplog.records[-1].exc_info is None and "r-2" in caplog.text
