import pytest

from serving.api.params import parse_params
from serving.errors import BadParameter


def test_defaults():
    params = parse_params({})
    assert (params.language, params.task, params.prompt, params.temperature, params.response_format) == (
        None, "transcribe", None, 0.0, "json",
    )


@pytest.mark.parametrize("value", ["de", "DE", "german", "German", " de "])
def test_language_code_or_english_name(value):
    assert parse_params({"language": value}).language == "de"


def test_empty_language_means_detect():
    assert parse_params({"language": ""}).language is None


def test_string_values_from_headers_are_coerced():
    params = parse_params({"temperature": "0.4", "task": "Translate", "response_format": "TEXT"})
    assert (params.temperature, params.task, params.response_format) == (0.4, "translate", "text")


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"language": "klingon"}, "language 'klingon' is not supported"),
        ({"task": "summarize"}, "'task'='summarize'"),
        ({"temperature": "hot"}, "'temperature'='hot'"),
        ({"temperature": 1.5}, "'temperature'=1.5"),
        ({"response_format": "docx"}, "'response_format'='docx'"),
        ({"n": 5}, "unknown parameter 'n'"),
        ({"best_of": 0}, "'best_of'=0"),
        ({"beam_size": 0}, "'beam_size'=0"),
        ({"beam_size": 17}, "'beam_size'=17"),
        ({"patience": 0}, "'patience'=0"),
        ({"length_penalty": 1.5}, "'length_penalty'=1.5"),
        ({"beam_size": 2, "patience": 0.2}, "round(beam_size * patience) must be at least 1"),
    ],
)
def test_bad_parameter_is_named(values, named):
    with pytest.raises(BadParameter) as caught:
        parse_params(values)
    assert named in str(caught.value)
    assert caught.value.status == 400


@pytest.mark.parametrize(("value", "stream"), [("true", True), ("False", False), ("1", True), (False, False)])
def test_stream_is_a_boolean(value, stream):
    assert parse_params({"stream": value}).stream is stream


def test_stream_must_be_a_boolean():
    with pytest.raises(BadParameter, match="'stream'='sometimes'"):
        parse_params({"stream": "sometimes"})


def test_beam_options_from_strings():
    params = parse_params({"beam_size": "5", "patience": "1.5", "length_penalty": "0.6", "best_of": "3"})
    assert (params.beam_size, params.patience, params.length_penalty, params.best_of) == (5, 1.5, 0.6, 3)


def test_beam_options_default_to_the_server_and_openai():
    params = parse_params({})
    assert (params.beam_size, params.patience, params.length_penalty) == (None, None, None)
