"""``transform``: a Batch Transform job, every audio file under an S3 prefix -> ``<file>.out`` under another."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from whisper_lmi.sagemaker.aws import ApiCall, Aws
from whisper_lmi.sagemaker.constants import (
    ANSWER_MARGIN_S,
    DEFAULT_AUDIO_CONTENT_TYPE,
    DEFAULT_INSTANCE_COUNT,
    DEFAULT_INSTANCE_TYPE,
    TAG_KEY,
    TAG_VALUE,
    TRANSFORM_INVOCATION_TIMEOUT_S,
    TRANSFORM_MAX_PAYLOAD_MB,
)
from whisper_lmi.sagemaker.s3uri import S3Uri
from whisper_lmi.sagemaker.waiting import WaitOptions, wait_for_transform

logger = logging.getLogger(__name__)

TRANSFORM_TIMEOUT_VARIABLE = "OPTION_REQUEST_TIMEOUT_SECONDS"


@dataclass(frozen=True)
class TransformOptions:
    job_name: str
    model_name: str
    input_prefix: S3Uri
    output_prefix: S3Uri
    instance_type: str = DEFAULT_INSTANCE_TYPE
    instance_count: int = DEFAULT_INSTANCE_COUNT
    content_type: str = DEFAULT_AUDIO_CONTENT_TYPE
    max_concurrent: int | None = None
    max_payload_mb: int = TRANSFORM_MAX_PAYLOAD_MB
    wait: bool = False


def transform_call(options: TransformOptions) -> ApiCall:
    """One record per file (SplitType None, SingleRecord), results one file per input (AssembleWith None)."""
    params = {
        "TransformJobName": options.job_name,
        "ModelName": options.model_name,
        "BatchStrategy": "SingleRecord",
        "MaxPayloadInMB": options.max_payload_mb,
        "ModelClientConfig": {"InvocationsTimeoutInSeconds": TRANSFORM_INVOCATION_TIMEOUT_S, "InvocationsMaxRetries": 1},
        # the handler's time budget to match the job's (a real-time model's is 55 s)
        "Environment": {TRANSFORM_TIMEOUT_VARIABLE: str(TRANSFORM_INVOCATION_TIMEOUT_S - ANSWER_MARGIN_S)},
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": str(options.input_prefix)}},
            "ContentType": options.content_type,
            "CompressionType": "None",
            "SplitType": "None",
        },
        "TransformOutput": {"S3OutputPath": str(options.output_prefix), "AssembleWith": "None"},
        "TransformResources": {"InstanceType": options.instance_type, "InstanceCount": options.instance_count},
        "Tags": [{"Key": TAG_KEY, "Value": TAG_VALUE}],
    }
    if options.max_concurrent is not None:
        params["MaxConcurrentTransforms"] = options.max_concurrent
    return ApiCall("sagemaker", "create_transform_job", params)


def transform(aws: Aws, options: TransformOptions, wait: WaitOptions) -> None:
    aws.call(transform_call(options))
    logger.info("transform job %s: %s -> %s", options.job_name, options.input_prefix, options.output_prefix)
    if options.wait and not aws.dry_run:
        wait_for_transform(aws, options.job_name, wait)
