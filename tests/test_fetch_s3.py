"""S3 ``audio_url`` input against a real moto server on 127.0.0.1: allowed buckets, size checked before download,
S3's answers mapped to status codes, and a clip transcribed end to end through handle()."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from scripts.material.clips import REFERENCES, clip_bytes
from serving.errors import (
    AudioTooLarge,
    SourceAccessDenied,
    SourceNotAllowed,
    SourceNotFound,
    SourceUnavailable,
)
from serving.fetch.audio_url import S3Object
from serving.fetch.limits import FetchLimits
from serving.fetch.s3 import S3Fetcher, _client_error
from tests.conftest import free_port
from tests.handler import send, start_handler, stop_handler

REGION = "eu-west-1"
BUCKET = "whisper-audio"
OTHER_BUCKET = "someone-elses-audio"
CLIP = "en_slt_weather.wav"
LIMITS = FetchLimits(max_bytes=1_000_000, timeout_seconds=10)


@pytest.fixture
def aws(moto_url, monkeypatch, tmp_path):
    """The container's AWS configuration, pointed at the moto server: what boto3 reads when S3Fetcher makes its
    client. Buckets: BUCKET with the clip and a 2 MB object, OTHER_BUCKET with the clip."""
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": REGION,
                       "AWS_DEFAULT_REGION": REGION, "AWS_ENDPOINT_URL_S3": moto_url}.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=moto_url)
    for bucket in (BUCKET, OTHER_BUCKET):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_object(Bucket=bucket, Key=f"clips/{CLIP}", Body=clip_bytes(CLIP))
    s3.put_object(Bucket=BUCKET, Key="big.wav", Body=bytes(2_000_000))
    yield moto_url
    for bucket in (BUCKET, OTHER_BUCKET):
        for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=item["Key"])
        s3.delete_bucket(Bucket=bucket)


def recording_client(url: str) -> tuple[object, list[str]]:
    """A boto3 S3 client that records the name of every operation it sends."""
    client = boto3.client("s3", region_name=REGION, endpoint_url=url)
    operations: list[str] = []
    client.meta.events.register("before-call.s3.*", lambda model, **_: operations.append(model.name))
    return client, operations


def test_an_allowed_object_is_fetched_whole(aws):
    assert S3Fetcher({BUCKET}, LIMITS).fetch(S3Object(BUCKET, f"clips/{CLIP}")) == clip_bytes(CLIP)


def test_an_object_over_the_limit_is_refused_after_head_only(aws):
    client, operations = recording_client(aws)
    with pytest.raises(AudioTooLarge, match="s3://whisper-audio/big.wav is 2000000 bytes; the limit is 1000000"):
        S3Fetcher({BUCKET}, LIMITS, client=client).fetch(S3Object(BUCKET, "big.wav"))
    assert operations == ["HeadObject"]  # nothing downloaded


def test_the_download_is_one_ranged_get_of_the_version_that_was_measured(aws):
    client, operations = recording_client(aws)
    sent = []
    client.meta.events.register("before-parameter-build.s3.GetObject", lambda params, **_: sent.append(dict(params)))
    S3Fetcher({BUCKET}, LIMITS, client=client).fetch(S3Object(BUCKET, f"clips/{CLIP}"))
    assert operations == ["HeadObject", "GetObject"]
    assert sent[0]["Range"] == "bytes=0-1000000" and sent[0]["IfMatch"]


def test_a_bucket_that_is_not_allowed_is_refused_without_asking_s3(aws):
    client, operations = recording_client(aws)
    with pytest.raises(SourceNotAllowed, match="bucket 'someone-elses-audio' is not one this endpoint may read") as caught:
        S3Fetcher({BUCKET}, LIMITS, client=client).fetch(S3Object(OTHER_BUCKET, f"clips/{CLIP}"))
    assert caught.value.status == 400 and operations == []


def test_no_allowed_buckets_means_s3_input_is_off(aws):
    with pytest.raises(SourceNotAllowed, match="S3 input is off on this endpoint"):
        S3Fetcher(frozenset(), LIMITS).fetch(S3Object(BUCKET, f"clips/{CLIP}"))


def test_a_missing_key_is_a_named_400(aws):
    with pytest.raises(SourceNotFound, match="s3://whisper-audio/clips/nothing.wav does not exist") as caught:
        S3Fetcher({BUCKET}, LIMITS).fetch(S3Object(BUCKET, "clips/nothing.wav"))
    assert caught.value.status == 400


def test_a_missing_bucket_is_a_named_400(aws):
    with pytest.raises(SourceNotFound, match="does not exist"):
        S3Fetcher({"no-such-bucket-here"}, LIMITS).fetch(S3Object("no-such-bucket-here", "a.wav"))


def test_s3_unreachable_is_502(aws):
    client = boto3.client("s3", region_name=REGION, endpoint_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(SourceUnavailable) as caught:
        S3Fetcher({BUCKET}, FetchLimits(1_000_000, 2), client=client).fetch(S3Object(BUCKET, "a.wav"))
    assert caught.value.status == 502
    assert str(caught.value) == "S3 could not be read for s3://whisper-audio/a.wav (EndpointConnectionError)"


@pytest.mark.parametrize(
    ("code", "status", "expected", "answer"),
    [
        ("403", 403, SourceAccessDenied, 502),
        ("AccessDenied", 403, SourceAccessDenied, 502),
        ("NoSuchKey", 404, SourceNotFound, 400),
        ("PreconditionFailed", 412, SourceUnavailable, 502),
        ("SlowDown", 503, SourceUnavailable, 502),
        ("InternalError", 500, SourceUnavailable, 502),
    ],
)
def test_s3_error_codes_map_to_statuses_without_s3s_message(code, status, expected, answer):
    secret = "User: arn:aws:sts::123456789012:assumed-role/endpoint-role/i-0abc is not authorized"
    error = ClientError({"Error": {"Code": code, "Message": secret}, "ResponseMetadata": {"HTTPStatusCode": status}},
                        "GetObject")
    mapped = _client_error(error, S3Object(BUCKET, "a.wav"))
    assert isinstance(mapped, expected) and mapped.status == answer
    assert "s3://whisper-audio/a.wav" in str(mapped) and "123456789012" not in str(mapped)


@pytest.mark.real_model
def test_a_clip_in_s3_is_transcribed_end_to_end_through_handle(aws, whisper_base_dir):
    start_handler(whisper_base_dir, s3_allowed_buckets=f"{BUCKET}, another-bucket")
    try:
        body = json.dumps({"audio_url": f"s3://{BUCKET}/clips/{CLIP}", "language": "en"}).encode()
        reply = send(body, {"Content-Type": "application/json"})
        refused = send(json.dumps({"audio_url": f"s3://{OTHER_BUCKET}/clips/{CLIP}"}).encode(),
                       {"Content-Type": "application/json"})
    finally:
        stop_handler()
    assert reply.code == 200, reply.body
    assert reply.json()["text"] == REFERENCES[CLIP]["text"]
    assert reply.json()["duration"] == pytest.approx(REFERENCES[CLIP]["seconds"], abs=0.01)
    assert refused.code == 400 and refused.json()["error"]["type"] == "source_not_allowed"
