"""The endpoint lifecycle through the Python API against a moto server: unique names, an update without downtime that
retires what it replaced and keeps autoscaling, a failed deploy rolled back, refusals before anything is created,
status, and waiting with progress."""

from __future__ import annotations

import logging
import sys
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from tests.moto_aws import (
    IMAGE,
    INSTANCE_TYPE,
    ROLE,
    client,
    failing,
    fake_update_endpoint,
    hook_clients,
    isolated_aws,
    put_artifact,
    recorder,
)
from whisper_lmi.cli import main
from whisper_lmi.errors import WhisperLmiError
from whisper_lmi.sagemaker import (
    Aws,
    AwsOptions,
    EndpointSpec,
    S3Uri,
    ScalingOptions,
    WaitOptions,
    deploy,
    status,
    update,
)
from whisper_lmi.sagemaker.naming import Naming, generated_for
from whisper_lmi.sagemaker.waiting import WaitFailed, Watch, wait


@pytest.fixture
def aws_env(moto_url, monkeypatch, tmp_path) -> str:
    return isolated_aws(moto_url, monkeypatch, tmp_path)


def naming(*tokens: str) -> Naming:
    left = list(tokens)
    return Naming(clock=lambda: datetime(2026, 11, 29, 10, 0, 0, tzinfo=timezone.utc), token=lambda: left.pop(0))


def api(url: str) -> Aws:
    return Aws(AwsOptions(endpoint_url=url))


def spec_for(prefix: str, **changes) -> EndpointSpec:
    base = EndpointSpec(artifact=S3Uri.prefix(prefix), image=IMAGE, role_arn=ROLE, instance_type=INSTANCE_TYPE)
    return replace(base, **changes)


QUICK = WaitOptions(poll_s=0)


def sagemaker_names(url: str) -> tuple[list[str], list[str]]:
    sagemaker = client("sagemaker", url)
    return (sorted(m["ModelName"] for m in sagemaker.list_models()["Models"]),
            sorted(c["EndpointConfigName"] for c in sagemaker.list_endpoint_configs()["EndpointConfigs"]))


def test_deploy_names_model_and_config_uniquely_and_keeps_the_endpoint_name(aws_env):
    prefix = put_artifact(aws_env)
    deployment = deploy(api(aws_env), spec_for(prefix), QUICK, naming("ab12"))
    assert deployment.names.endpoint == "whisper" and deployment.status == "InService"
    assert deployment.names.model == deployment.names.config == "whisper-20261129-100000-ab12"
    assert generated_for("whisper", deployment.names.model) and not generated_for("whisper", "whisper-other")
    with pytest.raises(WhisperLmiError, match="exists: `whisper-lmi update`"):
        deploy(api(aws_env), spec_for(prefix), QUICK, naming("cd34"))
    assert sagemaker_names(aws_env) == (["whisper-20261129-100000-ab12"], ["whisper-20261129-100000-ab12"])


