"""The error boundary: every command runs here, and every error a user can meet becomes one line on stderr."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from boto3.exceptions import Boto3Error
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError, ProfileNotFound

from whisper_lmi.cli.commands import COMMANDS
from whisper_lmi.cli.parser import build_parser
from whisper_lmi.errors import WhisperLmiError
from whisper_lmi.sagemaker.aws import error_code

PERMISSION_CODES = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "403"})


def describe_client_error(error: ClientError) -> str:
    code = error_code(error)
    operation = getattr(error, "operation_name", "request")
    message = error.response.get("Error", {}).get("Message", "")
    if code == "NoSuchBucket":
        return f"{operation}: the bucket does not exist (create it with `aws s3 mb s3://BUCKET`): {message}"
    if code in PERMISSION_CODES:
        return f"{operation}: permission denied for these credentials: {message or code}"
    return f"{operation} failed: {code}: {message}"


def one_line(error: BaseException) -> str:
    """The message for an error a user can meet; anything else is a bug and keeps its traceback."""
    if isinstance(error, ClientError):
        return describe_client_error(error)
    if isinstance(error, NoCredentialsError):
        return "no AWS credentials: run `aws configure`, set AWS_PROFILE, or pass --profile"
    if isinstance(error, (NoRegionError, ProfileNotFound)):
        return f"AWS configuration: {error}"
    if isinstance(error, (BotoCoreError, Boto3Error)):
        return f"AWS: {error}"
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror}: {error.filename}" if error.filename else error.strerror
    return " ".join(str(error).split())


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s", stream=sys.stderr)
    if not verbose:
        for noisy in ("botocore", "boto3", "s3transfer", "urllib3"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.verbose)
    try:
        return COMMANDS[args.command](args)
    except (WhisperLmiError, ClientError, BotoCoreError, Boto3Error, OSError, KeyboardInterrupt) as error:
        print(f"whisper-lmi {args.command}: error: {one_line(error)}", file=sys.stderr)
        return 1
