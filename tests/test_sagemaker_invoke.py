"""Calling an endpoint through the Python API: every parameter, every body shape (read back by the endpoint's own
parser), every response format as a typed result, streaming (botocore's Stubber and real event-stream frames cut
anywhere), async through S3 against moto, CloudWatch logs against moto, and where each client's requests go."""

from __future__ import annotations

import base64
import io
import json
import time
import typing
from dataclasses import fields
from datetime import datetime, timedelta, timezone

import pytest
import requests
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, EventStreamError
from botocore.response import StreamingBody
from botocore.stub import Stubber

from serving.api import params as endpoint_params
from serving.api.requests import parse_request
from serving.errors import Overloaded, error_response
from tests.moto_aws import ACCOUNT, BUCKET, INSTANCE_TYPE, REGION, client, hook_clients, isolated_aws
from tests.sagemaker_runtime import (
    SPOKEN,
    FakeRaw,
    FakeRuntime,
    cut,
    event_stream,
    model_stream_error,
    payload_part,
    sse_bytes,
)
from whisper_lmi.cli import main
from whisper_lmi.errors import WhisperLmiError
from whisper_lmi.sagemaker import (
    NO_RETRY,
    AsyncFailed,
    Aws,
    AwsOptions,
    Endpoint,
    NotDone,
    RetryOptions,
    S3Uri,
    Segment,
    StreamFailed,
    Subtitles,
    Transcript,
    TranscriptDelta,
    TranscriptDone,
    TranscriptionParams,
    Word,
    retries,
)
from whisper_lmi.sagemaker.bodies import choose_mode, request_body
from whisper_lmi.sagemaker.deploy import Deployment
from whisper_lmi.sagemaker.logs import logs, parse_duration
from whisper_lmi.sagemaker.naming import ResourceNames
from whisper_lmi.sagemaker.params import GRANULARITIES, LONG_FORM_MODES, RESPONSE_FORMATS, TASKS
from whisper_lmi.sagemaker.retries import retry_after, unavailable_kind, wait_seconds
from whisper_lmi.sagemaker.streaming import EventSplitter

AUDIO = b"RIFF\x00\x01fake-wav-bytes\xff"
NAME = "whisper"
OUTPUT_PATH = f"s3://{BUCKET}/whisper/v1/async-output/"
SSE_TYPE = "text/event-stream; charset=utf-8"
EVERYTHING = TranscriptionParams(language="de", task="translate", prompt="Glossar: Kubernetes", temperature=0.2,
                                 response_format="verbose_json", timestamp_granularities=("word", "segment"),
                                 long_form="sequential", condition_on_previous_text=False)


@pytest.fixture
def aws_env(moto_url, monkeypatch, tmp_path) -> str:
    return isolated_aws(moto_url, monkeypatch, tmp_path)


@pytest.fixture
def runtime(aws_env, monkeypatch) -> FakeRuntime:
    fake = FakeRuntime()
    hook_clients(monkeypatch, {"before-send.sagemaker-runtime.*": fake})
    return fake


def endpoint(url: str) -> Endpoint:
    return Endpoint(Aws(AwsOptions(endpoint_url=url)), NAME)


def sent_as(params: TranscriptionParams) -> endpoint_params.TranscriptionParams:
    """What the endpoint should read for ``params``."""
    return endpoint_params.parse_params(params.values())


# --- parameters ----------------------------------------------------------------------------------------------


def test_the_parameters_are_the_endpoints():
    endpoint_model = endpoint_params.TranscriptionParams
    assert [item.name for item in fields(TranscriptionParams)] == list(endpoint_model.model_fields)
    assert RESPONSE_FORMATS == typing.get_args(endpoint_params.ResponseFormat)
    assert TASKS == typing.get_args(endpoint_params.Task)
    assert GRANULARITIES == typing.get_args(endpoint_params.Granularity)
    assert LONG_FORM_MODES == typing.get_args(endpoint_params.LongForm)


@pytest.mark.parametrize(("values", "message"), [
    ({"task": "summarize"}, "task must be one of transcribe, translate (got 'summarize')"),
    ({"response_format": "xml"}, "response_format must be one of json, text, verbose_json, srt, vtt"),
    ({"long_form": "fast"}, "long_form must be one of chunked, sequential"),
    ({"temperature": 1.5}, "temperature must be between 0 and 1 (got 1.5)"),
    ({"prompt": "x" * 2001}, "prompt is 2001 characters; the endpoint takes at most 2000"),
    ({"timestamp_granularities": "word"}, "timestamp_granularities needs response_format='verbose_json'"),
    ({"timestamp_granularities": ("char",), "response_format": "verbose_json"},
     "timestamp_granularities must be one of segment, word (got 'char')"),
])
def test_a_bad_parameter_is_an_error_naming_it(values, message):
    with pytest.raises(WhisperLmiError, match=message.replace("(", r"\(").replace(")", r"\)")):
        TranscriptionParams(**values)


