import json

from serving.formats import render, render_error
from serving.transcriber import Transcription

RESULT = Transcription(text="Grüß Gott, world.", language="de", duration=4.56789)


def test_json_has_text_language_and_rounded_duration():
    rendered = render(RESULT, "json")
    assert rendered.content_type == "application/json"
    assert json.loads(rendered.body) == {"text": "Grüß Gott, world.", "language": "de", "duration": 4.568}
    assert "Grüß".encode() in rendered.body  # UTF-8, not \\u escapes


def test_text_is_the_bare_transcript_in_utf8():
    rendered = render(RESULT, "text")
    assert rendered.content_type == "text/plain; charset=utf-8"
    assert rendered.body.decode("utf-8") == "Grüß Gott, world."


def test_error_body_is_json():
    rendered = render_error({"error": {"code": 400, "type": "bad_parameter", "message": "x"}})
    assert rendered.content_type == "application/json"
    assert json.loads(rendered.body)["error"]["code"] == 400
