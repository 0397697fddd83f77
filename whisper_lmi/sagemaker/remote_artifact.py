"""What an uploaded artifact prefix holds, read before anything is deployed from it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from whisper_lmi.artifact.layout import PROPERTIES_FILE
from whisper_lmi.artifact.properties import parse_properties
from whisper_lmi.artifact.validate import check_required
from whisper_lmi.errors import WhisperLmiError
from whisper_lmi.sagemaker.aws import ApiCall, Aws, error_code
from whisper_lmi.sagemaker.constants import WEIGHTS_SUBPREFIX
from whisper_lmi.sagemaker.s3uri import S3Uri

MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})


@dataclass(frozen=True)
class RemoteArtifact:
    prefix: S3Uri
    properties: Mapping[str, str] = field(default_factory=dict)
    has_weights: bool = False


def inspect_artifact(aws: Aws, prefix: S3Uri) -> RemoteArtifact:
    """The prefix's serving.properties (refused when missing or wrong) and whether weights are mirrored under it."""
    properties_uri = prefix.join(PROPERTIES_FILE)
    weights = {"Bucket": prefix.bucket, "Prefix": prefix.join(WEIGHTS_SUBPREFIX).key, "MaxKeys": 1}
    if aws.dry_run:
        aws.call(ApiCall("s3", "get_object", {"Bucket": properties_uri.bucket, "Key": properties_uri.key}))
        aws.call(ApiCall("s3", "list_objects_v2", weights))
        return RemoteArtifact(prefix)
    s3 = aws.client("s3")
    try:
        body = s3.get_object(Bucket=properties_uri.bucket, Key=properties_uri.key)["Body"].read()
    except Exception as error:
        if error_code(error) in MISSING_CODES:
            raise WhisperLmiError(f"{prefix} holds no {PROPERTIES_FILE}: not an artifact; run `whisper-lmi package` "
                                  f"and `whisper-lmi upload {prefix}` first") from None
        raise
    properties = parse_properties(body.decode("utf-8", errors="replace"), str(properties_uri))
    check_required(properties)
    has_weights = s3.list_objects_v2(**weights).get("KeyCount", 0) > 0
    return RemoteArtifact(prefix, properties, has_weights)
