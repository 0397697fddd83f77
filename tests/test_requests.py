import base64
import json
import logging

import pytest

from serving.api.requests import RawRequest, parse_request
from serving.errors import BadParameter, UnsupportedMediaType
from serving.fetch.audio_url import S3Object

AUDIO = b"RIFF....WAVEfmt "


def raw(body: bytes, **headers: str) -> RawRequest:
    return RawRequest({key.replace("_", "-"): value for key, value in headers.items()}, body)


@pytest.mark.parametrize("content_type", ["audio/wav", "audio/mpeg", "application/octet-stream", "video/webm", None])
def test_raw_audio_body(content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    parsed = parse_request(RawRequest(headers, AUDIO))
    assert parsed.audio == AUDIO
    assert parsed.params.language is None


def test_parameters_from_properties_case_insensitively():
    parsed = parse_request(RawRequest({"content-type": "audio/wav", "Language": "fr", "TASK": "translate"}, AUDIO))
    assert (parsed.params.language, parsed.params.task) == ("fr", "translate")


def test_unrelated_headers_are_not_parameters():
    parsed = parse_request(RawRequest({"Content-Type": "audio/wav", "User-Agent": "curl", "Accept": "*/*"}, AUDIO))
    assert parsed.params.response_format == "json"


def test_json_audio_with_parameters():
    body = json.dumps({"audio": base64.b64encode(AUDIO).decode(), "language": "es", "response_format": "text"})
    parsed = parse_request(raw(body.encode(), Content_Type="application/json; charset=utf-8"))
    assert parsed.audio == AUDIO
    assert (parsed.params.language, parsed.params.response_format) == ("es", "text")


def test_hugging_face_style_json():
    body = json.dumps({"inputs": base64.b64encode(AUDIO).decode(), "parameters": {"task": "translate"}})
    parsed = parse_request(raw(body.encode(), Content_Type="application/json"))
    assert parsed.audio == AUDIO
    assert parsed.params.task == "translate"


LONG_AUDIO = bytes(range(256)) * 3  # 1 KB of base64: many lines when wrapped


def json_audio(value: str, field: str = "audio") -> RawRequest:
    document = {field: value} if field == "audio" else {field: value, "parameters": {}}
    return raw(json.dumps(document).encode(), Content_Type="application/json")


def wrapped(data: bytes, width: int, newline: str) -> str:
    encoded = base64.b64encode(data).decode()
    return newline.join(encoded[i : i + width] for i in range(0, len(encoded), width)) + newline


@pytest.mark.parametrize("text", [wrapped(LONG_AUDIO, 76, "\r\n"), wrapped(LONG_AUDIO, 76, "\n"),
                                  wrapped(LONG_AUDIO, 64, "\n"), "  " + wrapped(LONG_AUDIO, 76, "\n\t  ")],
                         ids=["mime", "base64-tool", "pem", "indented"])
@pytest.mark.parametrize("field", ["audio", "inputs"])
def test_base64_with_whitespace_and_line_breaks_is_accepted_and_logged(text, field, caplog):
    with caplog.at_level(logging.INFO, logger="serving.api.requests"):
        assert parse_request(json_audio(text, field)).audio == LONG_AUDIO
    (message,) = [r.getMessage() for r in caplog.records]
    assert f"'{field}': base64 with" in message and "line break(s) accepted" in message


def test_base64_without_whitespace_is_not_logged(caplog):
    with caplog.at_level(logging.INFO, logger="serving.api.requests"):
        assert parse_request(json_audio(base64.b64encode(LONG_AUDIO).decode())).audio == LONG_AUDIO
    assert caplog.records == []


@pytest.mark.parametrize("prefix", ["data:audio/wav;base64,", "data:audio/webm;codecs=opus;base64,", "data:;base64,",
                                    "DATA:Audio/MPEG;BASE64,", "data:application/octet-stream;base64,",
                                    "data:video/webm;codecs=\"opus\";base64,"])
@pytest.mark.parametrize("field", ["audio", "inputs"])
def test_a_data_uri_with_an_audio_media_type_is_accepted(prefix, field):
    assert parse_request(json_audio(prefix + base64.b64encode(LONG_AUDIO).decode(), field)).audio == LONG_AUDIO


def test_a_data_uri_may_be_wrapped_in_lines_too():
    assert parse_request(json_audio("data:audio/wav;base64," + wrapped(LONG_AUDIO, 76, "\n"))).audio == LONG_AUDIO


@pytest.mark.parametrize("media_type", ["image/png", "text/plain", "application/json"])
def test_a_data_uri_of_another_media_type_is_415_naming_it(media_type):
    with pytest.raises(UnsupportedMediaType) as caught:
        parse_request(json_audio(f"data:{media_type};base64," + base64.b64encode(AUDIO).decode()))
    assert media_type in str(caught.value) and caught.value.status == 415


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("data:audio/wav," + AUDIO.decode(), "data: URI that is not base64"),
        ("data:audio/wav;charset=utf-8,UklGRg==", "data: URI that is not base64"),
        ("data:audio/wav;base64" + "A" * 400, "without a ','"),
        ("data:audio/wav;base64,@@@@", "'audio' is not valid base64"),
        ("UklG Rg=", "'audio' is not valid base64"),  # whitespace dropped, the rest still checked: bad padding
        ("UklGRg==\n@@\n", "'audio' is not valid base64"),
        ("Ukl\u00a0GRg==", "'audio' is not valid base64"),  # a no-break space is not whitespace base64 allows
    ],
)
def test_junk_base64_and_bad_data_uris_are_still_400(value, named):
    with pytest.raises(BadParameter) as caught:
        parse_request(json_audio(value))
    assert named in str(caught.value)


