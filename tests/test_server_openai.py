"""The local server as OpenAI's audio API, called with the official ``openai`` client: first on a stand-in handler
(what the container receives, OpenAI's error shape), then on the real whisper-base (transcription equal to what
``/invocations`` answers, translation, verbose_json with words, streaming, an error)."""

from __future__ import annotations

import io
import json
import types

import httpx
import openai
import pytest
from openai import OpenAI

from benchmarks.load_test import HOST, free_port, server_process
from scripts.djl.engine import EngineContext
from scripts.material.clips import clip_bytes, clips, english_speech_clips
from scripts.paths import PROJECT_ROOT
from scripts.server.app import create_app
from scripts.server.config import build_config
from scripts.server.engine import EngineSettings, LoadedEngine
from scripts.server.openai_errors import from_container
from serving.djl_compat import Input, Output
from tests.threaded_server import serve_in_thread

# openai 3.x marks audio.translations deprecated (typing_extensions.deprecated); the API still serves it.
TRANSLATIONS_DEPRECATED = "ignore:deprecated:DeprecationWarning"


def _client(url: str) -> OpenAI:
    return OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0, timeout=120)


# ------------------------------------------------------------------------------------------ stand-in container
async def _stand_in(inputs: Input) -> Output:
    """Answers with the form it received (text fields as text, the file's size); ``fail`` as the file: a 400 as
    the handler words it."""
    content = inputs.get_content()
    fields = {content.key_at(i): bytes(content.value_at(i)) for i in range(content.size())}
    if fields.get("file") == b"fail":
        item = {"data": "", "last": True, "code": 400, "error": "bad_parameter: language 'xx' is not a language"}
    else:
        received = {key: (len(value) if key == "file" else value.decode()) for key, value in fields.items()}
        item = {"data": json.dumps({"text": "ok", "received": received}), "last": True}
    return Output().add_property("Content-Type", "application/json").add(Output.binary_encode(item))


@pytest.fixture(scope="module")
def stand_in_url():
    settings = EngineSettings("model.py", 1, 100, async_mode=True)
    context = EngineContext(model_dir=str(PROJECT_ROOT), handler="handle_async")
    engine = LoadedEngine(types.SimpleNamespace(handle_async=_stand_in), settings, context)
    config = build_config(PROJECT_ROOT, "unused", max_request_bytes=100_000)
    with serve_in_thread(create_app(config, lambda: None, lambda _: engine)) as url:
        yield url


def test_the_form_reaches_the_container_with_granularities_merged(stand_in_url):
    result = _client(stand_in_url).audio.transcriptions.create(
        model="whisper-1", file=("a.wav", b"RIFF1234"), language="de", prompt="Grüße", temperature=0.2,
        response_format="verbose_json", timestamp_granularities=["word", "segment"])
    received = result.model_extra["received"]
    assert received == {"language": "de", "prompt": "Grüße", "temperature": "0.2", "response_format": "verbose_json",
                        "timestamp_granularities[]": "word,segment", "file": 8}


@pytest.mark.filterwarnings(TRANSLATIONS_DEPRECATED)
def test_a_translation_asks_the_container_to_translate(stand_in_url):
    result = _client(stand_in_url).audio.translations.create(model="whisper-1", file=("a.wav", b"RIFF"))
    assert result.model_extra["received"] == {"task": "translate", "file": 4}


def test_a_container_error_is_an_openai_error_with_its_status(stand_in_url):
    with pytest.raises(openai.BadRequestError) as raised:
        _client(stand_in_url).audio.transcriptions.create(model="whisper-1", file=("a.wav", b"fail"))
    assert raised.value.status_code == 400
    assert raised.value.body == {"message": "language 'xx' is not a language", "type": "invalid_request_error",
                                 "param": "language", "code": "bad_parameter"}


def test_what_openai_requires_is_checked_by_name(stand_in_url):
    with httpx.Client(base_url=f"{stand_in_url}/v1") as http:
        no_model = http.post("/audio/transcriptions", files={"file": ("a.wav", b"RIFF")})
        no_file = http.post("/audio/transcriptions", data={"model": "whisper-1"}, files={"x": ("a", b"")})
        too_large = http.post("/audio/transcriptions", data={"model": "whisper-1"},
                              files={"file": ("a.wav", b"0" * 100_001)})
    assert (no_model.status_code, no_model.json()["error"]["param"]) == (400, "model")
    assert (no_file.status_code, no_file.json()["error"]["param"]) == (400, "file")
    assert too_large.status_code == 413 and too_large.json()["error"]["type"] == "invalid_request_error"


def test_container_error_bodies_of_every_shape_are_translated():
    assert json.loads(from_container(503, b'{"code": 503, "message": "Async Inference Failure busy"}').body) == {
        "error": {"message": "Async Inference Failure busy", "type": "server_error", "param": None, "code": None}}
    unknown = json.loads(from_container(400, b'{"code":400,"error":"bad_parameter: unknown parameter \'foo\' '
                                             b'(accepted: language)"}').body)["error"]
    assert (unknown["code"], unknown["param"]) == ("bad_parameter", None)  # 'foo' is no parameter of ours
    assert json.loads(from_container(500, b"plain").body)["error"]["message"] == "plain"


# ------------------------------------------------------------------------------------- real HTTP, real model
@pytest.mark.real_model
@pytest.mark.filterwarnings(TRANSLATIONS_DEPRECATED)
def test_the_openai_client_against_the_local_server_on_whisper_base(whisper_base_dir):
    english = english_speech_clips()[0]
    german = clips("de")[0]
    wav = {"Content-Type": "audio/wav"}
    port = free_port()
    url = f"http://{HOST}:{port}"
    with server_process(port):
        direct = httpx.post(f"{url}/invocations", content=clip_bytes(english), headers=wav, timeout=120).json()
        translated_direct = httpx.post(
            f"{url}/invocations", content=clip_bytes(german), timeout=120,
            headers={"Content-Type": "audio/flac" if german.endswith(".flac") else "audio/wav", "task": "translate"},
        ).json()
        client = _client(url)
        plain = client.audio.transcriptions.create(model="whisper-1", file=(english, clip_bytes(english)))
        text = client.audio.transcriptions.create(model="whisper-1", file=(english, clip_bytes(english)),
                                                  response_format="text")
        verbose = client.audio.transcriptions.create(
            model="whisper-1", file=(english, io.BytesIO(clip_bytes(english))), response_format="verbose_json",
            timestamp_granularities=["word"])
        translated = client.audio.translations.create(model="whisper-1", file=(german, clip_bytes(german)))
        events = list(client.audio.transcriptions.create(model="whisper-1", file=(english, clip_bytes(english)),
                                                         stream=True))
        with pytest.raises(openai.BadRequestError) as raised:
            client.audio.transcriptions.create(model="whisper-1", file=(english, clip_bytes(english)),
                                               language="klingon")
    assert plain.text == direct["text"] and plain.text
    assert text.strip() == direct["text"]
    assert verbose.text == direct["text"] and verbose.language == "english"
    assert verbose.words and " ".join(word.word.strip() for word in verbose.words).split() == direct["text"].split()
    assert all(word.start <= word.end for word in verbose.words)
    assert translated.text == translated_direct["text"] and translated.text.isascii()
    *deltas, done = events
    assert {event.type for event in deltas} == {"transcript.text.delta"} and done.type == "transcript.text.done"
    assert "".join(event.delta for event in deltas) == done.text == direct["text"]
    assert raised.value.body["param"] == "language" and "klingon" in raised.value.body["message"]