def test_custom_attributes_carry_every_parameter_as_text():
    assert EVERYTHING.custom_attributes() == (
        "language=de; task=translate; prompt=Glossar: Kubernetes; temperature=0.2; response_format=verbose_json; "
        "timestamp_granularities=word,segment; long_form=sequential; condition_on_previous_text=false")
    assert TranscriptionParams().custom_attributes() is None
    as_text = TranscriptionParams(response_format="verbose_json", timestamp_granularities="segment, word")
    assert as_text.timestamp_granularities == ("segment", "word")


@pytest.mark.parametrize(("params", "mode"), [
    (EVERYTHING, "raw"),
    (TranscriptionParams(prompt="Müller, Straße"), "json"),  # not ASCII
    (TranscriptionParams(prompt="x" * 1100), "json"),  # over 1024 characters
    (TranscriptionParams(prompt="a; b"), "json"),  # ';' separates the attributes
    (TranscriptionParams(prompt=" leading space"), "json"),  # DJL trims attribute values
])
def test_auto_sends_custom_attributes_when_they_fit_and_json_otherwise(params, mode):
    assert choose_mode(params) == mode


# --- bodies, read back by the endpoint's parser ---------------------------------------------------------------


@pytest.mark.parametrize("mode", ["raw", "form", "json"])
@pytest.mark.parametrize("params", [EVERYTHING, TranscriptionParams(), TranscriptionParams(response_format="srt")])
def test_every_body_mode_reaches_the_endpoint_as_sent(runtime, aws_env, mode, params):
    endpoint(aws_env).transcribe(AUDIO, params, body=mode, content_type="audio/wav")
    parsed = runtime.seen[-1]
    assert parsed.audio == AUDIO
    assert parsed.params == sent_as(params)


def test_a_prompt_custom_attributes_cannot_carry_goes_in_a_json_body(runtime, aws_env):
    prompt = "Ärzte und Ökonomen; " + "Fachbegriffe " * 100
    result = endpoint(aws_env).transcribe(AUDIO, prompt=prompt, language="de")
    headers = runtime.headers[-1]
    assert headers["Content-Type"] == "application/json" and "X-Amzn-SageMaker-Custom-Attributes" not in headers
    assert runtime.seen[-1].params.prompt == prompt and runtime.seen[-1].audio == AUDIO
    assert result == Transcript("Guten Morgen. Wie geht's?", language="de", duration=4.0, response_format="json")


def test_the_json_body_is_base64_audio_beside_the_parameters():
    body = request_body(AUDIO, "a.wav", "audio/wav", TranscriptionParams(prompt="Zürich", temperature=0.4), "json")
    assert body.content_type == "application/json" and body.custom_attributes is None
    assert json.loads(body.body) == {"audio": base64.b64encode(AUDIO).decode(), "prompt": "Zürich", "temperature": 0.4}


def test_a_body_over_the_real_time_limit_is_refused_before_sending(runtime, aws_env):
    with pytest.raises(WhisperLmiError, match="over the real-time limit of 6291456: use an async endpoint"):
        endpoint(aws_env).transcribe(b"\0" * (5 * 1024 * 1024), body="json")  # 5 MB is 6.7 MB as base64
    assert runtime.seen == []


def test_audio_from_a_path_or_s3(runtime, aws_env, tmp_path):
    path = tmp_path / "talk.mp3"
    path.write_bytes(AUDIO)
    s3 = client("s3", aws_env)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=BUCKET, Key="in/talk.flac", Body=AUDIO)
    endpoint(aws_env).transcribe(path)
    endpoint(aws_env).transcribe(f"s3://{BUCKET}/in/talk.flac", body="form")
    assert [h["Content-Type"].split(";")[0] for h in runtime.headers] == ["audio/mpeg", "multipart/form-data"]
    assert [parsed.audio for parsed in runtime.seen] == [AUDIO, AUDIO]
    with pytest.raises(WhisperLmiError, match="nowhere.wav: no such file"):
        endpoint(aws_env).transcribe(tmp_path / "nowhere.wav")


# --- typed results -------------------------------------------------------------------------------------------


def test_verbose_json_with_words_is_a_transcript_with_segments_and_words(runtime, aws_env):
    result = endpoint(aws_env).transcribe(AUDIO, response_format="verbose_json", timestamp_granularities=["word"])
    assert result == Transcript(
        "Guten Morgen. Wie geht's?", language="german", duration=4.0, task="transcribe",
        words=(Word("Guten", 0.0, 0.6, 0.9), Word("Morgen.", 0.6, 1.5, 0.8), Word("Wie", 1.5, 2.0, 0.95),
               Word("geht's?", 2.0, 4.0, 0.7)),
        response_format="verbose_json")  # words only: OpenAI's rule leaves the segments out
    both = endpoint(aws_env).transcribe(AUDIO, response_format="verbose_json",
                                        timestamp_granularities=("segment", "word"))
    assert both.segments[1] == Segment(1, 1.5, 4.0, " Wie geht's?", (50439, 3, 4, 50564), 0.0, -0.3, 1.0, 0.02)
    assert json.loads(both.raw)["segments"][0]["text"] == " Guten Morgen."