def test_json_body_parameters_win_over_properties():
    body = json.dumps({"audio": base64.b64encode(AUDIO).decode(), "language": "de"})
    parsed = parse_request(RawRequest({"Content-Type": "application/json", "language": "fr"}, body.encode()))
    assert parsed.params.language == "de"


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be an object"),
        (b'{"language": "en"}', "no 'audio' field"),
        (b'{"audio": 12}', "'audio' must be a base64-encoded string"),
        (b'{"audio": "@@@"}', "'audio' is not valid base64"),
        (b'{"audio": "AAAA", "speed": 2}', "unknown parameter 'speed'"),
        (b'{"inputs": "AAAA", "parameters": {"beam": 1}}', "unknown parameter 'beam'"),
        (b'{"inputs": "AAAA", "extra": 1}', "unknown field(s) ['extra']"),
        (b'{"inputs": "AAAA", "parameters": [1]}', "'parameters' must be a JSON object"),
    ],
)
def test_bad_json_is_a_named_bad_parameter(body, named):
    with pytest.raises(BadParameter) as caught:
        parse_request(raw(body, Content_Type="application/json"))
    assert named in str(caught.value)


def test_deeply_nested_json_is_a_bad_parameter_not_a_crash():
    body = b'{"audio": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    with pytest.raises(BadParameter):
        parse_request(raw(body, Content_Type="application/json"))


@pytest.mark.parametrize("content_type", ["text/plain", "image/png", "text/csv; charset=utf-8"])
def test_unsupported_content_type_is_415(content_type):
    with pytest.raises(UnsupportedMediaType) as caught:
        parse_request(raw(AUDIO, Content_Type=content_type))
    assert caught.value.status == 415
    assert content_type.split(";")[0] in str(caught.value)


FORM = "multipart/form-data; boundary=abc"


def test_openai_form_upload():
    fields = {"file": AUDIO, "model": b"whisper-1", "language": b"de", "response_format": b"text"}
    parsed = parse_request(RawRequest({"Content-Type": FORM}, b"", fields))
    assert parsed.audio == AUDIO
    assert (parsed.params.language, parsed.params.response_format) == ("de", "text")


def test_form_without_file_names_the_field_and_the_curl_pitfall():
    with pytest.raises(BadParameter, match="no 'file' field") as caught:
        parse_request(RawRequest({"Content-Type": "application/x-www-form-urlencoded"}, b"", {"RIFF": b""}))
    assert "curl --data-binary" in str(caught.value)


