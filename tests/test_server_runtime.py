"""The local server as SageMaker Runtime: real boto3 ``sagemaker-runtime`` clients pointed at it (InvokeEndpoint,
InvokeEndpointWithResponseStream, InvokeEndpointAsync with S3 on a moto server). First on a stand-in handler (the
request the container receives, the error shapes, a stream that breaks off), then on the real whisper-base."""

from __future__ import annotations

import asyncio
import json
import time
import types

import boto3
import botocore.exceptions
import httpx
import pytest
from botocore.eventstream import EventStreamBuffer

from benchmarks.load_test import HOST, free_port, server_process
from scripts.djl.engine import EngineContext
from scripts.material.clips import clip_bytes, english_speech_clips
from scripts.paths import PROJECT_ROOT
from scripts.server import eventstream
from scripts.server.app import create_app
from scripts.server.config import RuntimeOptions, build_config
from scripts.server.engine import EngineSettings, LoadedEngine
from serving.djl_compat import Input, Output
from tests.moto_aws import REGION, isolated_aws
from tests.threaded_server import serve_in_thread

BUCKET = "async-io"
OUTPUT = f"s3://{BUCKET}/out/"
FAILURE = f"s3://{BUCKET}/failed/"
S3_WAIT_SECONDS = 120


# ------------------------------------------------------------------------------------------ event-stream framing
def test_event_stream_messages_decode_with_botocores_decoder():
    buffer = EventStreamBuffer()
    buffer.add_data(eventstream.payload_part(b"data: 1\n\n", "text/event-stream")
                    + eventstream.model_stream_error("broke", "StreamBroken"))
    part, error = list(buffer)  # botocore checks both CRC32s and both lengths
    assert part.headers == {":event-type": "PayloadPart", ":content-type": "text/event-stream",
                            ":message-type": "event"}
    assert part.payload == b"data: 1\n\n"
    assert error.headers[":message-type"] == "exception"
    assert error.headers[":exception-type"] == "ModelStreamError"
    assert json.loads(error.payload) == {"Message": "broke", "ErrorCode": "StreamBroken"}


# ------------------------------------------------------------------------------------------ stand-in container
def _reply(data: str, last: bool, content_type: str = "application/json", **extra) -> Output:
    return Output().add_property("Content-Type", content_type).add(
        Output.binary_encode({"data": data, "last": last, **extra}))


async def _stand_in(inputs: Input):
    """``fail``: a 418 of its own; ``stream``: three events; ``broken``: one event, then an exception; anything
    else: the properties the handler received and the body, as JSON."""
    body = inputs.get_as_bytes()
    if body == b"fail":
        return _reply("", True, code=418, error="teapot: no audio")
    if body in (b"stream", b"broken"):
        return _events(broken=body == b"broken")
    properties = {key.lower(): str(value) for key, value in inputs.get_properties().items()}
    return _reply(json.dumps({"properties": properties, "body": body.decode()}), True)


async def _events(broken: bool):
    for index in range(3):
        await asyncio.sleep(0)
        if broken and index == 1:
            raise RuntimeError("the model fell over")
        yield _reply(f"data: {index}\n\n", index == 2, content_type="text/event-stream")


@pytest.fixture(scope="module")
def moto_s3(moto_url):
    return moto_url


@pytest.fixture
def aws_env(moto_s3, monkeypatch, tmp_path):
    """AWS configuration for moto (S3 included, for the server's own S3 client) and a bucket for async I/O."""
    isolated_aws(moto_s3, monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_s3)
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return s3


@pytest.fixture
def stand_in_url(aws_env):
    settings = EngineSettings("model.py", 1, 100, async_mode=True)
    context = EngineContext(model_dir=str(PROJECT_ROOT), handler="handle_async")
    engine = LoadedEngine(types.SimpleNamespace(handle_async=_stand_in), settings, context)
    config = build_config(PROJECT_ROOT, "unused", runtime=RuntimeOptions(endpoint_name="whisper-1",
                                                                          async_output=OUTPUT, async_failure=FAILURE))
    with serve_in_thread(create_app(config, lambda: None, lambda _: engine)) as url:
        yield url


def _runtime(url: str):
    return boto3.client("sagemaker-runtime", region_name=REGION, endpoint_url=url)