def test_text_is_a_transcript_and_subtitles_are_subtitles(runtime, aws_env, tmp_path):
    text = endpoint(aws_env).transcribe(AUDIO, response_format="text")
    assert text == Transcript("Guten Morgen. Wie geht's?", response_format="text") and text.language is None
    srt = endpoint(aws_env).transcribe(AUDIO, response_format="srt")
    vtt = endpoint(aws_env).translate(AUDIO, response_format="vtt")
    assert srt == Subtitles("srt", "1\n00:00:00,000 --> 00:00:01,500\nGuten Morgen.\n\n"
                                   "2\n00:00:01,500 --> 00:00:04,000\nWie geht's?\n")
    assert vtt.text.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nGuten Morgen.\n")
    assert runtime.seen[-1].params.task == "translate"
    assert srt.save(tmp_path / "a.srt").read_bytes() == srt.raw == srt.text.encode()


def test_an_unknown_keyword_is_an_error_naming_it(aws_env):
    with pytest.raises(WhisperLmiError, match="unknown parameter.s. langauge"):
        endpoint(aws_env).transcribe(AUDIO, langauge="de")


def test_a_deployment_gives_its_endpoint(aws_env):
    aws = Aws(AwsOptions(endpoint_url=aws_env))
    deployment = Deployment(ResourceNames("talks", "talks-m", "talks-c"), "InService")
    assert deployment.endpoint(aws) == Endpoint.from_deployment(aws, deployment) == Endpoint(aws, "talks")


# --- streaming -----------------------------------------------------------------------------------------------


def test_events_are_split_again_on_blank_lines_wherever_the_chunks_end():
    data = b'data: {"a": 1}\n\ndata: {"b":\r\n\r\n: keep-alive\n\ndata: {"c": 3}\n\n'
    for size in (1, 2, 3, 5, 8, len(data)):
        splitter = EventSplitter()
        found = [event for chunk in cut(data, size) for event in splitter.feed(chunk)] + splitter.finish()
        assert found == [b'data: {"a": 1}', b'data: {"b":', b": keep-alive", b'data: {"c": 3}'], size


def stub_stream(aws: Aws, frames: bytes, params: TranscriptionParams, chunk: int = 5) -> Stubber:
    """Stubber validates a response against the output shape, where the event stream ``Body`` is a structure: a
    dict passes, botocore's EventStream (what a real response holds) does not. So the response is added with an
    empty dict and its ``Body`` then replaced: the queue holds the same dict, which the client call returns."""
    runtime = aws.client("sagemaker-runtime")
    stubber = Stubber(runtime)
    response = {"Body": {}, "ContentType": SSE_TYPE}
    stubber.add_response("invoke_endpoint_with_response_stream", response, {
        "EndpointName": NAME, "Body": AUDIO, "ContentType": "audio/wav", "Accept": "text/event-stream",
        "CustomAttributes": TranscriptionParams(**{**params.values(), "stream": True}).custom_attributes(),
    })
    response["Body"] = event_stream(runtime, frames, chunk)
    stubber.activate()
    return stubber


def sse_frames(params: TranscriptionParams, size: int = 11) -> bytes:
    parsed = parse_request_for(params)
    sse = sse_bytes(SPOKEN, parsed)
    return b"".join(payload_part(part) for part in cut(sse, size))


def parse_request_for(params: TranscriptionParams):
    from serving.api.requests import RawRequest

    return parse_request(RawRequest({"Content-Type": "audio/wav", **params.text_values()}, AUDIO))


@pytest.mark.parametrize("size", [1, 11, 64, 4096])
def test_stream_yields_deltas_then_the_result_whatever_the_chunks(size):
    aws = Aws(AwsOptions(region=REGION))
    params = TranscriptionParams(language="de", response_format="verbose_json")
    with stub_stream(aws, sse_frames(params, size), params) as stubber:
        events = list(Endpoint(aws, NAME).stream(AUDIO, params, content_type="audio/wav"))
        stubber.assert_no_pending_responses()
    assert events[:2] == [TranscriptDelta("Guten Morgen."), TranscriptDelta(" Wie geht's?")]
    assert len(events) == 3 and isinstance(events[2], TranscriptDone)
    done = events[2].result
    assert done.text == "".join(event.text for event in events[:2]) == "Guten Morgen. Wie geht's?"
    assert done.language == "german" and done.duration == 4.0 and len(done.segments) == 2


def test_a_streamed_srt_ends_with_the_subtitles():
    aws = Aws(AwsOptions(region=REGION))
    params = TranscriptionParams(response_format="srt")
    with stub_stream(aws, sse_frames(params), params):
        *_, done = Endpoint(aws, NAME).stream(AUDIO, params, content_type="audio/wav")
    assert done.result == Subtitles("srt", "1\n00:00:00,000 --> 00:00:01,500\nGuten Morgen.\n\n"
                                           "2\n00:00:01,500 --> 00:00:04,000\nWie geht's?\n")
    assert done.text == done.result.text


