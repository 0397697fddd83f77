"""The ``whisper-lmi`` command against a real moto server on 127.0.0.1: the artifact, uploaded bytes, exact requests,
idempotent delete, one line per error."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

from scripts.paths import PROJECT_ROOT
from tests.moto_aws import (
    BUCKET,
    IMAGE,
    PREFIX,
    REGION,
    ROLE,
    client,
    isolated_aws,
    put_artifact,
)
from whisper_lmi.artifact.assemble import PackageOptions, package
from whisper_lmi.artifact.layout import SERVING_PROPERTIES
from whisper_lmi.artifact.validate import validate
from whisper_lmi.cli import main
from whisper_lmi.errors import WhisperLmiError
from whisper_lmi.sagemaker.invoke import TranscriptionParams, multipart_body
from whisper_lmi.sagemaker.local import LocalOptions, docker_command, engine_problem
from whisper_lmi.sagemaker.naming import generated_for

TAGS = [{"Key": "project", "Value": "whisper-lmi"}]


@pytest.fixture
def aws_env(moto_url, monkeypatch, tmp_path) -> str:
    return isolated_aws(moto_url, monkeypatch, tmp_path)


def run(url: str, *argv: str) -> int:
    if argv[0] in {"deploy", "update", "transform"} and "--instance-type" not in argv:
        argv = (*argv, "--instance-type", "ml.g4dn.xlarge")  # moto's instance-type enum predates g5/g6
    if argv[0] in {"deploy", "update"} and "--poll-seconds" not in argv:
        argv = (*argv, "--poll-seconds", "0")
    return main([*argv, "--endpoint-url", url])


@pytest.fixture
def artifact(tmp_path) -> Path:
    out = tmp_path / "artifact"
    assert main(["package", "--output", str(out)]) == 0
    return out


@pytest.fixture
def uploaded(aws_env) -> str:
    return put_artifact(aws_env)


@pytest.fixture
def captured(aws_env, monkeypatch):
    """Every JSON request the CLI sends (SageMaker, autoscaling, ...), via a botocore before-call hook."""
    calls: list[tuple[str, dict]] = []
    original = boto3.Session.client

    def hooked(self, *args, **kwargs):
        made = original(self, *args, **kwargs)
        made.meta.events.register("before-call.*.*", lambda model, params, **_: calls.append(
            (f"{made.meta.service_model.service_name}.{model.name}", json.loads(params["body"] or b"{}")
             if params.get("headers", {}).get("Content-Type", "").startswith("application/x-amz-json") else None)))
        return made

    monkeypatch.setattr(boto3.Session, "client", hooked)
    return calls


def requests_named(calls, name):
    return [body for op, body in calls if op == name]


# --- package -------------------------------------------------------------------------------------------------


def test_package_holds_exactly_the_artifact(artifact):
    files = sorted(p.relative_to(artifact).as_posix() for p in artifact.rglob("*") if p.is_file())
    assert "serving.properties" in files and "requirements.txt" in files and "serving/model.py" in files
    assert all(f.startswith("serving/") or f in {"serving.properties", "requirements.txt"} for f in files)
    assert not [f for f in files if "__pycache__" in f or f.endswith(".pyc")]
    assert (artifact / "serving.properties").read_bytes() == SERVING_PROPERTIES.read_bytes()


def test_package_leaves_out_the_djl_standin(artifact):
    assert (PROJECT_ROOT / "serving" / "djl_standin" / "__init__.py").is_file()  # there is one to leave out
    assert (artifact / "serving" / "djl_compat.py").is_file()
    assert [p for p in artifact.rglob("*") if "djl_standin" in p.parts] == []


def _import_djl_compat(root: Path, site: Path, cwd: Path) -> subprocess.CompletedProcess:
    """``import serving.djl_compat`` from ``root`` in a bare interpreter (no site-packages, no editable install) whose
    only ``djl_python`` is the one in ``site``."""
    code = (f"import sys; sys.path[:0] = [{str(root)!r}, {str(site)!r}]; "
            "import serving.djl_compat as compat; print(compat.Input.__module__)")
    return subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, cwd=cwd,
                          timeout=60)


def test_in_the_artifact_a_broken_djl_python_is_not_hidden_by_the_standin(artifact, tmp_path):
    site = tmp_path / "site"
    (site / "djl_python").mkdir(parents=True)
    (site / "djl_python" / "__init__.py").write_text('raise ImportError("djl_python is broken")\n')
    in_source = _import_djl_compat(PROJECT_ROOT, site, tmp_path)
    assert (in_source.returncode, in_source.stdout.strip()) == (0, "serving.djl_standin.inputs"), in_source.stderr
    shipped = _import_djl_compat(artifact, site, tmp_path)
    assert shipped.returncode != 0
    assert "djl_python is broken" in shipped.stderr


def test_an_artifact_holding_the_djl_standin_is_refused(artifact):
    (artifact / "serving" / "djl_standin").mkdir()
    (artifact / "serving" / "djl_standin" / "__init__.py").write_text("")
    with pytest.raises(WhisperLmiError, match="djl_standin"):
        validate(artifact)


def test_package_rejects_torch_in_requirements(tmp_path):
    source = tmp_path / "src"
    (source / "serving").mkdir(parents=True)
    (source / "serving" / "model.py").write_text("def handle(inputs): pass\n")
    (source / "serving.properties").write_text(
        "engine=Python\noption.entryPoint=serving/model.py\noption.rolling_batch=disable\n")
    (source / "requirements.txt").write_text("av>=12\nonnxruntime\nTorch==2.4  # no\n")
    with pytest.raises(WhisperLmiError, match="torch"):
        package(PackageOptions(output_dir=tmp_path / "out", source_dir=source))


def test_package_into_a_folder_that_is_not_an_artifact_is_one_line(artifact, capsys):
    assert main(["package", "--output", str(artifact / "serving")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not an artifact directory" in err and "Traceback" not in err


# --- upload --------------------------------------------------------------------------------------------------


def test_upload_copies_bytes_uncompressed_and_skips_unchanged(aws_env, artifact, tmp_path, capsys):
    s3 = client("s3", aws_env)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    weights = tmp_path / "weights"
    weights.mkdir()
    big = os.urandom(9 * 1024 * 1024)  # over the multipart threshold
    (weights / "model.safetensors").write_bytes(big)
    (weights / "config.json").write_text("{}")

    assert run(aws_env, "upload", f"s3://{BUCKET}/whisper/v1", "--artifact-dir", str(artifact),
               "--weights-dir", str(weights)) == 0
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
    expected = {f"whisper/v1/{p.relative_to(artifact).as_posix()}" for p in artifact.rglob("*") if p.is_file()}
    assert keys == expected | {"whisper/v1/weights/model.safetensors", "whisper/v1/weights/config.json"}
    body = s3.get_object(Bucket=BUCKET, Key="whisper/v1/weights/model.safetensors")["Body"].read()
    assert hashlib.sha256(body).digest() == hashlib.sha256(big).digest()
    properties = s3.get_object(Bucket=BUCKET, Key="whisper/v1/serving.properties")["Body"].read()
    assert properties == SERVING_PROPERTIES.read_bytes()  # model_id is a deploy-time option now
    assert s3.get_object(Bucket=BUCKET, Key="whisper/v1/serving/model.py")["Body"].read() == \
        (artifact / "serving" / "model.py").read_bytes()
    assert f"{len(keys)} uploaded, 0 unchanged" in capsys.readouterr().out

    (artifact / "serving" / "model.py").write_text("# changed\n")
    assert run(aws_env, "upload", f"s3://{BUCKET}/whisper/v1", "--artifact-dir", str(artifact),
               "--weights-dir", str(weights)) == 0
    assert f"1 uploaded, {len(keys) - 1} unchanged" in capsys.readouterr().out
    assert s3.get_object(Bucket=BUCKET, Key="whisper/v1/serving/model.py")["Body"].read() == b"# changed\n"


def test_upload_to_missing_bucket_is_a_message(aws_env, artifact, capsys):
    assert run(aws_env, "upload", "s3://no-such-bucket/p/", "--artifact-dir", str(artifact)) == 1
    err = capsys.readouterr().err
    assert "bucket no-such-bucket does not exist" in err and "Traceback" not in err


def test_upload_without_a_prefix_uses_the_default_bucket(aws_env, artifact, capsys):
    assert run(aws_env, "upload", "--artifact-dir", str(artifact)) == 0
    bucket = "sagemaker-eu-west-1-123456789012"
    assert f"s3://{bucket}/whisper-lmi/artifact/:" in capsys.readouterr().out
    keys = {o["Key"] for o in client("s3", aws_env).list_objects_v2(Bucket=bucket)["Contents"]}
    assert "whisper-lmi/artifact/serving.properties" in keys


# --- deploy --------------------------------------------------------------------------------------------------


def test_deploy_sends_exact_requests(uploaded, captured, capsys):
    assert run(_url(), "deploy", uploaded, "--role-arn", ROLE, "--instance-type", "ml.g4dn.12xlarge",
               "--option", "max_batch_windows=32", "--startup-timeout", "1200", "--download-timeout", "900",
               "--volume-gb", "100") == 0
    (model,) = requests_named(captured, "sagemaker.CreateModel")
    name = model["ModelName"]
    assert generated_for("whisper", name)
    assert model == {
        "ModelName": name,
        "PrimaryContainer": {
            "Image": IMAGE,
            "ModelDataSource": {"S3DataSource": {"S3Uri": uploaded, "S3DataType": "S3Prefix",
                                                 "CompressionType": "None"}},
            "Environment": {"OPTION_MAX_BATCH_WINDOWS": "32", "OPTION_TENSOR_PARALLEL_DEGREE": "1"},
        },
        "ExecutionRoleArn": ROLE,
        "EnableNetworkIsolation": False,
        "Tags": TAGS,
    }
    assert requests_named(captured, "sagemaker.CreateEndpointConfig") == [{
        "EndpointConfigName": name,
        "ProductionVariants": [{
            "VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.g4dn.12xlarge",
            "InitialInstanceCount": 1, "InitialVariantWeight": 1.0,
            "ContainerStartupHealthCheckTimeoutInSeconds": 1200, "ModelDataDownloadTimeoutInSeconds": 900,
            "VolumeSizeInGB": 100,
        }],
        "Tags": TAGS,
    }]
    assert requests_named(captured, "sagemaker.CreateEndpoint") == [
        {"EndpointName": "whisper", "EndpointConfigName": name, "Tags": TAGS}]
    assert "sagemaker.DescribeEndpoint" in [op for op, _ in captured]
    assert f"endpoint whisper: InService (serving model {name}, endpoint config {name})" in capsys.readouterr().out
    assert client("sagemaker", _url()).describe_model(ModelName=name)["PrimaryContainer"]["Image"] == IMAGE


def _url() -> str:
    return _URL[0]


_URL: list[str] = []


@pytest.fixture(autouse=True)
def _remember_url(moto_url):
    _URL[:] = [moto_url]


def test_deploy_async_with_scale_to_zero(uploaded, captured):
    assert run(_url(), "deploy", uploaded, "--role-arn", ROLE, "--name", "whisper-async", "--async",
               "--success-topic", "arn:aws:sns:eu-west-1:123456789012:ok", "--max-concurrent-invocations", "4",
               "--min-instances", "0", "--max-instances", "3", "--target-invocations", "5") == 0
    config = requests_named(captured, "sagemaker.CreateEndpointConfig")[0]
    assert config["AsyncInferenceConfig"] == {
        "OutputConfig": {"S3OutputPath": f"{uploaded}async-output/",
                         "S3FailurePath": f"{uploaded}async-failure/",
                         "NotificationConfig": {"SuccessTopic": "arn:aws:sns:eu-west-1:123456789012:ok"}},
        "ClientConfig": {"MaxConcurrentInvocationsPerInstance": 4},
    }
    environment = requests_named(captured, "sagemaker.CreateModel")[0]["PrimaryContainer"]["Environment"]
    assert environment == {"OPTION_MAX_AUDIO_BYTES": str(1024 ** 3), "OPTION_TENSOR_PARALLEL_DEGREE": "1",
                           "OPTION_REQUEST_TIMEOUT_SECONDS": "3595",  # async inference's hour, less 5 s to answer
                           "SERVING_MAX_REQUEST_SIZE": str(1024 ** 3)}
    target = {"ServiceNamespace": "sagemaker", "ResourceId": "endpoint/whisper-async/variant/AllTraffic",
              "ScalableDimension": "sagemaker:variant:DesiredInstanceCount"}
    assert requests_named(captured, "application-autoscaling.RegisterScalableTarget") == [
        {**target, "MinCapacity": 0, "MaxCapacity": 3}]
    tracking, step = requests_named(captured, "application-autoscaling.PutScalingPolicy")
    assert tracking["TargetTrackingScalingPolicyConfiguration"] == {
        "TargetValue": 5.0, "ScaleInCooldown": 300, "ScaleOutCooldown": 60,
        "CustomizedMetricSpecification": {"MetricName": "ApproximateBacklogSizePerInstance",
                                          "Namespace": "AWS/SageMaker", "Statistic": "Average",
                                          "Dimensions": [{"Name": "EndpointName", "Value": "whisper-async"}]}}
    assert step["PolicyType"] == "StepScaling"
    scaling = client("application-autoscaling", _url())
    targets = scaling.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]
    assert [(t["ResourceId"], t["MinCapacity"], t["MaxCapacity"]) for t in targets] == [
        ("endpoint/whisper-async/variant/AllTraffic", 0, 3)]
    alarms = client("cloudwatch", _url()).describe_alarms(AlarmNames=["whisper-async-HasBacklogWithoutCapacity"])
    policies = scaling.describe_scaling_policies(ServiceNamespace="sagemaker")["ScalingPolicies"]
    step_arn = [p["PolicyARN"] for p in policies if p["PolicyName"] == "whisper-async-scale-from-zero"]
    assert alarms["MetricAlarms"][0]["AlarmActions"] == step_arn and len(step_arn) == 1


def test_realtime_autoscaling_uses_invocations_per_instance_once_in_service(uploaded, captured):
    assert run(_url(), "deploy", uploaded, "--role-arn", ROLE, "--min-instances", "1",
               "--max-instances", "4", "--target-invocations", "20") == 0
    (policy,) = requests_named(captured, "application-autoscaling.PutScalingPolicy")
    assert policy["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"] == {
        "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"}
    operations = [op for op, _ in captured]
    in_service = operations.index("sagemaker.DescribeEndpoint", operations.index("sagemaker.CreateEndpoint"))
    assert in_service < operations.index("application-autoscaling.RegisterScalableTarget")


def test_autoscaling_without_waiting_is_refused(uploaded, captured, capsys):
    assert run(_url(), "deploy", uploaded, "--role-arn", ROLE, "--min-instances", "1", "--max-instances", "2",
               "--no-wait") == 1
    assert "autoscaling is registered once the endpoint is InService" in capsys.readouterr().err
    assert requests_named(captured, "sagemaker.CreateModel") == []


def test_deploy_without_role_or_with_zero_realtime_is_a_message(uploaded, capsys):
    assert run(_url(), "deploy", uploaded) == 1  # moto's caller is a user, not a role
    assert "no SageMaker execution role" in capsys.readouterr().err
    assert run(_url(), "deploy", uploaded, "--role-arn", ROLE, "--min-instances", "0", "--max-instances", "1") == 1
    assert "needs --async" in capsys.readouterr().err


def test_dry_run_prints_and_sends_nothing(captured, capsys):
    assert run(_url(), "deploy", PREFIX, "--role-arn", ROLE, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "[dry-run] s3.get_object" in out and "[dry-run] sagemaker.create_model" in out
    assert '"CompressionType": "None"' in out and "endpoint whisper: dry-run" in out
    assert captured == []


# --- invoke --------------------------------------------------------------------------------------------------


def test_invoke_sends_custom_attributes(aws_env, tmp_path, monkeypatch):
    audio = tmp_path / "talk.mp3"
    audio.write_bytes(b"ID3fake")
    seen = []
    original = boto3.Session.client

    def spy(self, *args, **kwargs):
        made = original(self, *args, **kwargs)
        made.meta.events.register("before-call.sagemaker-runtime.InvokeEndpoint",
                                  lambda params, **_: seen.append(params["headers"]))
        return made

    monkeypatch.setattr(boto3.Session, "client", spy)
    code = run(aws_env, "invoke", str(audio), "--language", "de", "--task", "translate", "--response-format", "text")
    assert seen and seen[0]["Content-Type"] == "audio/mpeg"
    assert seen[0]["X-Amzn-SageMaker-Custom-Attributes"] == "language=de; task=translate; response_format=text"
    assert code == 0  # moto answers with its canned body


def test_custom_attributes_limits():
    assert TranscriptionParams(language="de", temperature=0.2).custom_attributes() == "language=de; temperature=0.2"
    with pytest.raises(WhisperLmiError, match="ASCII"):
        TranscriptionParams(prompt="Müller").custom_attributes()
    with pytest.raises(WhisperLmiError, match="1024"):
        TranscriptionParams(prompt="x" * 1020).custom_attributes()


def test_multipart_body_shape():
    body, content_type = multipart_body("dir/a.wav", b"RIFF", "audio/wav", boundary="B")
    assert content_type == "multipart/form-data; boundary=B"
    assert body == (b'--B\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
                    b"Content-Type: audio/wav\r\n\r\nRIFF\r\n--B--\r\n")


# --- transform, delete ---------------------------------------------------------------------------------------


def test_transform_job_shape(uploaded, captured):
    assert run(_url(), "deploy", uploaded, "--role-arn", ROLE) == 0
    (model,) = [body["ModelName"] for body in requests_named(captured, "sagemaker.CreateModel")]
    assert run(_url(), "transform", f"s3://{BUCKET}/in", f"s3://{BUCKET}/out/", "--job-name", "bulk-1",
               "--instance-count", "2") == 0
    (job,) = requests_named(captured, "sagemaker.CreateTransformJob")
    assert job["TransformInput"] == {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/in/"}},
        "ContentType": "application/octet-stream", "CompressionType": "None", "SplitType": "None"}
    assert job["TransformOutput"] == {"S3OutputPath": f"s3://{BUCKET}/out/", "AssembleWith": "None"}
    assert job["TransformResources"] == {"InstanceType": "ml.g4dn.xlarge", "InstanceCount": 2}
    assert (job["ModelName"], job["BatchStrategy"], job["MaxPayloadInMB"]) == (model, "SingleRecord", 64)
    # each file may take the job's hour (less 5 s to answer), not the real-time model's 55 s budget
    assert job["Environment"] == {"OPTION_REQUEST_TIMEOUT_SECONDS": "3595"}
    assert job["ModelClientConfig"]["InvocationsTimeoutInSeconds"] == 3600


def test_delete_is_idempotent(uploaded, capsys):
    assert run(_url(), "deploy", uploaded, "--role-arn", ROLE, "--min-instances", "1", "--max-instances", "2") == 0
    name = client("sagemaker", _url()).list_models()["Models"][0]["ModelName"]
    assert run(_url(), "delete") == 0
    out = capsys.readouterr().out
    assert f"deleted: delete_endpoint:whisper, delete_endpoint_config:{name}, delete_model:{name}" in out
    sagemaker = client("sagemaker", _url())
    assert sagemaker.list_endpoints()["Endpoints"] == [] and sagemaker.list_models()["Models"] == []
    assert sagemaker.list_endpoint_configs()["EndpointConfigs"] == []
    assert client("application-autoscaling", _url()).describe_scalable_targets(
        ServiceNamespace="sagemaker")["ScalableTargets"] == []
    assert run(_url(), "delete") == 0
    assert "nothing left to delete for whisper" in capsys.readouterr().out


# --- local ---------------------------------------------------------------------------------------------------


def test_local_docker_command(tmp_path):
    options = LocalOptions(artifact_dir=tmp_path, image=IMAGE, environment={"OPTION_TENSOR_PARALLEL_DEGREE": "2"})
    assert docker_command(options) == [
        "docker", "run", "--rm", "--gpus", "all", "--shm-size", "12g", "-p", "8080:8080",
        "-v", f"{tmp_path.resolve()}:/opt/ml/model:ro", "-e", "OPTION_TENSOR_PARALLEL_DEGREE=2", IMAGE, "serve"]


def test_local_without_engine_prints_and_explains(artifact, tmp_path, capsys, monkeypatch):
    fake = tmp_path / "docker"
    fake.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    assert engine_problem() == "no Docker engine reachable (Cannot connect to the Docker daemon)"
    assert main(["local", "--artifact-dir", str(artifact), "--region", REGION, "--option", "vad=off"]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("docker run --rm --gpus all") and IMAGE in captured.out
    assert "-e OPTION_TENSOR_PARALLEL_DEGREE=1 -e OPTION_VAD=off" in captured.out
    assert "the command above was not run" in captured.err


def test_a_file_system_error_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["package", "--output", str(blocker / "artifact")]) == 1
    err = capsys.readouterr().err
    assert err == f"whisper-lmi package: error: Not a directory: {blocker / 'artifact'}\n"
