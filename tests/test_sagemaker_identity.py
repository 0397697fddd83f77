"""The execution role and the default bucket, found as the sagemaker SDK finds them: with boto3 alone against moto
(a notebook's metadata file, an assumed role, a plain user), and through the SDK when it is there."""

from __future__ import annotations

import json
from dataclasses import dataclass

import boto3
import pytest

from tests.moto_aws import ACCOUNT, REGION, client, isolated_aws
from whisper_lmi.errors import WhisperLmiError
from whisper_lmi.sagemaker.aws import Aws, AwsOptions
from whisper_lmi.sagemaker.identity import Sdk, _sdk_for, default_bucket, execution_role, find_sdk

TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


@pytest.fixture
def aws_env(moto_url, monkeypatch, tmp_path) -> str:
    return isolated_aws(moto_url, monkeypatch, tmp_path)


def no_sdk() -> None:
    return None


def test_a_notebooks_metadata_names_the_role(aws_env, tmp_path):
    metadata = tmp_path / "resource-metadata.json"
    metadata.write_text(json.dumps({"ResourceName": "nb", "ExecutionRoleArn": "arn:aws:iam::1:role/studio"}))
    assert execution_role(Aws(AwsOptions(endpoint_url=aws_env)), no_sdk, metadata) == "arn:aws:iam::1:role/studio"


def test_a_notebook_instance_without_the_role_in_its_metadata_is_asked(aws_env, tmp_path):
    role = f"arn:aws:iam::{ACCOUNT}:role/notebook-role"
    client("sagemaker", aws_env).create_notebook_instance(NotebookInstanceName="nb", InstanceType="ml.t3.medium",
                                                          RoleArn=role)
    metadata = tmp_path / "resource-metadata.json"
    metadata.write_text(json.dumps({"ResourceName": "nb"}))
    assert execution_role(Aws(AwsOptions(endpoint_url=aws_env)), no_sdk, metadata) == role


def test_an_assumed_role_is_the_role_with_its_path(aws_env, tmp_path, monkeypatch):
    created = client("iam", aws_env).create_role(RoleName="AmazonSageMaker-ExecutionRole-1", Path="/service-role/",
                                                 AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
    credentials = client("sts", aws_env).assume_role(RoleArn=created, RoleSessionName="me")["Credentials"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", credentials["SessionToken"])
    aws = Aws(AwsOptions(endpoint_url=aws_env))
    assert ":assumed-role/AmazonSageMaker-ExecutionRole-1/me" in aws.client("sts").get_caller_identity()["Arn"]
    assert execution_role(aws, no_sdk, tmp_path / "none.json") == created
    assert created == f"arn:aws:iam::{ACCOUNT}:role/service-role/AmazonSageMaker-ExecutionRole-1"


def test_a_user_is_not_a_role(aws_env, tmp_path):
    with pytest.raises(WhisperLmiError, match="no SageMaker execution role: pass --role-arn"):
        execution_role(Aws(AwsOptions(endpoint_url=aws_env)), no_sdk, tmp_path / "none.json")


def test_the_default_bucket_is_the_sdks_and_is_created_once(aws_env):
    aws = Aws(AwsOptions(endpoint_url=aws_env))
    assert default_bucket(aws, no_sdk) == default_bucket(aws, no_sdk) == f"sagemaker-{REGION}-{ACCOUNT}"
    buckets = [b["Name"] for b in client("s3", aws_env).list_buckets()["Buckets"]]
    assert buckets == [f"sagemaker-{REGION}-{ACCOUNT}"]


@dataclass
class FakeSession:
    boto_session: boto3.Session

    def default_bucket(self) -> str:
        return "sdk-bucket"


def test_the_sdk_is_used_when_installed_and_requests_go_to_aws(monkeypatch):
    seen = []

    def role(sagemaker_session):
        seen.append(sagemaker_session.boto_session)
        return "arn:aws:iam::1:role/from-sdk"

    def sdk() -> Sdk:
        return Sdk(FakeSession, role)

    aws = Aws(AwsOptions(region=REGION))
    assert execution_role(aws, sdk) == "arn:aws:iam::1:role/from-sdk" and seen == [aws.session]
    assert default_bucket(aws, sdk) == "sdk-bucket"


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_S3"])
def test_the_sdk_is_not_used_when_botocore_is_pointed_elsewhere(monkeypatch, variable):
    """The SDK calls STS at its own regional address; with requests redirected (a moto server, a VPC endpoint given
    this way) the role is found with boto3, which follows the variables."""
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv(variable, "http://127.0.0.1:1")
    used = []

    def sdk() -> Sdk:
        used.append(True)
        return Sdk(FakeSession, lambda sagemaker_session: "arn:aws:iam::1:role/from-sdk")

    assert _sdk_for(Aws(AwsOptions(region=REGION)), sdk) is None and used == []
    monkeypatch.delenv(variable)
    assert _sdk_for(Aws(AwsOptions(region=REGION)), sdk) is not None


def test_the_installed_sdk_is_found():
    sdk = find_sdk()
    assert sdk is not None and sdk.session.__name__ == "Session"
    assert sdk.get_execution_role.__module__.startswith("sagemaker")


def test_the_sdks_refusal_is_a_message():
    def role(sagemaker_session):
        raise ValueError("The current AWS identity is not a role: arn:aws:iam::1:user/me, therefore it cannot be used")

    with pytest.raises(WhisperLmiError, match=r"^no SageMaker execution role \(The current AWS identity is not a role"):
        execution_role(Aws(AwsOptions(region=REGION)), lambda: Sdk(FakeSession, role))