def test_an_error_event_mid_stream_raises_after_the_deltas_before_it():
    aws = Aws(AwsOptions(region=REGION))
    params = TranscriptionParams()
    error = {"type": "error", "error": {"code": "internal_error", "type": "server_error",
                                        "message": "decoding failed (request abc)"}}
    sse = b'data: {"type": "transcript.text.delta", "delta": "Guten"}\n\n' + b"data: " + json.dumps(error).encode()
    with stub_stream(aws, b"".join(payload_part(part) for part in cut(sse + b"\n\n", 9)), params):
        events = Endpoint(aws, NAME).stream(AUDIO, params, content_type="audio/wav")
        assert next(events) == TranscriptDelta("Guten")
        with pytest.raises(StreamFailed, match=r"the stream failed: decoding failed \(request abc\) \(internal_error\)"):
            next(events)


def test_a_model_stream_error_from_sagemaker_raises_naming_its_message():
    aws = Aws(AwsOptions(region=REGION))
    params = TranscriptionParams()
    frames = payload_part(b'data: {"type": "transcript.text.delta", "delta": "Gu') + model_stream_error(
        "Received server error (500) from primary", "ModelError")
    with stub_stream(aws, frames, params):
        events = Endpoint(aws, NAME).stream(AUDIO, params, content_type="audio/wav")
        with pytest.raises(StreamFailed, match=r"Received server error \(500\) from primary \(ModelStreamError\)"):
            list(events)


def test_botocore_raises_a_model_stream_error_as_an_event_stream_error():
    """What the stream helper relies on: a ModelStreamError frame surfaces as EventStreamError while iterating."""
    runtime = Aws(AwsOptions(region=REGION)).client("sagemaker-runtime")
    body = event_stream(runtime, payload_part(b"x") + model_stream_error("boom"))
    iterator = iter(body)
    assert next(iterator) == {"PayloadPart": {"Bytes": b"x"}}
    with pytest.raises(EventStreamError, match="ModelStreamError.*boom"):
        next(iterator)


def test_stream_through_the_wire_with_real_frames(runtime, aws_env):
    events = list(endpoint(aws_env).stream(AUDIO, language="de", content_type="audio/wav"))
    assert runtime.headers[-1]["X-Amzn-SageMaker-Accept"] == "text/event-stream"
    assert runtime.seen[-1].params.stream is True and runtime.seen[-1].params.language == "de"
    assert [event.text for event in events] == ["Guten Morgen.", " Wie geht's?", "Guten Morgen. Wie geht's?"]
    assert events[-1].result == Transcript("Guten Morgen. Wie geht's?", "de", 4.0, response_format="json")


# --- a 503 from the model, retried ----------------------------------------------------------------------------


def overloaded_body(retry_after: int | None = 7) -> str:
    """What the server sends (serving/errors.py, sync mode) when it holds as much audio as it may."""
    return json.dumps(error_response(Overloaded("the server holds too much audio; retry later", retry_after or 1))
                      .body() if retry_after else {"code": 503, "error": "shutting_down: the server is shutting down"})


def stub_invocations(aws: Aws, answers: list[tuple[int, str, dict]]) -> Stubber:
    """``invoke_endpoint`` answered in turn: (503 or another status of the model, its body, response headers), or
    (200, the transcript's JSON, {})."""
    stubber = Stubber(aws.client("sagemaker-runtime"))
    expected = {"EndpointName": NAME, "Body": AUDIO, "ContentType": "audio/wav"}
    for status, body, headers in answers:
        if status == 200:
            data = body.encode()
            stubber.add_response("invoke_endpoint", {"Body": StreamingBody(io.BytesIO(data), len(data)),
                                                     "ContentType": "application/json"}, expected)
        else:
            stubber.add_client_error(
                "invoke_endpoint", "ModelError", f"Received server error ({status}) from primary", 424,
                expected_params=expected, response_meta={"HTTPHeaders": headers},
                modeled_fields={"OriginalStatusCode": status, "OriginalMessage": body})
    stubber.activate()
    return stubber


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(retries, "_sleep", slept.append)
    return slept


def stubbed_endpoint(retry=None) -> Endpoint:
    aws = Aws(AwsOptions(region=REGION))
    return Endpoint(aws, NAME) if retry is None else Endpoint(aws, NAME, retry=retry)


def test_a_503_overloaded_is_retried_after_the_retry_after_the_server_names(waits):
    endpoint_ = stubbed_endpoint()
    stubber = stub_invocations(endpoint_.aws, [(503, overloaded_body(7), {}), (503, overloaded_body(7), {}),
                                               (200, '{"text": "hello"}', {})])
    assert endpoint_.transcribe(AUDIO, content_type="audio/wav", body="raw").text == "hello"
    stubber.assert_no_pending_responses()
    assert waits == [7.0, 7.0]


