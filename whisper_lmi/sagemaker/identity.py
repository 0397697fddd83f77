"""The execution role and the default bucket, found as the sagemaker SDK finds them: with the SDK when it is
installed (and requests go to AWS itself), with boto3 alone otherwise, the same way.

In SageMaker Studio or on a notebook instance the role is the notebook's (``/opt/ml/metadata/resource-metadata.json``,
then the notebook instance, the user profile or the domain); elsewhere it is the caller when the caller is an assumed
role. The default bucket is ``sagemaker-<region>-<account>``, created when missing, as the SDK does.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from whisper_lmi.errors import WhisperLmiError
from whisper_lmi.sagemaker.aws import Aws, error_code

logger = logging.getLogger(__name__)

NOTEBOOK_METADATA = Path("/opt/ml/metadata/resource-metadata.json")
# The SDK's modules, v2 first (``sagemaker.Session``), then v3 / sagemaker-core.
SDK_MODULES = ("sagemaker", "sagemaker.core.helper.session_helper")
ASSUMED_ROLE = re.compile(r"^(arn:[^:]+):sts::(\d+):assumed-role/([^/]+)/.*$")
MISSING_BUCKET_CODES = frozenset({"404", "NoSuchBucket", "NotFound"})
# botocore's endpoint variables for every address the SDK would use to find the role and the bucket.
REDIRECT_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL_S3",
                      "AWS_ENDPOINT_URL_SAGEMAKER")


@dataclass(frozen=True)
class Sdk:
    session: Callable[..., Any]  # Session(boto_session=...)
    get_execution_role: Callable[..., str]


def find_sdk() -> Sdk | None:
    for name in SDK_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        session, role = getattr(module, "Session", None), getattr(module, "get_execution_role", None)
        if session is not None and role is not None:
            return Sdk(session, role)
    return None


def _sdk_for(aws: Aws, find: Callable[[], Sdk | None]) -> Sdk | None:
    """The SDK, unless requests go elsewhere than AWS (``--endpoint-url``, or botocore's ``AWS_ENDPOINT_URL`` and
    ``AWS_ENDPOINT_URL_<SERVICE>`` variables for the services used here): it calls STS at its own regional
    address and would not follow them there."""
    redirected = any(os.environ.get(name) for name in REDIRECT_VARIABLES)
    return None if aws.options.endpoint_url or redirected else find()


def execution_role(aws: Aws, find: Callable[[], Sdk | None] = find_sdk, metadata: Path = NOTEBOOK_METADATA) -> str:
    sdk = _sdk_for(aws, find)
    if sdk is not None:
        return _sdk_role(aws, sdk)
    role = _notebook_role(aws, metadata) or _caller_role(aws)
    if role is None:
        raise WhisperLmiError("no SageMaker execution role: pass --role-arn or set WHISPER_LMI_ROLE_ARN "
                              "(outside SageMaker the caller is not a role)")
    return role


def _sdk_role(aws: Aws, sdk: Sdk) -> str:
    try:
        return sdk.get_execution_role(sagemaker_session=sdk.session(boto_session=aws.session))
    except ValueError as error:  # the SDK's "The current AWS identity is not a role"
        raise WhisperLmiError(f"no SageMaker execution role ({' '.join(str(error).split())}): pass --role-arn or set "
                              "WHISPER_LMI_ROLE_ARN") from None


def default_bucket(aws: Aws, find: Callable[[], Sdk | None] = find_sdk) -> str:
    sdk = _sdk_for(aws, find)
    if sdk is not None:
        return sdk.session(boto_session=aws.session).default_bucket()
    bucket = f"sagemaker-{aws.region}-{aws.account_id()}"
    _ensure_bucket(aws, bucket)
    return bucket


def _notebook_role(aws: Aws, metadata: Path) -> str | None:
    if not metadata.is_file():
        return None
    facts = json.loads(metadata.read_text())
    if facts.get("ExecutionRoleArn"):
        return facts["ExecutionRoleArn"]
    sagemaker = aws.client("sagemaker")
    if not facts.get("DomainId"):
        return sagemaker.describe_notebook_instance(NotebookInstanceName=facts["ResourceName"])["RoleArn"]
    profile = sagemaker.describe_user_profile(DomainId=facts["DomainId"], UserProfileName=facts["UserProfileName"])
    role = profile.get("UserSettings", {}).get("ExecutionRole")
    return role or sagemaker.describe_domain(DomainId=facts["DomainId"])["DefaultUserSettings"]["ExecutionRole"]


def _caller_role(aws: Aws) -> str | None:
    """The caller's role ARN (with its path, from IAM when readable) when the caller is an assumed role."""
    arn = aws.client("sts").get_caller_identity()["Arn"]
    if ":role/" in arn:
        return arn
    match = ASSUMED_ROLE.match(arn)
    if match is None:
        return None
    partition, account, name = match.groups()
    try:
        return aws.client("iam").get_role(RoleName=name)["Role"]["Arn"]
    except Exception as error:
        logger.debug("iam:GetRole %s: %s", name, error)
        return f"{partition}:iam::{account}:role/{name}"


def _ensure_bucket(aws: Aws, bucket: str) -> None:
    s3 = aws.client("s3")
    try:
        s3.head_bucket(Bucket=bucket)
        return
    except Exception as error:
        if error_code(error) not in MISSING_BUCKET_CODES:
            raise
    location = {} if aws.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": aws.region}}
    s3.create_bucket(Bucket=bucket, **location)
    logger.info("created the default bucket %s", bucket)
