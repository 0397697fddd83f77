"""handle() on a tiny random-weight Whisper: the structure of responses and DJL's conventions, quickly.

The text is random, so these tests check shapes, codes, content types and which request each answer belongs to.
"""

import json

import numpy as np
import pytest

from scripts.djl.model_load import initial_input
from scripts.djl.outputs import outputs_of
from scripts.djl.properties import sync_handler_options
from scripts.djl.requests import multipart_input, request_input
from scripts.material.clips import REFERENCES, clip_bytes
from scripts.paths import PROJECT_ROOT
from serving import model
from serving.constants import SAMPLE_RATE, WINDOW_SECONDS
from tests.handler import send, send_batch, start_handler, stop_handler
from tests.test_audio import wav_bytes


@pytest.fixture(scope="module", autouse=True)
def tiny_handler(tiny_random_dir):
    start_handler(tiny_random_dir, max_batch_windows="2", max_new_tokens="8", max_audio_seconds="200")
    yield
    stop_handler()


def test_json_response_shape():
    reply = send(clip_bytes("en_slt_lights.wav"), {"Content-Type": "audio/wav"})
    assert reply.code == 200 and reply.content_type == "application/json"
    document = reply.json()
    assert set(document) == {"text", "language", "duration"}
    assert isinstance(document["text"], str) and document["language"]
    assert document["duration"] == pytest.approx(REFERENCES["en_slt_lights.wav"]["seconds"], abs=0.01)


def test_text_response_from_custom_attributes():
    headers = {"Content-Type": "audio/wav", "X-Amzn-SageMaker-Custom-Attributes": "response_format=text; language=de"}
    reply = send(clip_bytes("en_slt_lights.wav"), headers)
    assert reply.code == 200 and reply.content_type.startswith("text/plain")
    assert not reply.body.startswith(b"{")


def test_forced_language_is_reported():
    reply = send(clip_bytes("en_slt_lights.wav"), {"content-type": "audio/wav", "LANGUAGE": "French"})
    assert reply.json()["language"] == "fr"


def test_audio_longer_than_a_window_is_not_cut():
    """Five windows with max_batch_windows=2: all are decoded and the duration is the whole file's."""
    seconds = 4 * WINDOW_SECONDS + 5
    noise = 0.01 * np.random.default_rng(0).standard_normal(seconds * SAMPLE_RATE)
    reply = send(wav_bytes(noise), {"Content-Type": "audio/wav", "language": "en"})
    assert reply.code == 200
    assert reply.json()["duration"] == pytest.approx(seconds, abs=0.01)


def test_each_batch_item_gets_its_own_answer_and_errors_stay_in_their_item():
    good = (clip_bytes("en_slt_lights.wav"), {"Content-Type": "audio/wav", "language": "es"})
    not_audio = (b"hello" * 100, {"Content-Type": "audio/wav"})
    bad_param = (clip_bytes("en_slt_lights.wav"), {"Content-Type": "audio/wav", "temperature": "warm"})
    wrong_type = (b"{}", {"Content-Type": "text/csv"})
    other_good = (clip_bytes("de_morning.wav"), {"Content-Type": "audio/wav", "language": "de"})
    replies = send_batch([good, not_audio, bad_param, wrong_type, other_good])
    assert [r.code for r in replies] == [200] * 5  # DJL shares one status code across a batch
    documents = [r.json() for r in replies]
    assert documents[0]["language"] == "es" and documents[4]["language"] == "de"
    assert documents[0]["duration"] == pytest.approx(REFERENCES["en_slt_lights.wav"]["seconds"], abs=0.01)
    assert documents[4]["duration"] == pytest.approx(REFERENCES["de_morning.wav"]["seconds"], abs=0.01)
    assert documents[1]["error"]["code"] == 415
    assert documents[2]["error"]["code"] == 400 and "temperature" in documents[2]["error"]["message"]
    assert documents[3]["error"]["code"] == 415 and "text/csv" in documents[3]["error"]["message"]


@pytest.mark.parametrize(
    ("body", "headers", "code", "named"),
    [
        (b"", {"Content-Type": "audio/wav"}, 400, "empty body"),
        (b"not audio at all" * 10, {"Content-Type": "audio/wav"}, 415, "not a recognised audio file"),
        (None, {"Content-Type": "audio/wav", "task": "summarise"}, 400, "'task'"),
        (None, {"Content-Type": "image/png"}, 415, "image/png"),
        (b'{"audio": "???"}', {"Content-Type": "application/json"}, 400, "base64"),
    ],
)
def test_unbatched_bad_request_gets_its_real_status(body, headers, code, named):
    reply = send(clip_bytes("en_slt_lights.wav") if body is None else body, headers)
    assert reply.code == code
    assert named in reply.json()["error"]["message"]


