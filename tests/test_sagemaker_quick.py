"""``quick_deploy`` against a moto server: with what a notebook already knows (an assumed execution role, the
default bucket), one call packages the artifact, uploads it under ``whisper-lmi/<endpoint>/`` and deploys it."""

from __future__ import annotations

import pytest

from tests.moto_aws import ACCOUNT, INSTANCE_TYPE, REGION, client, isolated_aws
from whisper_lmi.artifact.layout import PROPERTIES_FILE
from whisper_lmi.sagemaker import Aws, AwsOptions, QuickOptions, WaitOptions, quick_deploy

ROLE_NAME = "notebook-exec"
TRUST = '{"Statement": [{"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}]}'


@pytest.fixture
def notebook_aws(moto_url, monkeypatch, tmp_path) -> str:
    """moto with the caller being an assumed SageMaker execution role, as in Studio or on a notebook instance."""
    url = isolated_aws(moto_url, monkeypatch, tmp_path)
    client("iam", url).create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=TRUST)
    credentials = client("sts", url).assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}", RoleSessionName="SageMaker")["Credentials"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials["SecretAccessKey"])
    monkeypatch.setenv("AWS_SESSION_TOKEN", credentials["SessionToken"])
    return url


@pytest.mark.parametrize("is_async", [False, True])
def test_quick_deploy_packages_uploads_and_deploys_with_the_notebooks_role_and_bucket(notebook_aws, is_async):
    aws = Aws(AwsOptions(endpoint_url=notebook_aws))
    deployment = quick_deploy(aws, QuickOptions(endpoint="talks", instance_type=INSTANCE_TYPE, is_async=is_async,
                                                options={"max_batch_windows": "32"}), WaitOptions(poll_s=0))
    assert deployment.status == "InService" and deployment.names.endpoint == "talks"
    assert deployment.environment["OPTION_MAX_BATCH_WINDOWS"] == "32"
    bucket = f"sagemaker-{REGION}-{ACCOUNT}"
    keys = [o["Key"] for o in client("s3", notebook_aws).list_objects_v2(Bucket=bucket)["Contents"]]
    assert f"whisper-lmi/talks/artifact/{PROPERTIES_FILE}" in keys
    assert "whisper-lmi/talks/artifact/serving/model.py" in keys
    sagemaker = client("sagemaker", notebook_aws)
    model = sagemaker.describe_model(ModelName=deployment.names.model)
    assert model["ExecutionRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}"
    source = model["PrimaryContainer"]["ModelDataSource"]["S3DataSource"]["S3Uri"]
    assert source == f"s3://{bucket}/whisper-lmi/talks/artifact/"
    config = sagemaker.describe_endpoint_config(EndpointConfigName=deployment.names.config)
    output = config.get("AsyncInferenceConfig", {}).get("OutputConfig", {}).get("S3OutputPath")
    assert output == (f"s3://{bucket}/whisper-lmi/talks/async-output/" if is_async else None)