def test_a_retry_after_header_wins_and_a_wait_is_capped():
    endpoint_ = stubbed_endpoint()
    stub_invocations(endpoint_.aws, [(503, overloaded_body(7), {"retry-after": "90"})])
    with pytest.raises(ClientError) as raised:
        endpoint_.aws.client("sagemaker-runtime").invoke_endpoint(EndpointName=NAME, Body=AUDIO,
                                                                  ContentType="audio/wav")
    assert retry_after(raised.value) == 90.0
    assert wait_seconds(raised.value, 1, RetryOptions(max_delay_s=30), lambda: 0.5) == 30.0
    assert wait_seconds(raised.value, 1, RetryOptions(honour_retry_after=False, base_delay_s=2), lambda: 0.5) == 1.0


def test_a_503_shutting_down_without_retry_after_backs_off_until_the_attempts_run_out(waits):
    endpoint_ = stubbed_endpoint(RetryOptions(attempts=3, base_delay_s=1.0, max_delay_s=30))
    body = overloaded_body(None)  # DJL's async error body: no Retry-After in it
    stubber = stub_invocations(endpoint_.aws, [(503, body, {})] * 3)
    with pytest.raises(ClientError) as raised:
        endpoint_.transcribe(AUDIO, content_type="audio/wav", body="raw")
    stubber.assert_no_pending_responses()
    assert raised.value.response["OriginalStatusCode"] == 503
    assert len(waits) == 2 and 0 <= waits[0] <= 1.0 and 0 <= waits[1] <= 2.0  # full jitter, doubling


def test_retrying_can_be_turned_off_and_other_errors_are_never_retried(waits):
    endpoint_ = stubbed_endpoint(NO_RETRY)
    stub_invocations(endpoint_.aws, [(503, overloaded_body(7), {})])
    with pytest.raises(ClientError, match="503"):
        endpoint_.transcribe(AUDIO, content_type="audio/wav", body="raw")
    bad_audio = json.dumps({"error": {"code": 415, "type": "unsupported_media_type", "message": "not audio"}})
    endpoint_ = stubbed_endpoint()
    stub_invocations(endpoint_.aws, [(415, bad_audio, {})])
    with pytest.raises(ClientError, match="415"):
        endpoint_.transcribe(AUDIO, content_type="audio/wav", body="raw")
    assert waits == []


def test_the_kind_of_503_is_read_from_either_modes_body():
    def model_error(body: str) -> ClientError:
        return ClientError({"Error": {"Code": "ModelError"}, "OriginalStatusCode": 503, "OriginalMessage": body},
                           "InvokeEndpoint")

    assert unavailable_kind(model_error(overloaded_body(7))) == "overloaded"
    assert unavailable_kind(model_error(overloaded_body(None))) == "shutting_down"
    assert unavailable_kind(model_error("<html>busy</html>")) == "unknown"


# --- async ---------------------------------------------------------------------------------------------------


def async_endpoint(url: str, output_path: str | None = OUTPUT_PATH) -> None:
    sagemaker = client("sagemaker", url)
    s3 = client("s3", url)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    sagemaker.create_model(ModelName="m", PrimaryContainer={"Image": "image"},
                           ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/r")
    output = {"S3OutputPath": output_path} if output_path else {"NotificationConfig": {}}
    sagemaker.create_endpoint_config(
        EndpointConfigName="c", AsyncInferenceConfig={"OutputConfig": output},
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": INSTANCE_TYPE,
                             "InitialInstanceCount": 1}])
    sagemaker.create_endpoint(EndpointName=NAME, EndpointConfigName="c")


def queue_async_results(url: str, *results: dict) -> None:
    requests.post(f"{url}/moto-api/static/sagemaker/async-endpoint-results",
                  json={"account_id": ACCOUNT, "region": REGION, "results": list(results)})


def record_async_calls(monkeypatch) -> list[dict]:
    calls: list[dict] = []
    hook_clients(monkeypatch, {"provide-client-params.sagemaker-runtime.InvokeEndpointAsync":
                               lambda params, **_: calls.append(dict(params))})
    return calls


def test_async_stages_a_local_file_under_the_endpoints_output_path(aws_env, monkeypatch, tmp_path):
    async_endpoint(aws_env)
    calls = record_async_calls(monkeypatch)
    document = {"text": "Guten Morgen.", "language": "german", "duration": 1.5, "task": "transcribe",
                "segments": [{"id": 0, "start": 0.0, "end": 1.5, "text": " Guten Morgen."}]}
    queue_async_results(aws_env, {"data": json.dumps(document)})
    path = tmp_path / "talk.wav"
    path.write_bytes(AUDIO)
    handle = endpoint(aws_env).transcribe_async(path, language="de", response_format="verbose_json")
    assert handle.input.bucket == BUCKET and handle.input.key.startswith("whisper/v1/async-output/inputs/")
    assert handle.input.key.endswith("-talk.wav")
    staged = client("s3", aws_env).get_object(Bucket=BUCKET, Key=handle.input.key)["Body"].read()
    assert staged == AUDIO
    assert calls == [{"EndpointName": NAME, "InputLocation": str(handle.input), "ContentType": "audio/x-wav",
                      "CustomAttributes": "language=de; response_format=verbose_json"}]
    assert handle.done()
    result = handle.wait(timeout_s=0)
    assert result == Transcript("Guten Morgen.", "german", 1.5, "transcribe",
                                (Segment(0, 0.0, 1.5, " Guten Morgen."),), response_format="verbose_json")
    assert handle.result() == result


