"""``upload``: the artifact (and optionally the weights) to ``s3://BUCKET/PREFIX/``, uncompressed.

Multipart and parallel through s3transfer, progress on the log, and files whose SHA-256 (kept in the object's
metadata) is unchanged are skipped.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from boto3.s3.transfer import TransferConfig

from whisper_lmi.artifact.assemble import artifact_files
from whisper_lmi.artifact.validate import validate
from whisper_lmi.errors import WhisperLmiError
from whisper_lmi.sagemaker.aws import ApiCall, Aws, error_code
from whisper_lmi.sagemaker.constants import (
    DEFAULT_UPLOAD_CONCURRENCY,
    MULTIPART_CHUNK,
    MULTIPART_THRESHOLD,
    SHA256_METADATA_KEY,
    WEIGHTS_SUBPREFIX,
)
from whisper_lmi.sagemaker.s3uri import S3Uri

logger = logging.getLogger(__name__)

HASH_BLOCK = 1024 * 1024
WEIGHT_PATTERNS = ["*.json", "*.safetensors", "*.txt"]


@dataclass(frozen=True)
class UploadOptions:
    artifact_dir: Path
    destination: S3Uri
    weights_dir: Path | None = None
    weights_hub_id: str | None = None
    concurrency: int = DEFAULT_UPLOAD_CONCURRENCY
    prune: bool = False


@dataclass(frozen=True)
class UploadItem:
    path: Path
    key: str
    size: int
    sha256: str


@dataclass(frozen=True)
class UploadReport:
    uploaded: tuple[str, ...]
    skipped: tuple[str, ...]
    deleted: tuple[str, ...]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def plan_items(root: Path, destination: S3Uri, files: list[Path]) -> list[UploadItem]:
    return [
        UploadItem(root / rel, destination.join(rel.as_posix()).key, (root / rel).stat().st_size, sha256_of(root / rel))
        for rel in files
    ]


def weights_source(options: UploadOptions) -> Path | None:
    if options.weights_dir is not None:
        if not options.weights_dir.is_dir():
            raise WhisperLmiError(f"--weights-dir {options.weights_dir} is not a directory")
        return options.weights_dir
    if options.weights_hub_id:
        return _hub_snapshot(options.weights_hub_id)
    return None


def _hub_snapshot(repo_id: str) -> Path:
    try:
        from huggingface_hub import snapshot_download
    except ImportError as error:
        raise WhisperLmiError("--weights-hub-id needs huggingface_hub; use --weights-dir with a local copy") from error
    try:
        return Path(snapshot_download(repo_id, allow_patterns=WEIGHT_PATTERNS))
    except Exception as error:  # offline, gated, unknown id: all mean "use a local directory"
        raise WhisperLmiError(f"could not download {repo_id} from the hub ({error}); use --weights-dir") from error


def build_plan(options: UploadOptions) -> list[UploadItem]:
    """Everything that belongs under the prefix: the artifact, and the weights under ``weights/`` (``deploy`` then
    points ``model_id`` at their mounted copy)."""
    weights = weights_source(options)
    validate(options.artifact_dir)
    items = plan_items(options.artifact_dir, options.destination, artifact_files(options.artifact_dir))
    if weights is not None:
        weights_prefix = options.destination.join(WEIGHTS_SUBPREFIX)
        items += plan_items(weights, weights_prefix, artifact_files(weights))
    return items


def remote_sha256(aws: Aws, bucket: str, key: str) -> str | None:
    try:
        head = aws.client("s3").head_object(Bucket=bucket, Key=key)
    except Exception as error:
        if error_code(error) in {"404", "NoSuchKey", "NotFound"}:
            return None
        raise
    return head.get("Metadata", {}).get(SHA256_METADATA_KEY)


def check_bucket(aws: Aws, bucket: str) -> None:
    try:
        aws.client("s3").head_bucket(Bucket=bucket)
    except Exception as error:
        code = error_code(error)
        if code in {"404", "NoSuchBucket"}:
            raise WhisperLmiError(f"bucket {bucket} does not exist (create it with `aws s3 mb s3://{bucket}`)") from error
        if code in {"403", "AccessDenied"}:
            raise WhisperLmiError(f"no access to bucket {bucket} with these credentials (s3:ListBucket)") from error
        raise


class Progress:
    """Thread-safe byte counter that logs every tenth of the total."""

    def __init__(self, total: int) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.next_step = 1
        self.lock = threading.Lock()

    def __call__(self, amount: int) -> None:
        with self.lock:
            self.done += amount
            while self.done * 10 >= self.next_step * self.total and self.next_step <= 10:
                logger.info("upload %d%% (%d of %d bytes)", self.next_step * 10, self.done, self.total)
                self.next_step += 1


def upload(aws: Aws, options: UploadOptions) -> UploadReport:
    items = build_plan(options)
    bucket = options.destination.bucket
    if aws.dry_run:
        for item in items:
            aws.call(ApiCall("s3", "upload_file", _upload_params(bucket, item)))
        return UploadReport(tuple(i.key for i in items), (), ())
    check_bucket(aws, bucket)
    changed = [item for item in items if remote_sha256(aws, bucket, item.key) != item.sha256]
    skipped = tuple(item.key for item in items if item not in changed)
    for key in skipped:
        logger.info("unchanged: s3://%s/%s", bucket, key)
    _transfer(aws, bucket, changed, options.concurrency)
    deleted = _prune(aws, options.destination, {i.key for i in items}) if options.prune else ()
    return UploadReport(tuple(item.key for item in changed), skipped, deleted)


def _upload_params(bucket: str, item: UploadItem) -> dict:
    return {
        "Filename": str(item.path),
        "Bucket": bucket,
        "Key": item.key,
        "ExtraArgs": {"Metadata": {SHA256_METADATA_KEY: item.sha256}},
    }


def _transfer(aws: Aws, bucket: str, items: list[UploadItem], concurrency: int) -> None:
    config = TransferConfig(
        multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_CHUNK, max_concurrency=concurrency
    )
    progress = Progress(sum(item.size for item in items))
    client = aws.client("s3")

    def send(item: UploadItem) -> None:
        params = _upload_params(bucket, item)
        client.upload_file(**params, Config=config, Callback=progress)
        logger.info("uploaded s3://%s/%s (%d bytes)", bucket, item.key, item.size)

    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(items) or 1))) as pool:
        for future in [pool.submit(send, item) for item in items]:
            future.result()


def _prune(aws: Aws, destination: S3Uri, keep: set[str]) -> tuple[str, ...]:
    """Delete objects under the prefix that are not part of this upload (stale modules would be mounted)."""
    weights_key = destination.join(WEIGHTS_SUBPREFIX).key  # mirrored once, kept across code uploads
    paginator = aws.client("s3").get_paginator("list_objects_v2")
    stale = [
        obj["Key"]
        for page in paginator.paginate(Bucket=destination.bucket, Prefix=destination.key)
        for obj in page.get("Contents", [])
        if obj["Key"] not in keep and not obj["Key"].startswith(weights_key)
    ]
    for start in range(0, len(stale), 1000):
        batch = [{"Key": key} for key in stale[start:start + 1000]]
        aws.call(ApiCall("s3", "delete_objects", {"Bucket": destination.bucket, "Delete": {"Objects": batch}}))
    for key in stale:
        logger.info("deleted stale s3://%s/%s", destination.bucket, key)
    return tuple(stale)
