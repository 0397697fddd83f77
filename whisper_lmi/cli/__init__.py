"""``whisper-lmi``: the command line, and the one place where errors become messages and exit codes."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from boto3.exceptions import Boto3Error
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError, ProfileNotFound

from whisper_lmi.sagemaker import constants as c
from whisper_lmi.artifact.assemble import PackageOptions, package
from whisper_lmi.sagemaker.aws import Aws, AwsOptions, error_code
from whisper_lmi.sagemaker.delete import delete
from whisper_lmi.sagemaker.deploy import AsyncOptions, DeployOptions, deploy
from whisper_lmi.sagemaker.options import container_environment
from whisper_lmi.errors import CliError
from whisper_lmi.sagemaker.images import DEFAULT_LMI_VERSION, lmi_image_uri
from whisper_lmi.sagemaker.invoke import InvokeOptions, TranscriptionParams, invoke
from whisper_lmi.sagemaker.local import LocalOptions, run_local
from whisper_lmi.sagemaker.s3uri import S3Uri
from whisper_lmi.sagemaker.scaling import ScalingOptions
from whisper_lmi.sagemaker.transform import TransformOptions, transform
from whisper_lmi.sagemaker.upload import UploadOptions, upload
from whisper_lmi.sagemaker.waiting import WaitOptions

logger = logging.getLogger(__name__)

PERMISSION_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403"})


# --- parser --------------------------------------------------------------------------------------------------


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--region", help="AWS region (default: the standard AWS configuration)")
    common.add_argument("--profile", help="AWS profile from ~/.aws/config")
    common.add_argument("--endpoint-url", help="send all AWS requests here (e.g. a local moto server)")
    common.add_argument("--dry-run", action="store_true", help="print the API requests instead of sending them")
    common.add_argument("-v", "--verbose", action="store_true")
    return common


def _add_artifact_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--artifact-dir", type=Path, default=c.DEFAULT_ARTIFACT_DIR)


def _add_image(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lmi-version", default=DEFAULT_LMI_VERSION, help="pinned DJL LMI version")
    parser.add_argument("--image-tag", help="djl-inference tag for a version not in the table")
    parser.add_argument("--image", help="a full image URI (overrides --lmi-version/--image-tag)")


def _add_environment(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="container variable")


def _add_wait(parser: argparse.ArgumentParser, default_timeout: float) -> None:
    parser.add_argument("--poll-seconds", type=float, default=c.DEFAULT_POLL_S)
    parser.add_argument("--wait-timeout", type=float, default=default_timeout, help="seconds")


def _package_parser(sub, common) -> None:
    p = sub.add_parser("package", parents=[common], help="assemble and validate the artifact directory")
    p.add_argument("--output", type=Path, default=c.DEFAULT_ARTIFACT_DIR)
    p.add_argument("--model-id", help="set option.model_id in the packaged serving.properties")
    p.add_argument(
        "--tensor-parallel-degree",
        help="set option.tensor_parallel_degree in the packaged serving.properties (GPUs per model copy, or max)",
    )


def _upload_parser(sub, common) -> None:
    p = sub.add_parser("upload", parents=[common], help="copy the artifact to S3, uncompressed")
    p.add_argument("s3_uri", metavar="s3://BUCKET/PREFIX/")
    _add_artifact_dir(p)
    weights = p.add_mutually_exclusive_group()
    weights.add_argument("--weights-dir", type=Path, help="mirror local weights to PREFIX/weights/")
    weights.add_argument("--weights-hub-id", help="mirror a Hugging Face hub snapshot to PREFIX/weights/")
    p.add_argument("--concurrency", type=int, default=c.DEFAULT_UPLOAD_CONCURRENCY)
    p.add_argument("--prune", action="store_true", help="delete objects under the prefix not in the artifact")


def _deploy_parser(sub, common) -> None:
    p = sub.add_parser("deploy", parents=[common], help="create model, endpoint config and endpoint")
    p.add_argument("s3_uri", metavar="s3://BUCKET/PREFIX/")
    p.add_argument("--name", default=c.DEFAULT_NAME, help="model, endpoint config and endpoint name")
    p.add_argument("--role-arn", default=os.environ.get(c.ROLE_ENV_VAR), help=f"default ${c.ROLE_ENV_VAR}")
    _add_image(p)
    p.add_argument("--instance-type", default=c.DEFAULT_INSTANCE_TYPE)
    p.add_argument("--instance-count", type=int, default=c.DEFAULT_INSTANCE_COUNT)
    p.add_argument("--volume-gb", type=int, help="EBS volume; leave out for NVMe instances (g5, g6)")
    p.add_argument("--startup-timeout", type=int, default=c.DEFAULT_STARTUP_TIMEOUT_S)
    p.add_argument("--download-timeout", type=int, default=c.DEFAULT_DOWNLOAD_TIMEOUT_S)
    p.add_argument("--network-isolation", action="store_true")
    _add_environment(p)
    p.add_argument("--async", dest="is_async", action="store_true", help="asynchronous inference endpoint")
    p.add_argument("--async-output", help="S3 output path (default PREFIX/async-output/)")
    p.add_argument("--async-failure", help="S3 failure path (default PREFIX/async-failure/)")
    p.add_argument("--success-topic", help="SNS topic ARN for successes")
    p.add_argument("--error-topic", help="SNS topic ARN for errors")
    p.add_argument("--max-concurrent-invocations", type=int, help="per instance (async)")
    p.add_argument("--min-instances", type=int, help="enable autoscaling (0 needs --async)")
    p.add_argument("--max-instances", type=int)
    p.add_argument("--target-invocations", type=float, default=10.0, help="per instance per minute, or backlog")
    p.add_argument("--no-wait", action="store_true")
    _add_wait(p, c.DEFAULT_ENDPOINT_WAIT_S)


def _invoke_parser(sub, common) -> None:
    p = sub.add_parser("invoke", parents=[common], help="transcribe one file or S3 object")
    p.add_argument("source", help="local audio file or s3://bucket/key")
    p.add_argument("--name", default=c.DEFAULT_NAME, help="endpoint name")
    p.add_argument("--language")
    p.add_argument("--task", choices=["transcribe", "translate"])
    p.add_argument("--prompt")
    p.add_argument("--temperature", type=float)
    p.add_argument("--response-format", choices=["json", "text"])
    p.add_argument("--content-type", help="default: from the file name")
    p.add_argument("--multipart", action="store_true", help="send multipart/form-data (field 'file')")
    p.add_argument("--async", dest="is_async", action="store_true", help="through S3 to an async endpoint")
    p.add_argument("--async-input", help="S3 prefix where a local file is staged for --async")
    p.add_argument("--output", type=Path, help="save the result here instead of printing it")
    _add_wait(p, 900.0)


def _transform_parser(sub, common) -> None:
    p = sub.add_parser("transform", parents=[common], help="Batch Transform over an S3 prefix of audio")
    p.add_argument("input_prefix", metavar="s3://IN/PREFIX/")
    p.add_argument("output_prefix", metavar="s3://OUT/PREFIX/")
    p.add_argument("--model-name", default=c.DEFAULT_NAME)
    p.add_argument("--job-name", help="default MODEL-YYYYmmdd-HHMMSS")
    p.add_argument("--instance-type", default=c.DEFAULT_INSTANCE_TYPE)
    p.add_argument("--instance-count", type=int, default=c.DEFAULT_INSTANCE_COUNT)
    p.add_argument("--content-type", default=c.DEFAULT_AUDIO_CONTENT_TYPE)
    p.add_argument("--max-concurrent", type=int)
    p.add_argument("--wait", action="store_true")
    _add_wait(p, 6 * 3600.0)


def _delete_parser(sub, common) -> None:
    p = sub.add_parser("delete", parents=[common], help="delete endpoint, endpoint config and model")
    p.add_argument("--name", default=c.DEFAULT_NAME, help="endpoint name")


def _local_parser(sub, common) -> None:
    p = sub.add_parser("local", parents=[common], help="docker run the LMI image on the artifact")
    _add_artifact_dir(p)
    _add_image(p)
    _add_environment(p)
    p.add_argument("--port", type=int, default=c.LOCAL_PORT)
    p.add_argument("--gpus", default="all", help="'' for CPU only")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="whisper-lmi", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    common = _common()
    for add in (_package_parser, _upload_parser, _deploy_parser, _invoke_parser, _transform_parser,
                _delete_parser, _local_parser):
        add(sub, common)
    return parser


# --- commands ------------------------------------------------------------------------------------------------


def _aws(args) -> Aws:
    return Aws(AwsOptions(args.region, args.profile, args.endpoint_url, args.dry_run))


def _wait(args) -> WaitOptions:
    return WaitOptions(poll_s=args.poll_seconds, timeout_s=args.wait_timeout)


def _image(args, region: str) -> str:
    return args.image or lmi_image_uri(region, args.lmi_version, args.image_tag)


def cmd_package(args) -> int:
    options = PackageOptions(args.output, model_id=args.model_id, tensor_parallel_degree=args.tensor_parallel_degree)
    files = package(options)
    for path in files:
        print(path.as_posix())
    print(f"artifact: {args.output} ({len(files)} files, valid)")
    return 0


def cmd_upload(args) -> int:
    destination = S3Uri.prefix(args.s3_uri)
    options = UploadOptions(args.artifact_dir, destination, args.weights_dir, args.weights_hub_id,
                            args.concurrency, args.prune)
    report = upload(_aws(args), options)
    print(f"{destination}: {len(report.uploaded)} uploaded, {len(report.skipped)} unchanged, "
          f"{len(report.deleted)} deleted")
    return 0


def _async_options(args, artifact: S3Uri) -> AsyncOptions | None:
    if not args.is_async:
        return None
    output = S3Uri.prefix(args.async_output) if args.async_output else artifact.join(c.ASYNC_OUTPUT_SUBPREFIX)
    failure = S3Uri.prefix(args.async_failure) if args.async_failure else artifact.join(c.ASYNC_FAILURE_SUBPREFIX)
    return AsyncOptions(output, failure, args.success_topic, args.error_topic, args.max_concurrent_invocations)


def _scaling_options(args) -> ScalingOptions | None:
    if args.min_instances is None and args.max_instances is None:
        return None
    if args.min_instances is None or args.max_instances is None or args.min_instances > args.max_instances:
        raise CliError("autoscaling needs --min-instances <= --max-instances, both given")
    return ScalingOptions(args.min_instances, args.max_instances, args.target_invocations)


def cmd_deploy(args) -> int:
    aws = _aws(args)
    artifact = S3Uri.prefix(args.s3_uri)
    options = DeployOptions(
        name=args.name, artifact=artifact, image=_image(args, aws.region), role_arn=args.role_arn or "",
        instance_type=args.instance_type, instance_count=args.instance_count, volume_gb=args.volume_gb,
        startup_timeout_s=args.startup_timeout, download_timeout_s=args.download_timeout,
        environment=container_environment(args.env),
        network_isolation=args.network_isolation, async_config=_async_options(args, artifact),
        scaling=_scaling_options(args), wait=not args.no_wait,
    )
    deploy(aws, options, _wait(args))
    if not args.dry_run:
        print(f"endpoint {args.name}: {'created' if args.no_wait else 'InService'}")
    return 0


def cmd_invoke(args) -> int:
    params = TranscriptionParams(args.language, args.task, args.prompt, args.temperature, args.response_format)
    options = InvokeOptions(
        endpoint=args.name, source=args.source, params=params, content_type=args.content_type,
        multipart=args.multipart, is_async=args.is_async,
        async_input=S3Uri.prefix(args.async_input) if args.async_input else None, output=args.output,
    )
    result = invoke(_aws(args), options, _wait(args))
    if result is not None and args.output is None:
        print(result.decode("utf-8", errors="replace"))
    return 0


def cmd_transform(args) -> int:
    job_name = args.job_name or f"{args.model_name}-{time.strftime('%Y%m%d-%H%M%S')}"
    options = TransformOptions(
        job_name=job_name, model_name=args.model_name, input_prefix=S3Uri.prefix(args.input_prefix),
        output_prefix=S3Uri.prefix(args.output_prefix), instance_type=args.instance_type,
        instance_count=args.instance_count, content_type=args.content_type, max_concurrent=args.max_concurrent,
        wait=args.wait,
    )
    transform(_aws(args), options, _wait(args))
    if not args.dry_run:
        print(f"transform job {job_name}: results under {options.output_prefix}")
    return 0


def cmd_delete(args) -> int:
    deleted = delete(_aws(args), args.name)
    if not args.dry_run:
        print(f"deleted: {', '.join(deleted)}" if deleted else f"nothing left to delete for {args.name}")
    return 0


def cmd_local(args) -> int:
    region = args.region or _aws(args).session.region_name or "us-east-1"  # only picks the ECR mirror
    options = LocalOptions(
        artifact_dir=args.artifact_dir, image=_image(args, region),
        environment=container_environment(args.env), port=args.port,
        gpus=args.gpus or None,
    )
    return run_local(options, args.dry_run)


COMMANDS = {
    "package": cmd_package, "upload": cmd_upload, "deploy": cmd_deploy, "invoke": cmd_invoke,
    "transform": cmd_transform, "delete": cmd_delete, "local": cmd_local,
}


# --- error boundary ------------------------------------------------------------------------------------------


def describe_client_error(error: ClientError) -> str:
    code = error_code(error)
    operation = getattr(error, "operation_name", "request")
    message = error.response.get("Error", {}).get("Message", "")
    if code == "NoSuchBucket":
        return f"{operation}: the bucket does not exist (create it with `aws s3 mb s3://BUCKET`): {message}"
    if code in PERMISSION_CODES:
        return f"{operation}: permission denied for these credentials: {message or code}"
    return f"{operation} failed: {code}: {message}"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s",
                        stream=sys.stderr)
    if not args.verbose:
        logging.getLogger("botocore").setLevel(logging.WARNING)
    try:
        return COMMANDS[args.command](args)
    except CliError as error:
        message = str(error)
    except ClientError as error:
        message = describe_client_error(error)
    except NoCredentialsError:
        message = "no AWS credentials: run `aws configure`, set AWS_PROFILE, or pass --profile"
    except (NoRegionError, ProfileNotFound) as error:
        message = f"AWS configuration: {error}"
    except (BotoCoreError, Boto3Error) as error:
        message = f"AWS: {error}"
    except KeyboardInterrupt:
        message = "interrupted"
    print(f"whisper-lmi {args.command}: error: {message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