def test_async_sends_an_s3_object_as_it_is_and_stages_a_json_body_when_needed(aws_env, monkeypatch):
    async_endpoint(aws_env)
    calls = record_async_calls(monkeypatch)
    queue_async_results(aws_env, {"data": "Guten Morgen."}, {"data": "Grüezi."})
    client("s3", aws_env).put_object(Bucket=BUCKET, Key="in/talk.mp3", Body=AUDIO)
    first = endpoint(aws_env).transcribe_async(f"s3://{BUCKET}/in/talk.mp3", response_format="text")
    assert calls[0]["InputLocation"] == f"s3://{BUCKET}/in/talk.mp3" and first.input == S3Uri(BUCKET, "in/talk.mp3")
    assert first.wait(timeout_s=0) == Transcript("Guten Morgen.", response_format="text")
    second = endpoint(aws_env).transcribe_async(f"s3://{BUCKET}/in/talk.mp3", prompt="Grüezi", response_format="text")
    assert second.input.key.startswith("whisper/v1/async-output/inputs/") and second.input.key.endswith("-talk.mp3.json")
    staged = client("s3", aws_env).get_object(Bucket=BUCKET, Key=second.input.key)
    assert calls[1]["ContentType"] == staged["ContentType"] == "application/json" and "CustomAttributes" not in calls[1]
    document = json.loads(staged["Body"].read())
    assert document == {"audio": base64.b64encode(AUDIO).decode(), "prompt": "Grüezi", "response_format": "text"}
    assert parse_request_json(document) == (AUDIO, "Grüezi")
    assert second.wait(timeout_s=0).text == "Grüezi."


def parse_request_json(document: dict) -> tuple[bytes, str]:
    from serving.api.requests import RawRequest

    parsed = parse_request(RawRequest({"Content-Type": "application/json"}, json.dumps(document).encode()))
    return parsed.audio, parsed.params.prompt


def test_async_failure_and_not_yet(aws_env):
    async_endpoint(aws_env)
    queue_async_results(aws_env, {"is_failure": True, "data": '{"code": 400, "message": "no audio stream"}'})
    handle = endpoint(aws_env).transcribe_async(AUDIO, input_prefix=f"s3://{BUCKET}/staging/")
    assert handle.input.key.startswith("staging/") and handle.input.key.endswith("-audio")
    assert handle.done()
    with pytest.raises(AsyncFailed, match="failed: .*no audio stream"):
        handle.wait(timeout_s=0)
    pending = type(handle)(handle.inference_id, S3Uri(BUCKET, "not/yet.out"), None, handle.input, "json", handle.aws)
    assert not pending.done()
    with pytest.raises(NotDone, match="no result at s3://whisper-artifacts/not/yet.out after 0 s"):
        pending.wait(timeout_s=0)
    slept = []
    with pytest.raises(NotDone):
        pending.wait(timeout_s=2, poll_s=1, sleep=slept.append, clock=iter([0, 0, 1, 2]).__next__)
    assert slept == [1, 1]


def test_async_without_an_output_path_stages_in_the_default_bucket(aws_env):
    async_endpoint(aws_env, output_path=None)
    handle = endpoint(aws_env).transcribe_async(AUDIO)
    assert handle.input.bucket == f"sagemaker-{REGION}-{ACCOUNT}"
    assert handle.input.key.startswith("whisper-lmi/async-inputs/")


def test_async_to_a_real_time_or_missing_endpoint_is_a_message(aws_env):
    with pytest.raises(WhisperLmiError, match=f"no endpoint {NAME} in {REGION}"):
        endpoint(aws_env).transcribe_async(AUDIO)
    sagemaker = client("sagemaker", aws_env)
    sagemaker.create_model(ModelName="m", PrimaryContainer={"Image": "image"},
                           ExecutionRoleArn=f"arn:aws:iam::{ACCOUNT}:role/r")
    sagemaker.create_endpoint_config(EndpointConfigName="c", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "m", "InstanceType": INSTANCE_TYPE, "InitialInstanceCount": 1}])
    sagemaker.create_endpoint(EndpointName=NAME, EndpointConfigName="c")
    with pytest.raises(WhisperLmiError, match=f"endpoint {NAME} is not asynchronous"):
        endpoint(aws_env).transcribe_async(AUDIO)


# --- logs ----------------------------------------------------------------------------------------------------


LOG_BASE_MS = (int(time.time()) - 3600) * 1000  # CloudWatch takes events of the last 14 days, none from the future


def put_logs(url: str) -> None:
    logs = client("logs", url)
    group = f"/aws/sagemaker/Endpoints/{NAME}"
    logs.create_log_group(logGroupName=group)
    for stream, times in {"AllTraffic/i-old": [1000, 3000], "AllTraffic/i-new": [2000, 4000, 5000]}.items():
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        logs.put_log_events(logGroupName=group, logStreamName=stream,
                            logEvents=[{"timestamp": LOG_BASE_MS + t, "message": f"{stream} at {t}"}
                                       for t in times])


