"""The Python API for SageMaker: package, upload, deploy, update, status, delete, invoke, transform, logs, local, with the
execution role and default bucket found as the sagemaker SDK finds them. Every function takes an ``Aws`` (a boto3
session plus ``--dry-run``); every input is a frozen dataclass; every problem a user can fix is a
``WhisperLmiError`` whose message says how.

    from whisper_lmi.sagemaker import Aws, AwsOptions, EndpointSpec, deploy, lmi_image_uri, ...
    aws = Aws(AwsOptions(region="eu-west-1"))
    spec = EndpointSpec(artifact=S3Uri.prefix("s3://bucket/whisper/v1/"), image=lmi_image_uri(aws.region),
                        role_arn=execution_role(aws), options={"max_batch_windows": "32"})
    endpoint = deploy(aws, spec).endpoint(aws)            # or Endpoint(aws, "whisper")
    endpoint.transcribe("talk.wav", language="de").text  # a Transcript; srt/vtt give Subtitles

One module per job: ``spec`` (what an endpoint should be), ``naming`` (unique model and config names),
``options`` (OPTION_* variables), ``remote_artifact`` (what an S3 prefix holds), ``resources`` (the requests as
data), ``rollback``, ``deploy``, ``update``, ``delete``, ``status``, ``endpoints`` (reading what exists),
``waiting``, ``scaling``, ``upload``, ``quick`` (package + upload + deploy in one call), ``transform``, ``local``, ``images`` + ``image_table`` (the LMI image per region),
``identity`` (role and bucket), ``aws``, ``s3uri``, ``constants``. Calling an endpoint: ``endpoint`` (``Endpoint``,
the object to call), ``params`` (``TranscriptionParams``), ``transcript`` (typed results), ``audio`` (path, bytes or
S3), ``bodies`` (raw + custom attributes, form, JSON), ``invoke`` (real-time), ``retries`` (a 503 from the model,
again), ``streaming`` (response stream -> events), ``asynchronous`` (through S3, a handle), ``logs`` (CloudWatch).

May import: ``whisper_lmi.artifact`` and ``whisper_lmi.errors``; boto3; the sagemaker SDK only in ``identity``, and
only when installed.
"""

from whisper_lmi.artifact.assemble import PackageOptions, package
from whisper_lmi.errors import WhisperLmiError
from whisper_lmi.sagemaker.asynchronous import AsyncFailed, AsyncTranscription, NotDone, transcribe_async
from whisper_lmi.sagemaker.aws import Aws, AwsOptions
from whisper_lmi.sagemaker.delete import delete
from whisper_lmi.sagemaker.deploy import Deployment, deploy
from whisper_lmi.sagemaker.endpoint import Endpoint
from whisper_lmi.sagemaker.identity import default_bucket, execution_role
from whisper_lmi.sagemaker.images import DEFAULT_LMI_VERSION, lmi_image_uri
from whisper_lmi.sagemaker.invoke import Invocation, invocation, transcribe
from whisper_lmi.sagemaker.logs import LogEvent, logs
from whisper_lmi.sagemaker.params import TranscriptionParams
from whisper_lmi.sagemaker.quick import QuickOptions, quick_deploy
from whisper_lmi.sagemaker.retries import NO_RETRY, RetryOptions
from whisper_lmi.sagemaker.s3uri import S3Uri
from whisper_lmi.sagemaker.scaling import ScalingOptions
from whisper_lmi.sagemaker.spec import AsyncOptions, EndpointSpec
from whisper_lmi.sagemaker.status import EndpointStatus, status
from whisper_lmi.sagemaker.streaming import StreamFailed, TranscriptDelta, TranscriptDone, stream
from whisper_lmi.sagemaker.transcript import Segment, Subtitles, Transcript, Word
from whisper_lmi.sagemaker.transform import TransformOptions, transform
from whisper_lmi.sagemaker.update import update
from whisper_lmi.sagemaker.upload import UploadOptions, UploadReport, upload
from whisper_lmi.sagemaker.waiting import WaitOptions

__all__ = [
    "DEFAULT_LMI_VERSION", "AsyncFailed", "AsyncOptions", "AsyncTranscription", "Aws", "AwsOptions", "Deployment",
    "Endpoint", "EndpointSpec", "EndpointStatus", "Invocation", "LogEvent", "NO_RETRY", "NotDone", "PackageOptions",
    "QuickOptions", "RetryOptions", "S3Uri",
    "ScalingOptions", "Segment", "StreamFailed", "Subtitles", "Transcript", "TranscriptDelta", "TranscriptDone",
    "TranscriptionParams", "TransformOptions", "UploadOptions", "UploadReport", "WaitOptions", "WhisperLmiError",
    "Word", "default_bucket", "delete", "deploy", "execution_role", "invocation", "lmi_image_uri", "logs", "package", "quick_deploy",
    "status", "stream", "transcribe", "transcribe_async", "transform", "update", "upload",
]