def test_update_switches_over_retires_the_old_pieces_and_keeps_autoscaling(aws_env, monkeypatch):
    calls: list[str] = []
    hook_clients(monkeypatch, {"before-call.sagemaker.UpdateEndpoint": fake_update_endpoint,
                               "before-call.*.*": recorder(calls)})
    prefix = put_artifact(aws_env)
    scaling = ScalingOptions(min_capacity=1, max_capacity=3, target_value=20.0)
    first = deploy(api(aws_env), spec_for(prefix, scaling=scaling), QUICK, naming("aaaa"))
    calls.clear()

    second = update(api(aws_env), spec_for(prefix, options={"max_batch_windows": "32"}), QUICK, naming("bbbb"))

    new = second.names.model
    assert new == "whisper-20261129-100000-bbbb" and second.status == "InService"
    described = client("sagemaker", aws_env).describe_endpoint(EndpointName="whisper")
    assert (described["EndpointConfigName"], described["EndpointStatus"]) == (new, "InService")
    assert sagemaker_names(aws_env) == ([new], [new])  # the old model and config are retired
    environment = client("sagemaker", aws_env).describe_model(ModelName=new)["PrimaryContainer"]["Environment"]
    assert environment == {"OPTION_MAX_BATCH_WINDOWS": "32", "OPTION_TENSOR_PARALLEL_DEGREE": "1"}
    order = [name for name in calls if name.startswith(("Create", "Update", "Delete", "Deregister", "Register"))]
    assert order == ["CreateModel", "CreateEndpointConfig", "DeregisterScalableTarget", "DeleteAlarms",
                     "UpdateEndpoint", "DeleteEndpointConfig", "DeleteModel", "RegisterScalableTarget"]
    targets = client("application-autoscaling", aws_env).describe_scalable_targets(
        ServiceNamespace="sagemaker")["ScalableTargets"]
    assert [(t["MinCapacity"], t["MaxCapacity"]) for t in targets] == [(1, 3)]
    policies = client("application-autoscaling", aws_env).describe_scaling_policies(
        ServiceNamespace="sagemaker")["ScalingPolicies"]
    assert [p["TargetTrackingScalingPolicyConfiguration"]["TargetValue"] for p in policies] == [20.0]
    assert first.names.model not in sagemaker_names(aws_env)[0]


def test_an_update_that_fails_rolls_back_what_it_created(aws_env, monkeypatch):
    prefix = put_artifact(aws_env)
    first = deploy(api(aws_env), spec_for(prefix), QUICK, naming("aaaa"))
    hook_clients(monkeypatch, {"before-call.sagemaker.UpdateEndpoint": failing("ValidationException", "injected")})
    with pytest.raises(Exception, match="injected"):
        update(api(aws_env), spec_for(prefix), QUICK, naming("bbbb"))
    assert sagemaker_names(aws_env) == ([first.names.model], [first.names.config])


def test_a_failed_deploy_is_rolled_back_and_said_in_one_line(aws_env, monkeypatch, capsys, caplog):
    """CreateEndpointConfig fails after CreateModel: the model is deleted again, nothing is left."""
    hook_clients(monkeypatch, {"before-call.sagemaker.CreateEndpointConfig":
                               failing("ResourceLimitExceeded", "injected: no ml.g4dn.xlarge quota")})
    caplog.set_level(logging.INFO, logger="whisper_lmi")
    prefix = put_artifact(aws_env)
    monkeypatch.setattr(sys.modules["whisper_lmi.sagemaker.deploy"], "Naming", lambda: naming("dead"))
    code = main(["deploy", prefix, "--role-arn", ROLE, "--instance-type", INSTANCE_TYPE, "--poll-seconds", "0",
                 "--endpoint-url", aws_env])
    assert code == 1
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == ("whisper-lmi deploy: error: CreateEndpointConfig failed: ResourceLimitExceeded: "
                                    "injected: no ml.g4dn.xlarge quota")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert [r.getMessage() for r in caplog.records if r.name == "whisper_lmi.sagemaker.rollback"] == [
        "rolled back: delete_model whisper-20261129-100000-dead"]
    assert sagemaker_names(aws_env) == ([], [])
    assert client("sagemaker", aws_env).list_endpoints()["Endpoints"] == []


def test_a_prefix_without_serving_properties_is_refused_before_anything_is_created(aws_env, monkeypatch):
    calls: list[str] = []
    hook_clients(monkeypatch, {"before-call.*.*": recorder(calls)})
    put_artifact(aws_env)
    with pytest.raises(WhisperLmiError, match="holds no serving.properties: not an artifact"):
        deploy(api(aws_env), spec_for("s3://whisper-artifacts/empty/"), QUICK, naming("aaaa"))
    assert "CreateModel" not in calls


