"""Shared by the SageMaker tool's tests: an isolated AWS environment pointed at the moto server, an uploaded artifact
prefix, and botocore before-call hooks on the tool's own clients (to record requests, fake UpdateEndpoint, which moto
lacks, and inject failures)."""

from __future__ import annotations

import json
from collections.abc import Callable

import boto3
import requests
from botocore.awsrequest import AWSResponse
from moto.sagemaker.models import sagemaker_backends

from whisper_lmi.artifact.layout import SERVING_PROPERTIES

REGION = "eu-west-1"
ACCOUNT = "123456789012"  # moto's
BUCKET = "whisper-artifacts"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/sagemaker-exec"
PREFIX = f"s3://{BUCKET}/whisper/v1/"
IMAGE = "763104351884.dkr.ecr.eu-west-1.amazonaws.com/djl-inference:0.38.0-lmi29.0.0-cu130"
INSTANCE_TYPE = "ml.g4dn.xlarge"  # moto's instance-type enum predates g5/g6

Hook = Callable[..., object]


def isolated_aws(moto_url: str, monkeypatch, tmp_path) -> str:
    """Credentials and region for moto only, no AWS configuration files; the server emptied. Returns its URL."""
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "WHISPER_LMI_ROLE_ARN"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    requests.post(f"{moto_url}/moto-api/reset")
    return moto_url


def client(service: str, url: str):
    return boto3.client(service, region_name=REGION, endpoint_url=url)


def put_artifact(url: str, properties: bytes = SERVING_PROPERTIES.read_bytes(), prefix: str = "whisper/v1/") -> str:
    """An artifact prefix holding a serving.properties (all that deploy reads of it)."""
    s3 = client("s3", url)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}serving.properties", Body=properties)
    return f"s3://{BUCKET}/{prefix}"


def hook_clients(monkeypatch, hooks: dict[str, Hook]) -> None:
    """Register ``event -> handler`` on every boto3 client made from now on (the tool's included)."""
    original = boto3.Session.client

    def hooked(self, *args, **kwargs):
        made = original(self, *args, **kwargs)
        for event, handler in hooks.items():
            made.meta.events.register(event, handler)
        return made

    monkeypatch.setattr(boto3.Session, "client", hooked)


def recorder(calls: list[str]) -> Hook:
    def record(model, **_):
        calls.append(model.name)

    return record


def fake_update_endpoint(params, **_):
    """UpdateEndpoint as SageMaker ends it (moto has no UpdateEndpoint): the endpoint serves the new config."""
    body = json.loads(params["body"])
    endpoint = sagemaker_backends[ACCOUNT][REGION].endpoints[body["EndpointName"]]
    endpoint.endpoint_config_name = body["EndpointConfigName"]
    return AWSResponse("", 200, {}, None), {"EndpointArn": endpoint.arn}


def failing(code: str, message: str) -> Hook:
    """A before-call handler that answers the request with an AWS error."""

    def fail(**_):
        return AWSResponse("", 400, {}, None), {"Error": {"Code": code, "Message": message}}

    return fail
