"""Autoscaling of an endpoint variant with application-autoscaling (and a CloudWatch alarm for scale from 0)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from whisper_lmi.sagemaker.aws import ApiCall, Aws
from whisper_lmi.sagemaker.constants import (
    BACKLOG_METRIC,
    DEFAULT_SCALE_IN_COOLDOWN_S,
    DEFAULT_SCALE_OUT_COOLDOWN_S,
    DEFAULT_TARGET_VALUE,
    DEFAULT_VARIANT,
    INVOCATIONS_METRIC,
    SAGEMAKER_METRIC_NAMESPACE,
    SCALABLE_DIMENSION,
    SCALING_NAMESPACE,
)

logger = logging.getLogger(__name__)

BACKLOG_WITHOUT_CAPACITY_METRIC = "HasBacklogWithoutCapacity"
DRY_RUN_POLICY_ARN = "<PolicyARN returned by put_scaling_policy>"


@dataclass(frozen=True)
class ScalingOptions:
    min_capacity: int
    max_capacity: int
    target_value: float = DEFAULT_TARGET_VALUE  # invocations per instance per minute, or async backlog per instance
    scale_in_cooldown_s: int = DEFAULT_SCALE_IN_COOLDOWN_S
    scale_out_cooldown_s: int = DEFAULT_SCALE_OUT_COOLDOWN_S


def resource_id(endpoint: str, variant: str = DEFAULT_VARIANT) -> str:
    return f"endpoint/{endpoint}/variant/{variant}"


def _target(endpoint: str) -> dict:
    return {
        "ServiceNamespace": SCALING_NAMESPACE,
        "ResourceId": resource_id(endpoint),
        "ScalableDimension": SCALABLE_DIMENSION,
    }


def register_call(endpoint: str, options: ScalingOptions) -> ApiCall:
    params = {**_target(endpoint), "MinCapacity": options.min_capacity, "MaxCapacity": options.max_capacity}
    return ApiCall("application-autoscaling", "register_scalable_target", params)


def metric_specification(endpoint: str, is_async: bool) -> dict:
    """Invocations per instance for real-time; the S3 queue per instance for async (works down to zero)."""
    if not is_async:
        return {"PredefinedMetricSpecification": {"PredefinedMetricType": INVOCATIONS_METRIC}}
    return {
        "CustomizedMetricSpecification": {
            "MetricName": BACKLOG_METRIC,
            "Namespace": SAGEMAKER_METRIC_NAMESPACE,
            "Dimensions": [{"Name": "EndpointName", "Value": endpoint}],
            "Statistic": "Average",
        }
    }


def policy_name(endpoint: str) -> str:
    return f"{endpoint}-target-tracking"


def target_tracking_call(endpoint: str, options: ScalingOptions, is_async: bool) -> ApiCall:
    config = {
        "TargetValue": float(options.target_value),
        **metric_specification(endpoint, is_async),
        "ScaleInCooldown": options.scale_in_cooldown_s,
        "ScaleOutCooldown": options.scale_out_cooldown_s,
    }
    params = {
        **_target(endpoint),
        "PolicyName": policy_name(endpoint),
        "PolicyType": "TargetTrackingScaling",
        "TargetTrackingScalingPolicyConfiguration": config,
    }
    return ApiCall("application-autoscaling", "put_scaling_policy", params)


def scale_from_zero_call(endpoint: str, options: ScalingOptions) -> ApiCall:
    """Target tracking cannot leave 0 instances (no per-instance metric): a step policy adds the first one."""
    config = {
        "AdjustmentType": "ChangeInCapacity",
        "MetricAggregationType": "Average",
        "Cooldown": options.scale_out_cooldown_s,
        "StepAdjustments": [{"MetricIntervalLowerBound": 0.0, "ScalingAdjustment": 1}],
    }
    params = {
        **_target(endpoint),
        "PolicyName": f"{endpoint}-scale-from-zero",
        "PolicyType": "StepScaling",
        "StepScalingPolicyConfiguration": config,
    }
    return ApiCall("application-autoscaling", "put_scaling_policy", params)


def alarm_name(endpoint: str) -> str:
    return f"{endpoint}-{BACKLOG_WITHOUT_CAPACITY_METRIC}"


def scale_from_zero_alarm_call(endpoint: str, policy_arn: str) -> ApiCall:
    params = {
        "AlarmName": alarm_name(endpoint),
        "MetricName": BACKLOG_WITHOUT_CAPACITY_METRIC,
        "Namespace": SAGEMAKER_METRIC_NAMESPACE,
        "Statistic": "Average",
        "Dimensions": [{"Name": "EndpointName", "Value": endpoint}],
        "Period": 60,
        "EvaluationPeriods": 2,
        "DatapointsToAlarm": 2,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "missing",
        "AlarmActions": [policy_arn],
    }
    return ApiCall("cloudwatch", "put_metric_alarm", params)


def scaling_calls(aws: Aws, endpoint: str, options: ScalingOptions, is_async: bool) -> None:
    aws.call(register_call(endpoint, options))
    aws.call(target_tracking_call(endpoint, options, is_async))
    if is_async and options.min_capacity == 0:
        response = aws.call(scale_from_zero_call(endpoint, options))
        aws.call(scale_from_zero_alarm_call(endpoint, response.get("PolicyARN", DRY_RUN_POLICY_ARN)))
    logger.info("autoscaling %s: %d..%d instances", endpoint, options.min_capacity, options.max_capacity)


def deregister_call(endpoint: str) -> ApiCall:
    return ApiCall("application-autoscaling", "deregister_scalable_target", _target(endpoint))


def delete_alarm_call(endpoint: str) -> ApiCall:
    return ApiCall("cloudwatch", "delete_alarms", {"AlarmNames": [alarm_name(endpoint)]})


def current_scaling(aws: Aws, endpoint: str) -> ScalingOptions | None:
    """The autoscaling registered for the endpoint (capacity and target tracking), or None."""
    client = aws.client("application-autoscaling")
    targets = client.describe_scalable_targets(
        ServiceNamespace=SCALING_NAMESPACE, ResourceIds=[resource_id(endpoint)], ScalableDimension=SCALABLE_DIMENSION,
    )["ScalableTargets"]
    if not targets:
        return None
    policies = client.describe_scaling_policies(
        ServiceNamespace=SCALING_NAMESPACE, ResourceId=resource_id(endpoint), PolicyNames=[policy_name(endpoint)],
    )["ScalingPolicies"]
    tracking = policies[0]["TargetTrackingScalingPolicyConfiguration"] if policies else {}
    return ScalingOptions(
        min_capacity=targets[0]["MinCapacity"], max_capacity=targets[0]["MaxCapacity"],
        target_value=tracking.get("TargetValue", DEFAULT_TARGET_VALUE),
        scale_in_cooldown_s=tracking.get("ScaleInCooldown", DEFAULT_SCALE_IN_COOLDOWN_S),
        scale_out_cooldown_s=tracking.get("ScaleOutCooldown", DEFAULT_SCALE_OUT_COOLDOWN_S),
    )
