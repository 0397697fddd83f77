"""One function per sub-command: arguments -> one API call -> a few lines on stdout."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from whisper_lmi.artifact.assemble import PackageOptions, package
from whisper_lmi.errors import WhisperLmiError
from whisper_lmi.sagemaker import constants as c
from whisper_lmi.sagemaker.aws import Aws, AwsOptions
from whisper_lmi.sagemaker.delete import delete
from whisper_lmi.sagemaker.deploy import Deployment, deploy
from whisper_lmi.sagemaker.endpoint import Endpoint
from whisper_lmi.sagemaker.endpoints import config_models, describe_endpoint
from whisper_lmi.sagemaker.identity import default_bucket, execution_role
from whisper_lmi.sagemaker.images import lmi_image_uri
from whisper_lmi.sagemaker.local import LocalOptions, local_environment, run_local
from whisper_lmi.sagemaker.logs import logs, parse_duration
from whisper_lmi.sagemaker.options import parse_pairs
from whisper_lmi.sagemaker.params import TranscriptionParams
from whisper_lmi.sagemaker.retries import DEFAULT_RETRY
from whisper_lmi.sagemaker.s3uri import S3Uri
from whisper_lmi.sagemaker.scaling import ScalingOptions
from whisper_lmi.sagemaker.spec import AsyncOptions, EndpointSpec
from whisper_lmi.sagemaker.status import EndpointStatus, status
from whisper_lmi.sagemaker.streaming import StreamEvent, TranscriptDelta, TranscriptDone
from whisper_lmi.sagemaker.transcript import Result
from whisper_lmi.sagemaker.transform import TransformOptions, transform
from whisper_lmi.sagemaker.update import update
from whisper_lmi.sagemaker.upload import UploadOptions, upload
from whisper_lmi.sagemaker.waiting import WaitOptions

DRY_RUN_ROLE = "<the execution role, found at run time>"


def _aws(args: argparse.Namespace) -> Aws:
    return Aws(AwsOptions(args.region, args.profile, args.endpoint_url, args.dry_run))


def _wait(args: argparse.Namespace) -> WaitOptions:
    return WaitOptions(poll_s=args.poll_seconds, timeout_s=args.wait_timeout, progress_s=args.progress_seconds)


def _image(args: argparse.Namespace, region: str) -> str:
    return args.image or lmi_image_uri(region, args.lmi_version, args.image_tag)


def _prefix(args: argparse.Namespace, aws: Aws) -> S3Uri:
    if args.s3_uri:
        return S3Uri.prefix(args.s3_uri)
    if aws.dry_run:
        raise WhisperLmiError("--dry-run needs the S3 prefix: finding the default bucket sends requests")
    return S3Uri(default_bucket(aws), c.DEFAULT_ARTIFACT_SUBPREFIX)


def _role(args: argparse.Namespace, aws: Aws) -> str:
    if args.role_arn:
        return args.role_arn
    return DRY_RUN_ROLE if aws.dry_run else execution_role(aws)


def _async_options(args: argparse.Namespace, artifact: S3Uri) -> AsyncOptions | None:
    if not args.is_async:
        return None
    output = S3Uri.prefix(args.async_output) if args.async_output else artifact.join(c.ASYNC_OUTPUT_SUBPREFIX)
    failure = S3Uri.prefix(args.async_failure) if args.async_failure else artifact.join(c.ASYNC_FAILURE_SUBPREFIX)
    return AsyncOptions(output, failure, args.success_topic, args.error_topic, args.max_concurrent_invocations)


def _scaling_options(args: argparse.Namespace) -> ScalingOptions | None:
    if args.min_instances is None and args.max_instances is None:
        return None
    if args.min_instances is None or args.max_instances is None:
        raise WhisperLmiError("autoscaling needs both --min-instances and --max-instances")
    return ScalingOptions(args.min_instances, args.max_instances, args.target_invocations)


def _spec(args: argparse.Namespace, aws: Aws) -> EndpointSpec:
    artifact = _prefix(args, aws)
    return EndpointSpec(
        artifact=artifact, image=_image(args, aws.region), role_arn=_role(args, aws), endpoint=args.name,
        instance_type=args.instance_type, instance_count=args.instance_count, volume_gb=args.volume_gb,
        startup_timeout_s=args.startup_timeout, download_timeout_s=args.download_timeout,
        options=parse_pairs(args.option, "--option"), environment=parse_pairs(args.env, "--env"),
        network_isolation=args.network_isolation, async_config=_async_options(args, artifact),
        scaling=_scaling_options(args),
    )


def _report(deployment: Deployment, verb: str) -> None:
    names = deployment.names
    print(f"endpoint {names.endpoint}: {deployment.status} ({verb} model {names.model}, "
          f"endpoint config {names.config})")


def cmd_package(args: argparse.Namespace) -> int:
    files = package(PackageOptions(args.output))
    for path in files:
        print(path.as_posix())
    print(f"artifact: {args.output} ({len(files)} files, valid)")
    return 0


def cmd_upload(args: argparse.Namespace) -> int:
    aws = _aws(args)
    destination = _prefix(args, aws)
    options = UploadOptions(args.artifact_dir, destination, args.weights_dir, args.weights_hub_id,
                            args.concurrency, args.prune)
    report = upload(aws, options)
    print(f"{destination}: {len(report.uploaded)} uploaded, {len(report.skipped)} unchanged, "
          f"{len(report.deleted)} deleted")
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    aws = _aws(args)
    _report(deploy(aws, _spec(args, aws), None if args.no_wait else _wait(args)), "serving")
    return 0


def cmd_update(args: argparse.Namespace) -> int:
    aws = _aws(args)
    _report(update(aws, _spec(args, aws), _wait(args)), "now serving")
    return 0


def status_lines(record: EndpointStatus) -> list[str]:
    scaling = record.scaling
    lines = [
        f"endpoint {record.endpoint}: {record.status}",
        f"  endpoint config  {record.config}",
        f"  model(s)         {', '.join(record.models) or '-'}",
        f"  instances        {record.instance_count if record.instance_count is not None else '-'} x "
        f"{record.instance_type or '-'}{' (async)' if record.is_async else ''}",
        f"  autoscaling      {f'{scaling.min_capacity}..{scaling.max_capacity}' if scaling else 'off'}",
        f"  last modified    {record.last_modified or '-'}",
    ]
    if record.failure_reason:
        lines.append(f"  failure          {record.failure_reason}")
    return lines


def cmd_status(args: argparse.Namespace) -> int:
    for line in status_lines(status(_aws(args), args.name)):
        print(line)
    return 0


def invoke_params(args: argparse.Namespace) -> TranscriptionParams:
    timestamps = tuple(args.timestamps or ())
    return TranscriptionParams(
        language=args.language, task=args.task, prompt=args.prompt, temperature=args.temperature,
        response_format=args.response_format or ("verbose_json" if timestamps else None),
        timestamp_granularities=timestamps, long_form=args.long_form,
        condition_on_previous_text=args.condition_on_previous_text,
    )


def cmd_invoke(args: argparse.Namespace) -> int:
    if args.async_input and not args.is_async:
        raise WhisperLmiError("--async-input goes with --async (where to stage the input in S3)")
    aws = _aws(args)
    endpoint = Endpoint(aws, args.name, retry=replace(DEFAULT_RETRY, attempts=args.attempts))
    call = {"params": invoke_params(args), "body": "form" if args.multipart else args.body,
            "content_type": args.content_type}
    if args.stream:
        return _print_stream(endpoint.stream(args.source, **call), args.output)
    if args.is_async:
        handle = endpoint.transcribe_async(args.source, input_prefix=args.async_input, **call)
        if handle is None:
            return 0
        print(f"async inference {handle.inference_id}: result to {handle.output}", file=sys.stderr)
        result = handle.wait(args.wait_timeout, args.poll_seconds)
    else:
        result = endpoint.transcribe(args.source, **call)
    if not aws.dry_run:
        _deliver(result, args.output)
    return 0


def _deliver(result: Result, output: Path | None) -> None:
    """The body as the endpoint sent it: the document for json formats, the text or subtitle file otherwise."""
    if output is not None:
        result.save(output)
        print(f"saved to {output} ({len(result.raw)} bytes)", file=sys.stderr)
    else:
        print(result.raw.decode("utf-8", errors="replace"))


def _print_stream(events: Iterator[StreamEvent], output: Path | None) -> int:
    printed = False
    for event in events:
        if isinstance(event, TranscriptDelta):
            print(event.text, end="", flush=True)
            printed = True
        elif isinstance(event, TranscriptDone):
            print("" if printed else event.text, flush=True)
            if output is not None:
                _deliver(event.result, output)
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    since = parse_duration(args.since) if args.since else None
    for event in logs(_aws(args), args.name, since, args.limit, args.streams):
        print(event.line())
    return 0


def _served_model(aws: Aws, endpoint: str) -> str:
    described = describe_endpoint(aws, endpoint)
    models = config_models(aws, described["EndpointConfigName"]) if described else ()
    if not models:
        raise WhisperLmiError(f"no endpoint {endpoint} to take the model from: pass --model-name")
    return models[0]


def cmd_transform(args: argparse.Namespace) -> int:
    aws = _aws(args)
    model = args.model_name or _served_model(aws, args.name)
    job_name = args.job_name or f"{args.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    options = TransformOptions(
        job_name=job_name, model_name=model, input_prefix=S3Uri.prefix(args.input_prefix),
        output_prefix=S3Uri.prefix(args.output_prefix), instance_type=args.instance_type,
        instance_count=args.instance_count, content_type=args.content_type, max_concurrent=args.max_concurrent,
        wait=args.wait,
    )
    transform(aws, options, _wait(args))
    if not args.dry_run:
        print(f"transform job {job_name}: results under {options.output_prefix}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    deleted = delete(_aws(args), args.name)
    if not args.dry_run:
        print(f"deleted: {', '.join(deleted)}" if deleted else f"nothing left to delete for {args.name}")
    return 0


def cmd_local(args: argparse.Namespace) -> int:
    region = args.region or _aws(args).session.region_name or "us-east-1"  # only picks the ECR registry
    environment = local_environment(args.artifact_dir, parse_pairs(args.option, "--option"),
                                    parse_pairs(args.env, "--env"))
    options = LocalOptions(artifact_dir=args.artifact_dir, image=_image(args, region), environment=environment,
                           port=args.port, gpus=args.gpus or None)
    return run_local(options, args.dry_run)


COMMANDS = {
    "package": cmd_package, "upload": cmd_upload, "deploy": cmd_deploy, "update": cmd_update, "status": cmd_status,
    "invoke": cmd_invoke, "logs": cmd_logs, "transform": cmd_transform, "delete": cmd_delete, "local": cmd_local,
}