def test_logs_merge_the_newest_streams_in_time_order(aws_env):
    put_logs(aws_env)
    events = endpoint(aws_env).logs(limit=3)
    assert [event.message for event in events] == ["AllTraffic/i-old at 3000", "AllTraffic/i-new at 4000",
                                                   "AllTraffic/i-new at 5000"]
    assert events[0].timestamp == datetime.fromtimestamp((LOG_BASE_MS + 3000) / 1000, timezone.utc)
    assert [e.stream for e in endpoint(aws_env).logs(streams=1)] == ["AllTraffic/i-new"] * 3
    now = datetime.fromtimestamp((LOG_BASE_MS + 5000) / 1000, timezone.utc)
    recent = logs(endpoint(aws_env).aws, NAME, since="2s", now=lambda: now)
    assert [event.message for event in recent] == ["AllTraffic/i-old at 3000", "AllTraffic/i-new at 4000",
                                                   "AllTraffic/i-new at 5000"]
    assert parse_duration("1.5h") == timedelta(minutes=90)
    with pytest.raises(WhisperLmiError, match="not a duration: '10 minutes'"):
        parse_duration("10 minutes")


def test_logs_without_a_log_group_is_a_message(aws_env):
    with pytest.raises(WhisperLmiError, match=f"no logs for endpoint {NAME} in {REGION}: log group "
                                              f"/aws/sagemaker/Endpoints/{NAME} does not exist"):
        endpoint(aws_env).logs()


# --- where requests go ---------------------------------------------------------------------------------------


def test_a_service_specific_endpoint_variable_sends_the_runtime_elsewhere(aws_env, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_env)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", "http://127.0.0.1:9")
    aws = Aws(AwsOptions())
    assert aws.client("sagemaker-runtime").meta.endpoint_url == "http://127.0.0.1:9"
    assert aws.client("sagemaker").meta.endpoint_url == aws_env
    explicit = Aws(AwsOptions(endpoint_url="http://127.0.0.1:7"))  # --endpoint-url: everything there
    assert explicit.client("sagemaker-runtime").meta.endpoint_url == "http://127.0.0.1:7"
    split = Aws(AwsOptions(endpoint_url=aws_env, endpoint_urls={"sagemaker-runtime": "http://127.0.0.1:8"}))
    assert split.client("sagemaker-runtime").meta.endpoint_url == "http://127.0.0.1:8"
    assert split.client("s3").meta.endpoint_url == aws_env


# --- the CLI -------------------------------------------------------------------------------------------------


def cli(url: str, *argv: str) -> int:
    return main([*argv, "--endpoint-url", url])


@pytest.fixture
def audio_file(tmp_path):
    path = tmp_path / "talk.wav"
    path.write_bytes(AUDIO)
    return str(path)


def test_invoke_sends_every_parameter_flag_and_prints_the_document(runtime, aws_env, audio_file, capsys):
    code = cli(aws_env, "invoke", audio_file, "--language", "de", "--task", "translate", "--prompt",
               "Glossar: Kubernetes", "--temperature", "0.2", "--timestamps", "word", "--timestamps", "segment",
               "--long-form", "sequential", "--no-condition-on-previous-text")
    assert code == 0
    assert runtime.seen[-1].params == sent_as(EVERYTHING) and runtime.seen[-1].audio == AUDIO
    document = json.loads(capsys.readouterr().out)
    assert document["text"] == "Guten Morgen. Wie geht's?" and len(document["words"]) == 4


@pytest.mark.parametrize(("argv", "printed"), [
    (["--response-format", "text"], "Guten Morgen. Wie geht's?\n"),
    (["--response-format", "srt"], ("1\n00:00:00,000 --> 00:00:01,500\nGuten Morgen.\n\n"
                                    "2\n00:00:01,500 --> 00:00:04,000\nWie geht's?\n\n")),
    (["--response-format", "json"], '{"text": "Guten Morgen. Wie geht\'s?", "language": "de", "duration": 4.0}\n'),
    (["--stream"], "Guten Morgen. Wie geht's?\n"),
])
def test_invoke_prints_text_for_text_formats_and_the_document_for_json(runtime, aws_env, audio_file, capsys, argv,
                                                                      printed):
    assert cli(aws_env, "invoke", audio_file, *argv) == 0
    assert capsys.readouterr().out == printed


@pytest.mark.parametrize(("argv", "content_type"), [
    (["--prompt", "Müller"], "application/json"),
    (["--body", "json"], "application/json"),
    (["--body", "form"], "multipart/form-data"),
    (["--multipart"], "multipart/form-data"),
    ([], "audio/x-wav"),
])
def test_invoke_body_flags(runtime, aws_env, audio_file, argv, content_type):
    assert cli(aws_env, "invoke", audio_file, *argv) == 0
    assert runtime.headers[-1]["Content-Type"].split(";")[0] == content_type
    assert runtime.seen[-1].audio == AUDIO


