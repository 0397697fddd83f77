"""The ``whisper-lmi`` arguments: one sub-command per API call."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from whisper_lmi.artifact.assemble import DEFAULT_ARTIFACT_DIR
from whisper_lmi.sagemaker import constants as c
from whisper_lmi.sagemaker.bodies import BODY_MODES
from whisper_lmi.sagemaker.images import DEFAULT_LMI_VERSION
from whisper_lmi.sagemaker.params import GRANULARITIES, LONG_FORM_MODES, RESPONSE_FORMATS, TASKS
from whisper_lmi.sagemaker.retries import DEFAULT_RETRY

DESCRIPTION = ("Package whisper-lmi, upload it, deploy it behind a SageMaker endpoint (LMI container), update it "
               "without downtime, call it, delete it. Errors are one line on stderr, exit code 1.")
S3_PREFIX = "s3://BUCKET/PREFIX/"
DEFAULT_PREFIX_HELP = f"default: s3://sagemaker-REGION-ACCOUNT/{c.DEFAULT_ARTIFACT_SUBPREFIX} (the SDK's bucket)"


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--region", help="AWS region (default: the standard AWS configuration)")
    common.add_argument("--profile", help="AWS profile from ~/.aws/config")
    common.add_argument("--endpoint-url", help="send all AWS requests here (e.g. a local moto server)")
    common.add_argument("--dry-run", action="store_true", help="print the API requests that change things, send none")
    common.add_argument("-v", "--verbose", action="store_true")
    return common


def _add_name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", default=c.DEFAULT_NAME, help=f"endpoint name (default {c.DEFAULT_NAME})")


def _add_image(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lmi-version", default=DEFAULT_LMI_VERSION, help=f"LMI version (default {DEFAULT_LMI_VERSION})")
    parser.add_argument("--image-tag", help="djl-inference tag for a version not in the table")
    parser.add_argument("--image", help="a full image URI (overrides --lmi-version/--image-tag)")


def _add_container(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="a whisper-lmi option (docs/options.md), sent as OPTION_<KEY>")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="any container variable")


def _add_wait(parser: argparse.ArgumentParser, default_timeout: float) -> None:
    parser.add_argument("--poll-seconds", type=float, default=c.DEFAULT_POLL_S)
    parser.add_argument("--progress-seconds", type=float, default=c.DEFAULT_PROGRESS_S,
                        help="a progress line this often while the status does not change (and at each change)")
    parser.add_argument("--wait-timeout", type=float, default=default_timeout, help="seconds")


def _package_parser(sub, common) -> None:
    p = sub.add_parser("package", parents=[common], help="assemble and validate the artifact directory")
    p.add_argument("--output", type=Path, default=DEFAULT_ARTIFACT_DIR)


def _upload_parser(sub, common) -> None:
    p = sub.add_parser("upload", parents=[common], help="copy the artifact to S3, uncompressed")
    p.add_argument("s3_uri", nargs="?", metavar=S3_PREFIX, help=DEFAULT_PREFIX_HELP)
    p.add_argument("--artifact-dir", type=Path, default=DEFAULT_ARTIFACT_DIR)
    weights = p.add_mutually_exclusive_group()
    weights.add_argument("--weights-dir", type=Path, help="mirror local weights to PREFIX/weights/")
    weights.add_argument("--weights-hub-id", help="mirror a Hugging Face hub snapshot to PREFIX/weights/")
    p.add_argument("--concurrency", type=int, default=c.DEFAULT_UPLOAD_CONCURRENCY)
    p.add_argument("--prune", action="store_true", help="delete objects under the prefix not in the artifact")


def _add_endpoint_spec(p: argparse.ArgumentParser) -> None:
    p.add_argument("s3_uri", nargs="?", metavar=S3_PREFIX, help=f"the uploaded artifact; {DEFAULT_PREFIX_HELP}")
    _add_name(p)
    p.add_argument("--role-arn", default=os.environ.get(c.ROLE_ENV_VAR),
                   help=f"default ${c.ROLE_ENV_VAR}, else the notebook's role or the caller's, as the SDK finds it")
    _add_image(p)
    p.add_argument("--instance-type", default=c.DEFAULT_INSTANCE_TYPE)
    p.add_argument("--instance-count", type=int, default=c.DEFAULT_INSTANCE_COUNT)
    p.add_argument("--volume-gb", type=int, help="EBS volume; leave out for NVMe instances (g5, g6)")
    p.add_argument("--startup-timeout", type=int, default=c.DEFAULT_STARTUP_TIMEOUT_S)
    p.add_argument("--download-timeout", type=int, default=c.DEFAULT_DOWNLOAD_TIMEOUT_S)
    p.add_argument("--network-isolation", action="store_true")
    _add_container(p)
    p.add_argument("--async", dest="is_async", action="store_true", help="asynchronous inference endpoint")
    p.add_argument("--async-output", help="S3 output path (default PREFIX/async-output/)")
    p.add_argument("--async-failure", help="S3 failure path (default PREFIX/async-failure/)")
    p.add_argument("--success-topic", help="SNS topic ARN for successes")
    p.add_argument("--error-topic", help="SNS topic ARN for errors")
    p.add_argument("--max-concurrent-invocations", type=int, help="per instance (async)")
    p.add_argument("--min-instances", type=int, help="enable autoscaling (0 needs --async)")
    p.add_argument("--max-instances", type=int)
    p.add_argument("--target-invocations", type=float, default=c.DEFAULT_TARGET_VALUE,
                   help="per instance per minute (real-time) or queued requests per instance (async)")
    _add_wait(p, c.DEFAULT_ENDPOINT_WAIT_S)


def _deploy_parser(sub, common) -> None:
    p = sub.add_parser("deploy", parents=[common], help="create a model, an endpoint config and the endpoint")
    _add_endpoint_spec(p)
    p.add_argument("--no-wait", action="store_true", help="return once the endpoint is accepted (no autoscaling)")


def _update_parser(sub, common) -> None:
    p = sub.add_parser("update", parents=[common],
                       help="switch a live endpoint to a new model and config without downtime; retire the old ones")
    _add_endpoint_spec(p)


def _status_parser(sub, common) -> None:
    p = sub.add_parser("status", parents=[common], help="where an endpoint stands")
    _add_name(p)


def _invoke_parser(sub, common) -> None:
    p = sub.add_parser("invoke", parents=[common], help="transcribe one file or S3 object")
    p.add_argument("source", help="local audio file or s3://bucket/key")
    _add_name(p)
    p.add_argument("--language", help="e.g. de or german (default: detected)")
    p.add_argument("--task", choices=TASKS)
    p.add_argument("--prompt", help="any text: a prompt that custom attributes cannot carry goes in a JSON body")
    p.add_argument("--temperature", type=float)
    p.add_argument("--response-format", choices=RESPONSE_FORMATS,
                   help="json and verbose_json print the document, the others their text (default json)")
    p.add_argument("--timestamps", action="append", choices=GRANULARITIES,
                   help="timestamp granularity, repeatable (implies --response-format verbose_json)")
    p.add_argument("--long-form", choices=LONG_FORM_MODES, help="how audio over 30 s is decoded (default: the "
                   "endpoint's option.long_form)")
    p.add_argument("--no-condition-on-previous-text", dest="condition_on_previous_text", action="store_const",
                   const=False, default=None, help="sequential long-form: do not prompt a window with the previous text")
    body = p.add_mutually_exclusive_group()
    body.add_argument("--body", choices=BODY_MODES, default="auto",
                      help="raw audio + custom attributes, a multipart form, or JSON with base64 audio (default auto: "
                           "raw when the parameters fit in custom attributes, else json)")
    body.add_argument("--multipart", action="store_true", help="the same as --body form")
    p.add_argument("--content-type", help="of the audio (default: from the file name)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--stream", action="store_true", help="print the text as segments are decoded "
                      "(InvokeEndpointWithResponseStream)")
    mode.add_argument("--async", dest="is_async", action="store_true", help="through S3 to an async endpoint")
    p.add_argument("--async-input", help="S3 prefix to stage the input for --async (default: under the endpoint's "
                   "async output path)")
    p.add_argument("--output", type=Path, help="save the result here instead of printing it")
    p.add_argument("--attempts", type=int, default=DEFAULT_RETRY.attempts,
                   help="attempts in all when the endpoint answers 503 overloaded / shutting_down, waiting its "
                        f"Retry-After or backing off (default {DEFAULT_RETRY.attempts}; 1: no retry)")
    _add_wait(p, c.DEFAULT_ASYNC_WAIT_S)


def _logs_parser(sub, common) -> None:
    p = sub.add_parser("logs", parents=[common], help="the endpoint's CloudWatch log events, newest streams")
    _add_name(p)
    p.add_argument("--since", help="only events of the last 30s, 10m, 2h, 1d ...")
    p.add_argument("--limit", type=int, default=c.DEFAULT_LOG_LIMIT, help="the last N events")
    p.add_argument("--streams", type=int, default=c.DEFAULT_LOG_STREAMS, help="read the N newest streams")


def _transform_parser(sub, common) -> None:
    p = sub.add_parser("transform", parents=[common], help="Batch Transform over an S3 prefix of audio")
    p.add_argument("input_prefix", metavar="s3://IN/PREFIX/")
    p.add_argument("output_prefix", metavar="s3://OUT/PREFIX/")
    _add_name(p)
    p.add_argument("--model-name", help="default: the model the endpoint --name serves")
    p.add_argument("--job-name", help="default NAME-YYYYmmdd-HHMMSS")
    p.add_argument("--instance-type", default=c.DEFAULT_INSTANCE_TYPE)
    p.add_argument("--instance-count", type=int, default=c.DEFAULT_INSTANCE_COUNT)
    p.add_argument("--content-type", default=c.DEFAULT_AUDIO_CONTENT_TYPE)
    p.add_argument("--max-concurrent", type=int)
    p.add_argument("--wait", action="store_true")
    _add_wait(p, 6 * 3600.0)


def _delete_parser(sub, common) -> None:
    p = sub.add_parser("delete", parents=[common], help="delete the endpoint, its configs and models, autoscaling")
    _add_name(p)


def _local_parser(sub, common) -> None:
    p = sub.add_parser("local", parents=[common], help="docker run the LMI image on the artifact")
    p.add_argument("--artifact-dir", type=Path, default=DEFAULT_ARTIFACT_DIR)
    _add_image(p)
    _add_container(p)
    p.add_argument("--port", type=int, default=c.LOCAL_PORT)
    p.add_argument("--gpus", default="all", help="'' for CPU only")


SUBPARSERS = (_package_parser, _upload_parser, _deploy_parser, _update_parser, _status_parser, _invoke_parser,
              _logs_parser, _transform_parser, _delete_parser, _local_parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="whisper-lmi", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True)
    common = _common()
    for add in SUBPARSERS:
        add(sub, common)
    return parser