def test_invoke_endpoint_forwards_what_sagemaker_forwards_and_answers_its_shape(stand_in_url):
    response = _runtime(stand_in_url).invoke_endpoint(
        EndpointName="whisper-1", Body=b"audio", ContentType="audio/wav", Accept="application/json",
        CustomAttributes="language=de; task=translate")
    assert response["ContentType"] == "application/json"
    assert response["InvokedProductionVariant"] == "AllTraffic"
    received = json.loads(response["Body"].read())
    assert received["body"] == "audio"
    properties = received["properties"]
    assert (properties["content-type"], properties["accept"]) == ("audio/wav", "application/json")
    assert (properties["language"], properties["task"]) == ("de", "translate")
    assert not {"authorization", "x-amz-date", "user-agent"} & set(properties)  # SageMaker's own, not forwarded


def test_endpoint_url_from_the_environment(stand_in_url, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", stand_in_url)
    response = boto3.client("sagemaker-runtime", region_name=REGION).invoke_endpoint(
        EndpointName="whisper-1", Body=b"x", ContentType="audio/wav")
    assert json.loads(response["Body"].read())["body"] == "x"


def test_a_container_error_is_a_model_error_with_its_status_and_body(stand_in_url):
    runtime = _runtime(stand_in_url)
    with pytest.raises(runtime.exceptions.ModelError) as raised:
        runtime.invoke_endpoint(EndpointName="whisper-1", Body=b"fail", ContentType="audio/wav")
    error = raised.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["OriginalStatusCode"] == 418
    assert json.loads(error["OriginalMessage"]) == {"code": 418, "error": "teapot: no audio"}
    assert error["Error"]["Message"].startswith("Received client error (418) from primary with message")


def test_an_unknown_endpoint_is_a_validation_error(stand_in_url):
    runtime = _runtime(stand_in_url)
    with pytest.raises(runtime.exceptions.ValidationError, match="Endpoint other of account .* not found"):
        runtime.invoke_endpoint(EndpointName="other", Body=b"x")


def test_response_stream_sends_each_chunk_as_a_payload_part(stand_in_url):
    response = _runtime(stand_in_url).invoke_endpoint_with_response_stream(
        EndpointName="whisper-1", Body=b"stream", ContentType="audio/wav")
    assert response["ContentType"] == "text/event-stream"
    assert response["InvokedProductionVariant"] == "AllTraffic"
    parts = [event["PayloadPart"]["Bytes"] for event in response["Body"]]
    assert parts == [b"data: 0\n\n", b"data: 1\n\n", b"data: 2\n\n"]


def test_response_stream_that_breaks_off_ends_with_a_model_stream_error(stand_in_url):
    response = _runtime(stand_in_url).invoke_endpoint_with_response_stream(
        EndpointName="whisper-1", Body=b"broken", ContentType="audio/wav")
    parts = []
    with pytest.raises(botocore.exceptions.EventStreamError) as raised:
        for event in response["Body"]:
            parts.append(event["PayloadPart"]["Bytes"])
    assert parts == [b"data: 0\n\n"]
    assert raised.value.response["Error"]["Code"] == "ModelStreamError"
    assert "the model fell over" in raised.value.response["Error"]["Message"]


def test_response_stream_of_a_failed_request_is_a_model_error(stand_in_url):
    runtime = _runtime(stand_in_url)
    with pytest.raises(runtime.exceptions.ModelError) as raised:
        runtime.invoke_endpoint_with_response_stream(EndpointName="whisper-1", Body=b"fail")
    assert raised.value.response["OriginalStatusCode"] == 418


def _wait_for_object(s3, uri: str) -> bytes:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    deadline = time.monotonic() + S3_WAIT_SECONDS
    while time.monotonic() < deadline:
        try:
            return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            time.sleep(0.1)
    raise TimeoutError(f"{uri} was not written within {S3_WAIT_SECONDS} s")


def test_async_invocation_reads_s3_and_writes_the_answer_where_it_said(stand_in_url, aws_env):
    aws_env.put_object(Bucket=BUCKET, Key="in/a.wav", Body=b"audio")
    response = _runtime(stand_in_url).invoke_endpoint_async(
        EndpointName="whisper-1", InputLocation=f"s3://{BUCKET}/in/a.wav", ContentType="audio/wav",
        Accept="application/json", CustomAttributes="language=de", InferenceId="job-1")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert response["InferenceId"] == "job-1"
    assert response["OutputLocation"] == f"{OUTPUT}job-1.out"
    assert response["FailureLocation"] == f"{FAILURE}job-1-error.out"
    received = json.loads(_wait_for_object(aws_env, response["OutputLocation"]))
    assert received["body"] == "audio"
    assert (received["properties"]["content-type"], received["properties"]["accept"]) == ("audio/wav",
                                                                                          "application/json")
    assert received["properties"]["language"] == "de"


def test_async_invocation_failures_are_written_to_the_failure_location(stand_in_url, aws_env):
    aws_env.put_object(Bucket=BUCKET, Key="in/bad", Body=b"fail")
    runtime = _runtime(stand_in_url)
    failed = runtime.invoke_endpoint_async(EndpointName="whisper-1", InputLocation=f"s3://{BUCKET}/in/bad")
    missing = runtime.invoke_endpoint_async(EndpointName="whisper-1", InputLocation=f"s3://{BUCKET}/in/none")
    assert failed["InferenceId"] != missing["InferenceId"]  # generated when not given
    assert json.loads(_wait_for_object(aws_env, failed["FailureLocation"])) == {"code": 418,
                                                                               "error": "teapot: no audio"}
    assert b"cannot read the input s3://async-io/in/none" in _wait_for_object(aws_env, missing["FailureLocation"])


def test_async_invocation_without_an_input_location_is_a_validation_error(stand_in_url):
    with httpx.Client(base_url=stand_in_url) as http:
        response = http.post("/endpoints/whisper-1/async-invocations")
    assert response.status_code == 400 and response.headers["x-amzn-errortype"] == "ValidationError"
    assert response.json() == {"message": "X-Amzn-SageMaker-InputLocation is required"}


# ------------------------------------------------------------------------------------- real HTTP, real model
@pytest.mark.real_model
def test_boto3_against_the_local_server_on_whisper_base(whisper_base_dir, aws_env, monkeypatch):
    name = english_speech_clips()[0]
    audio = clip_bytes(name)
    aws_env.put_object(Bucket=BUCKET, Key="in/clip.wav", Body=audio)
    port = free_port()
    url = f"http://{HOST}:{port}"
    with server_process(port, arguments=("--async-output", OUTPUT)):
        direct = httpx.post(f"{url}/invocations", content=audio, headers={"Content-Type": "audio/wav"}, timeout=120)
        runtime = _runtime(url)
        invoked = runtime.invoke_endpoint(EndpointName="whisper", Body=audio, ContentType="audio/wav")
        as_text = runtime.invoke_endpoint(EndpointName="whisper", Body=audio, ContentType="audio/wav",
                                          CustomAttributes="response_format=text")
        streamed = runtime.invoke_endpoint_with_response_stream(
            EndpointName="whisper", Body=audio, ContentType="audio/wav", CustomAttributes="stream=true")
        events = b"".join(event["PayloadPart"]["Bytes"] for event in streamed["Body"])
        queued = runtime.invoke_endpoint_async(EndpointName="whisper", InputLocation=f"s3://{BUCKET}/in/clip.wav",
                                               ContentType="audio/wav")
        written = _wait_for_object(aws_env, queued["OutputLocation"])
        with pytest.raises(runtime.exceptions.ModelError) as raised:
            runtime.invoke_endpoint(EndpointName="whisper", Body=audio, ContentType="audio/wav",
                                    CustomAttributes="language=klingon")
    text = direct.json()["text"]
    assert text and json.loads(invoked["Body"].read())["text"] == text
    assert as_text["Body"].read().decode() == text and as_text["ContentType"].startswith("text/plain")
    assert streamed["ContentType"].startswith("text/event-stream")
    *deltas, done = [json.loads(line.removeprefix(b"data: ")) for line in events.split(b"\n\n") if line]
    assert "".join(event["delta"] for event in deltas) == done["text"] == text
    assert json.loads(written)["text"] == text
    assert raised.value.response["OriginalStatusCode"] == 400
    assert "language 'klingon'" in raised.value.response["OriginalMessage"]