def test_invoke_async_needs_no_staging_prefix(aws_env, audio_file, capsys):
    async_endpoint(aws_env)
    queue_async_results(aws_env, {"data": "Guten Morgen."})
    assert cli(aws_env, "invoke", audio_file, "--async", "--response-format", "text") == 0
    captured = capsys.readouterr()
    assert captured.out == "Guten Morgen.\n" and "result to s3://" in captured.err
    staged = client("s3", aws_env).list_objects_v2(Bucket=BUCKET, Prefix="whisper/v1/async-output/inputs/")
    assert [item["Key"].endswith("-talk.wav") for item in staged["Contents"]] == [True]


def test_invoke_dry_run_prints_the_request(aws_env, audio_file, capsys):
    assert cli(aws_env, "invoke", audio_file, "--language", "de", "--dry-run") == 0
    out = capsys.readouterr().out
    assert "[dry-run] sagemaker-runtime.invoke_endpoint" in out and '"CustomAttributes": "language=de"' in out


def test_logs_command(aws_env, capsys):
    put_logs(aws_env)
    assert cli(aws_env, "logs", "--name", NAME, "--limit", "2", "--since", "1d") == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" ", 1)[1] for line in lines] == ["AllTraffic/i-new AllTraffic/i-new at 4000",
                                                         "AllTraffic/i-new AllTraffic/i-new at 5000"]


@pytest.mark.parametrize(("argv", "message"), [
    (["invoke", "AUDIO", "--timestamps", "word", "--response-format", "json"],
     "timestamp_granularities needs response_format='verbose_json' (got 'json')"),
    (["invoke", "AUDIO", "--temperature", "3"], "temperature must be between 0 and 1 (got 3.0)"),
    (["invoke", "missing.wav"], "missing.wav: no such file"),
    (["invoke", "AUDIO", "--async-input", "s3://b/p/"], "--async-input goes with --async"),
    (["logs", "--since", "10x"], "not a duration: '10x'"),
    (["logs"], f"no logs for endpoint {NAME} in {REGION}"),
])
def test_user_errors_are_one_line(aws_env, audio_file, capsys, argv, message):
    argv = [audio_file if item == "AUDIO" else item for item in argv]
    assert cli(aws_env, *argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"whisper-lmi {argv[0]}: error: ") and message in err and err.count("\n") == 1


def test_the_openai_shaped_calls(runtime, aws_env, audio_file):
    with open(audio_file, "rb") as file:
        result = endpoint(aws_env).audio_transcriptions(file=file, model="whisper-1", response_format="verbose_json",
                                                        timestamp_granularities=["word"], language="de")
    assert [word.word for word in result.words] == ["Guten", "Morgen.", "Wie", "geht's?"]
    assert runtime.headers[-1]["Content-Type"] == "audio/x-wav" and runtime.seen[-1].audio == AUDIO
    events = list(endpoint(aws_env).audio_transcriptions(file=("talk.ogg", AUDIO), model="whisper-1", stream=True))
    assert runtime.headers[-1]["Content-Type"] == "audio/ogg" and runtime.seen[-1].params.stream
    assert events[-1].text == "Guten Morgen. Wie geht's?"
    endpoint(aws_env).audio_translations(file=AUDIO, model="whisper-1", response_format="text")
    assert runtime.seen[-1].params.task == "translate" and runtime.seen[-1].params.response_format == "text"
    with pytest.raises(WhisperLmiError, match="unknown parameter.s. chunking_strategy"):
        endpoint(aws_env).audio_transcriptions(file=AUDIO, model="whisper-1", chunking_strategy="auto")


class BusyThenRuntime:
    """before-send: ``busy`` ModelErrors carrying the container's 503 overloaded (as SageMaker answers them), then the
    endpoint's answers (:class:`FakeRuntime`)."""

    def __init__(self, busy: int) -> None:
        self.busy, self.calls, self.runtime = busy, 0, FakeRuntime()

    def __call__(self, request, **kwargs) -> AWSResponse:
        self.calls += 1
        if self.calls > self.busy:
            return self.runtime(request, **kwargs)
        body = json.dumps({"Message": "Received server error (503) from primary", "OriginalStatusCode": 503,
                           "OriginalMessage": overloaded_body(2)}).encode()
        return AWSResponse(request.url, 424, {"x-amzn-ErrorType": "ModelError", "Content-Type": "application/json"},
                           FakeRaw([body]))


@pytest.mark.parametrize(("attempts", "code", "calls"), [(None, 0, 2), ("1", 1, 1), ("3", 0, 2)])
def test_invoke_retries_a_503_unless_attempts_is_1(aws_env, monkeypatch, audio_file, waits, capsys, attempts, code,
                                                  calls):
    busy = BusyThenRuntime(busy=1)
    hook_clients(monkeypatch, {"before-send.sagemaker-runtime.*": busy})
    argv = ["invoke", audio_file, "--response-format", "text"] + (["--attempts", attempts] if attempts else [])
    assert cli(aws_env, *argv) == code
    assert busy.calls == calls and waits == ([2.0] if calls == 2 else [])
    printed = capsys.readouterr()
    assert ("Guten Morgen" in printed.out) if code == 0 else ("503" in printed.err)