def test_a_binary_body_parsed_as_a_form_gets_a_short_message():
    junk = {bytes([i]).decode("latin-1") * 500: b"" for i in range(200)}
    with pytest.raises(BadParameter) as caught:
        parse_request(RawRequest({"Content-Type": "application/x-www-form-urlencoded"}, b"", junk))
    assert len(str(caught.value)) < 600 and "200 field(s)" in str(caught.value)  # 100 kB of names in


def test_unknown_form_field_is_a_bad_parameter():
    with pytest.raises(BadParameter, match="unknown parameter 'speed'"):
        parse_request(RawRequest({"Content-Type": FORM}, b"", {"file": AUDIO, "speed": b"2"}))


def test_query_parameters_apply_to_raw_audio_and_lose_to_the_json_body():
    parsed = parse_request(RawRequest({"Content-Type": "audio/wav", "language": "fr"}, AUDIO, {"language": b"es"}))
    assert parsed.params.language == "es"
    body = json.dumps({"audio": base64.b64encode(AUDIO).decode(), "language": "de"}).encode()
    parsed = parse_request(RawRequest({"Content-Type": "application/json"}, body, {"language": b"es"}))
    assert parsed.params.language == "de"


def test_unknown_query_parameter_is_a_bad_parameter():
    with pytest.raises(BadParameter, match="unknown parameter 'lang'"):
        parse_request(RawRequest({"Content-Type": "audio/wav"}, AUDIO, {"lang": b"de"}))


def test_json_audio_url_is_carried_as_a_location_with_the_parameters():
    body = json.dumps({"audio_url": "s3://audio-in/talk.mp3", "language": "de"}).encode()
    parsed = parse_request(raw(body, Content_Type="application/json"))
    assert parsed.audio == S3Object("audio-in", "talk.mp3")
    assert parsed.params.language == "de"


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({"audio": "AAAA", "audio_url": "s3://audio-in/a.wav"}, "either 'audio' or 'audio_url', not both"),
        ({"audio_url": ["s3://audio-in/a.wav"]}, "'audio_url' must be a string"),
        ({"audio_url": "ftp://host/a.wav"}, "must be an s3://bucket/key or https:// URL"),
        ({"language": "en"}, "or 'audio_url' (s3:// or https:// URL)"),
    ],
)
def test_bad_audio_url_bodies_are_named_bad_parameters(document, named):
    with pytest.raises(BadParameter) as caught:
        parse_request(raw(json.dumps(document).encode(), Content_Type="application/json"))
    assert named in str(caught.value)


@pytest.mark.parametrize("name", ["language", "LANGUAGE", "prompt", "temperature"])
def test_a_megabyte_parameter_header_is_refused_without_being_echoed(name):
    """Regression (fuzzing): the 400 used to quote the whole 1 MB value back, in the body and the log line."""
    with pytest.raises(BadParameter) as caught:
        parse_request(RawRequest({"Content-Type": "audio/wav", name: "x" * 1_000_000}, AUDIO))
    assert str(caught.value) == f"parameter {name.lower()!r} is 1000000 characters long; the limit is 8192"


def test_a_huge_parameter_name_is_refused_without_being_echoed():
    body = json.dumps({"audio": "AAAA", "n" * 100_000: 1}).encode()
    with pytest.raises(BadParameter, match=r"unknown parameter 'n{64}'\.\.\. \(100000 characters\)") as caught:
        parse_request(raw(body, Content_Type="application/json"))
    assert len(str(caught.value)) < 120


@pytest.mark.parametrize(("accept", "stream"), [("text/event-stream", True), ("Text/Event-Stream; q=1", True),
                                                ("text/event-stream, application/json", False), ("*/*", False)])
def test_accept_text_event_stream_alone_asks_for_a_stream(accept, stream):
    assert parse_request(RawRequest({"Content-Type": "audio/wav", "Accept": accept}, AUDIO)).params.stream is stream


def test_an_explicit_stream_parameter_wins_over_accept():
    headers = {"Content-Type": "audio/wav", "Accept": "text/event-stream", "stream": "false"}
    assert parse_request(RawRequest(headers, AUDIO)).params.stream is False