def test_an_option_that_serving_properties_would_shadow_is_an_error(aws_env):
    old = b"engine=Python\noption.entryPoint=serving/model.py\noption.rolling_batch=disable\noption.max_batch_windows=16\n"
    prefix = put_artifact(aws_env, old, prefix="old/")
    with pytest.raises(WhisperLmiError, match=r"OPTION_MAX_BATCH_WINDOWS would lose to option.max_batch_windows=16 "
                                              r"in s3://whisper-artifacts/old/serving.properties"):
        deploy(api(aws_env), spec_for(prefix, environment={"OPTION_MAX_BATCH_WINDOWS": "64"}), QUICK, naming("a1b2"))
    with pytest.raises(WhisperLmiError, match="would lose to"):
        deploy(api(aws_env), spec_for(prefix, options={"max_batch_windows": "64"}), QUICK, naming("a1b2"))
    assert sagemaker_names(aws_env) == ([], [])


def test_weights_under_the_prefix_become_the_model_id(aws_env):
    prefix = put_artifact(aws_env)
    client("s3", aws_env).put_object(Bucket="whisper-artifacts", Key="whisper/v1/weights/config.json", Body=b"{}")
    deployment = deploy(api(aws_env), spec_for(prefix), QUICK, naming("c0de"))
    assert deployment.environment["OPTION_MODEL_ID"] == "/opt/ml/model/weights"


def test_status_describes_the_endpoint(aws_env, capsys):
    prefix = put_artifact(aws_env)
    scaling = ScalingOptions(min_capacity=1, max_capacity=2)
    deployment = deploy(api(aws_env), spec_for(prefix, scaling=scaling, instance_count=2), QUICK, naming("beef"))
    record = status(api(aws_env), "whisper")
    assert (record.status, record.config, record.models) == ("InService", deployment.names.config,
                                                             (deployment.names.model,))
    assert (record.instance_type, record.instance_count, record.is_async) == (INSTANCE_TYPE, 2, False)
    assert (record.scaling.min_capacity, record.scaling.max_capacity) == (1, 2)
    assert main(["status", "--endpoint-url", aws_env]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "endpoint whisper: InService" and out[3] == f"  instances        2 x {INSTANCE_TYPE}"
    assert main(["status", "--name", "nope", "--endpoint-url", aws_env]) == 1
    assert capsys.readouterr().err == "whisper-lmi status: error: no endpoint nope in eu-west-1\n"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_waiting_reports_each_change_and_a_line_a_minute_with_the_time_elapsed():
    clock, lines = FakeClock(), []
    statuses = iter(["Creating"] * 9 + ["InService"])
    watch = Watch("endpoint whisper", "EndpointStatus", lambda: {"EndpointStatus": next(statuses)},
                  frozenset({"InService"}), frozenset({"Failed"}), "logs")
    options = WaitOptions(poll_s=15, timeout_s=3600, progress_s=60, report=lines.append, sleep=clock.sleep,
                          clock=clock)
    assert wait(watch, options) == {"EndpointStatus": "InService"}
    assert lines == ["endpoint whisper: Creating (0 s)", "endpoint whisper: Creating (60 s)",
                     "endpoint whisper: Creating (120 s)", "endpoint whisper: InService (135 s)"]


def test_waiting_ends_with_the_reason_of_a_failure_or_a_timeout():
    clock = FakeClock()
    failed = Watch("endpoint w", "EndpointStatus", lambda: {"EndpointStatus": "Failed", "FailureReason": "OOM"},
                   frozenset({"InService"}), frozenset({"Failed"}), "see logs")
    options = WaitOptions(poll_s=15, timeout_s=30, report=lambda _: None, sleep=clock.sleep, clock=clock)
    with pytest.raises(WaitFailed, match=r"endpoint w is Failed: OOM \(see logs\)"):
        wait(failed, options)
    stuck = replace(failed, describe=lambda: {"EndpointStatus": "Creating"})
    with pytest.raises(WhisperLmiError, match="still Creating after 30 s"):
        wait(stuck, options)
