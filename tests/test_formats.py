"""Response formats: every body in its own content type; srt and vtt parsed back with real parsers."""

import io
import json
from dataclasses import replace
from datetime import timedelta

import srt
import webvtt

from serving.api.formats import render, render_error
from serving.api.params import parse_params
from serving.results import Segment, Transcription, Word

WORDS = (Word(" Grüß", 0.0, 0.42, 0.91), Word(" Gott,", 0.42, 0.9, 0.88), Word(" world.", 3661.25, 3662.5, 0.97))
RESULT = Transcription(
    language="de",
    duration=3663.0,
    segments=(
        Segment(0.0, 0.9, " Grüß Gott,", (50364, 1, 2, 50409), -0.2, 0.01, 1.1, 0.0, WORDS[:2]),
        Segment(3661.25, 3662.5, " world.", (3, 4), -0.3, 0.02, 0.9, 0.2, WORDS[2:]),
    ),
)


def rendered(**params):
    return render(RESULT, parse_params(params))


def test_json_has_text_language_and_rounded_duration():
    body = rendered(response_format="json")
    assert body.content_type == "application/json"
    assert json.loads(body.body) == {"text": "Grüß Gott, world.", "language": "de", "duration": 3663.0}
    assert "Grüß".encode() in body.body  # UTF-8, not \\u escapes


def test_text_is_the_bare_transcript_in_utf8():
    body = rendered(response_format="text")
    assert body.content_type == "text/plain; charset=utf-8"
    assert body.body.decode("utf-8") == "Grüß Gott, world."


def test_verbose_json_gives_the_detected_language_probability():
    detected = replace(RESULT, language_probability=0.87654321)
    document = json.loads(render(detected, parse_params({"response_format": "verbose_json"})).body)
    assert document["language_probability"] == 0.876543


def test_verbose_json_has_openai_shape_with_segments_by_default():
    document = json.loads(rendered(response_format="verbose_json").body)
    assert set(document) == {"task", "language", "language_probability", "duration", "text", "segments"}
    assert (document["task"], document["language"], document["text"]) == ("transcribe", "german", "Grüß Gott, world.")
    assert document["language_probability"] is None  # the language was given
    first = document["segments"][0]
    assert set(first) == {"id", "start", "end", "text", "tokens", "temperature", "avg_logprob", "compression_ratio",
                          "no_speech_prob"}
    assert [s["id"] for s in document["segments"]] == [0, 1]
    assert (first["start"], first["end"], first["text"]) == (0.0, 0.9, " Grüß Gott,")


def test_verbose_json_words_only_when_asked_and_segments_dropped_for_words_only():
    both = json.loads(rendered(response_format="verbose_json", timestamp_granularities=["word", "segment"]).body)
    assert [w["word"] for w in both["words"]] == ["Grüß", "Gott,", "world."]
    assert both["words"][2] == {"word": "world.", "start": 3661.25, "end": 3662.5, "probability": 0.97}
    assert "segments" in both
    words_only = json.loads(rendered(response_format="verbose_json", timestamp_granularities="word").body)
    assert "segments" not in words_only and len(words_only["words"]) == 3


def test_srt_parses_back_with_the_srt_library():
    body = rendered(response_format="srt")
    assert body.content_type == "application/x-subrip; charset=utf-8"
    cues = list(srt.parse(body.body.decode("utf-8")))
    assert [c.index for c in cues] == [1, 2]
    assert [c.content for c in cues] == ["Grüß Gott,", "world."]
    assert cues[1].start == timedelta(hours=1, minutes=1, seconds=1, milliseconds=250)
    assert cues[1].end == timedelta(hours=1, minutes=1, seconds=2, milliseconds=500)


def test_vtt_parses_back_with_webvtt():
    body = rendered(response_format="vtt")
    assert body.content_type == "text/vtt; charset=utf-8"
    cues = list(webvtt.from_buffer(io.StringIO(body.body.decode("utf-8"))))
    assert [c.text for c in cues] == ["Grüß Gott,", "world."]
    assert (cues[0].start, cues[0].end) == ("00:00:00.000", "00:00:00.900")
    assert (cues[1].start, cues[1].end) == ("01:01:01.250", "01:01:02.500")


def test_empty_transcription_gives_empty_but_valid_bodies():
    silent = Transcription(language="en", duration=10.0)
    assert render(silent, parse_params({"response_format": "text"})).body == b""
    assert list(srt.parse(render(silent, parse_params({"response_format": "srt"})).body.decode())) == []
    assert render(silent, parse_params({"response_format": "vtt"})).body.decode() == "WEBVTT\n\n"


def test_error_body_is_json():
    body = render_error({"error": {"code": 400, "type": "bad_parameter", "message": "x"}})
    assert body.content_type == "application/json"
    assert json.loads(body.body)["error"]["code"] == 400


def strict(body: bytes):
    """json.loads that refuses NaN and infinities, as strict parsers (JavaScript's JSON.parse, Go, ...) do."""
    def refuse(constant: str):
        raise ValueError(f"not strict JSON: {constant}")

    return json.loads(body, parse_constant=refuse)


NON_FINITE = Transcription(
    language="en",
    duration=2.0,
    segments=(Segment(float("nan"), float("inf"), " !!!", (0, 0), float("nan"), float("nan"), float("inf"),
                      float("nan"), (Word(" !!!", float("-inf"), float("nan"), float("nan")),)),),
)


def test_verbose_json_is_strict_json_with_null_for_every_number_that_is_not_finite():
    body = render(NON_FINITE, parse_params({"response_format": "verbose_json",
                                            "timestamp_granularities": "word,segment"})).body
    document = strict(body)
    (segment,) = document["segments"]
    assert [segment[k] for k in ("start", "end", "avg_logprob", "no_speech_prob", "compression_ratio",
                                 "temperature")] == [None] * 6
    assert document["words"] == [{"word": "!!!", "start": None, "end": None, "probability": None}]
    assert segment["text"] == " !!!" and document["duration"] == 2.0


def test_json_and_error_bodies_are_strict_json():
    assert strict(render(Transcription("en", float("nan")), parse_params({})).body)["duration"] is None
    assert strict(render_error({"error": {"code": 400, "score": float("inf")}}).body) == {
        "error": {"code": 400, "score": None}}


def test_a_streamed_done_event_is_strict_json():
    from serving.api.streaming import TranscriptEvents

    event = TranscriptEvents(parse_params({"response_format": "verbose_json", "stream": "true"})).done(NON_FINITE)
    document = strict(event.data.removeprefix(b"data: "))
    assert document["segments"][0]["avg_logprob"] is None