def test_too_long_audio_is_413():
    reply = send(wav_bytes(np.zeros(201 * SAMPLE_RATE)), {"Content-Type": "audio/wav"})
    assert reply.code == 413 and "200 s" in reply.json()["error"]["message"]


def test_options_come_only_from_the_first_empty_input(tiny_random_dir):
    """A request header named like an option changes nothing: options were cached at start."""
    reply = send(clip_bytes("en_slt_lights.wav"), {"Content-Type": "audio/wav", "max_audio_seconds": "1"})
    assert reply.code == 200


def test_a_form_without_fields_is_a_request_without_audio_not_a_second_start():
    """DJL gives a form with no fields as an Input without content, like its first (options) Input: once the service
    runs, it is a request, answered with the 400 that names the missing audio."""
    empty = multipart_input({}, model_dir=str(PROJECT_ROOT))
    assert empty.is_empty()
    (response,) = outputs_of(model.handle(empty))
    assert response.code == 400 and "audio" in json.loads(response.body)["error"]["message"]


def test_a_bad_option_fails_model_loading_naming_it(tiny_random_dir):
    entries = sync_handler_options(model_id=str(tiny_random_dir), max_batch_windows="lots")
    saved, model._service = model._service, None
    try:
        with pytest.raises(ValueError, match="option.max_batch_windows='lots'"):
            model.handle(initial_input(entries, model_dir=str(PROJECT_ROOT), device_id="-1"))
    finally:
        model._service = saved


def test_error_body_is_json_naming_the_problem():
    reply = send(b"x" * 50, {"Content-Type": "audio/wav"})
    error = json.loads(reply.body)["error"]
    assert set(error) == {"code", "type", "message"} and error["type"] == "unsupported_media_type"


def test_openai_form_upload_through_handle():
    fields = {"file": clip_bytes("en_slt_lights.wav"), "model": "whisper-1", "language": "it", "response_format": "json"}
    (response,) = outputs_of(model.handle(multipart_input(fields, model_dir=str(PROJECT_ROOT))))
    assert response.code == 200
    document = json.loads(response.body)
    assert document["language"] == "it"
    assert document["duration"] == pytest.approx(REFERENCES["en_slt_lights.wav"]["seconds"], abs=0.01)


def test_query_parameters_through_handle():
    request = request_input(clip_bytes("en_slt_lights.wav"), {"Content-Type": "audio/wav"},
                            model_dir=str(PROJECT_ROOT), query={"language": "pt", "response_format": "json"})
    (response,) = outputs_of(model.handle(request))
    assert response.code == 200 and json.loads(response.body)["language"] == "pt"


def test_a_language_the_model_lacks_is_400_in_its_own_item_and_the_batch_is_not_retried(caplog):
    """whisper-base (the tiny model's vocabulary) has 99 languages without Cantonese. Before: a KeyError in the
    batch (500), and every request of the batch decoded again alone. Now: refused when its session is opened."""
    audio = {"Content-Type": "audio/wav"}
    replies = send_batch([(clip_bytes("en_slt_lights.wav"), {**audio, "language": "en"}),
                          (clip_bytes("en_slt_lights.wav"), {**audio, "language": "yue"}),
                          (clip_bytes("de_morning.wav"), {**audio, "language": "cantonese"}),
                          (clip_bytes("de_morning.wav"), {**audio, "language": "de"})])
    documents = [reply.json() for reply in replies]
    assert [documents[0]["language"], documents[3]["language"]] == ["en", "de"]
    for document in documents[1:3]:
        assert document["error"]["code"] == 400 and document["error"]["type"] == "bad_parameter"
        assert document["error"]["message"].startswith("language 'yue' (cantonese) is not one this model knows; "
                                                       "it knows 99: af, am, ar,")
    assert not [r for r in caplog.records if "running each request's windows alone" in r.getMessage()]


def test_a_language_the_model_lacks_alone_gets_its_own_400():
    reply = send(clip_bytes("en_slt_lights.wav"), {"Content-Type": "audio/wav", "language": "yue"})
    assert reply.code == 400 and "it knows 99" in reply.json()["error"]["message"]
