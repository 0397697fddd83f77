"""Names and defaults used by the SageMaker tool, each defined once."""

from __future__ import annotations

# --- S3 ------------------------------------------------------------------------------------------------------
WEIGHTS_SUBPREFIX = "weights/"
MODEL_DIR_IN_CONTAINER = "/opt/ml/model"
# Weights under the artifact prefix are mounted with it: model_id points at the local copy, no network needed.
WEIGHTS_DIR_IN_CONTAINER = f"{MODEL_DIR_IN_CONTAINER}/weights"
SHA256_METADATA_KEY = "sha256"
MULTIPART_THRESHOLD = 8 * 1024 * 1024
MULTIPART_CHUNK = 8 * 1024 * 1024
DEFAULT_UPLOAD_CONCURRENCY = 8
ASYNC_OUTPUT_SUBPREFIX = "async-output/"
ASYNC_FAILURE_SUBPREFIX = "async-failure/"
# Where upload and deploy put the artifact when no S3 prefix is given: under the default bucket (identity.py).
DEFAULT_ARTIFACT_SUBPREFIX = "whisper-lmi/artifact/"

# --- SageMaker -----------------------------------------------------------------------------------------------
DEFAULT_NAME = "whisper"  # the endpoint; its models and configs get unique names (naming.py)
DEFAULT_VARIANT = "AllTraffic"
DEFAULT_INSTANCE_TYPE = "ml.g5.xlarge"
DEFAULT_INSTANCE_COUNT = 1
DEFAULT_STARTUP_TIMEOUT_S = 1800  # >= model loading (the LMI image allows 1200 s) plus pip install
DEFAULT_DOWNLOAD_TIMEOUT_S = 1800
DEFAULT_POLL_S = 15.0
# While a status does not change, one progress line this often (a line is printed at each change too).
DEFAULT_PROGRESS_S = 60.0
DEFAULT_ENDPOINT_WAIT_S = 3600
ROLE_ENV_VAR = "WHISPER_LMI_ROLE_ARN"
TAG_KEY = "project"
TAG_VALUE = "whisper-lmi"

# --- container options ----------------------------------------------------------------------------------------
OPTION_ENV_PREFIX = "OPTION_"
# DJL's request limit (64 MiB by default), raised for async endpoints to what async inference accepts (1 GB).
MAX_REQUEST_ENV = "SERVING_MAX_REQUEST_SIZE"
ASYNC_MAX_REQUEST_BYTES = 1024 ** 3
# Options every deploy sets unless told otherwise: without tensor_parallel_degree LMI's recommender picks "max" (all
# GPUs for one copy) as soon as it can read the model's config.
DEFAULT_OPTIONS = {"tensor_parallel_degree": "1"}
# Async deploys also let the handler take what DJL now lets through.
# Async inference processes a request for up to an hour; the handler's budget (option.request_timeout_seconds, 55 s
# for real-time's 60 s) is raised to that, less the same 5 s to send the answer.
ASYNC_PROCESSING_MAX_S = 3600
ANSWER_MARGIN_S = 5
ASYNC_REQUEST_TIMEOUT_S = ASYNC_PROCESSING_MAX_S - ANSWER_MARGIN_S
ASYNC_DEFAULT_OPTIONS = {"max_audio_bytes": str(ASYNC_MAX_REQUEST_BYTES),
                         "request_timeout_seconds": str(ASYNC_REQUEST_TIMEOUT_S)}
MODEL_ID_OPTION = "model_id"

# --- autoscaling ---------------------------------------------------------------------------------------------
SCALING_NAMESPACE = "sagemaker"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
INVOCATIONS_METRIC = "SageMakerVariantInvocationsPerInstance"
BACKLOG_METRIC = "ApproximateBacklogSizePerInstance"
SAGEMAKER_METRIC_NAMESPACE = "AWS/SageMaker"
DEFAULT_SCALE_IN_COOLDOWN_S = 300
DEFAULT_SCALE_OUT_COOLDOWN_S = 60
DEFAULT_TARGET_VALUE = 10.0

# --- invoke --------------------------------------------------------------------------------------------------
CUSTOM_ATTRIBUTES_MAX = 1024
REALTIME_PAYLOAD_MAX = 6 * 1024 * 1024
DEFAULT_AUDIO_CONTENT_TYPE = "application/octet-stream"
MULTIPART_FIELD = "file"
# Async inputs are staged under the endpoint's own output path (its role writes there), else the default bucket.
ASYNC_STAGING_SUBPREFIX = "inputs/"
DEFAULT_ASYNC_STAGING_PREFIX = "whisper-lmi/async-inputs/"
DEFAULT_ASYNC_POLL_S = 5.0
DEFAULT_ASYNC_WAIT_S = 900.0

# --- logs ----------------------------------------------------------------------------------------------------
LOG_GROUP_PREFIX = "/aws/sagemaker/Endpoints/"
DEFAULT_LOG_LIMIT = 100
DEFAULT_LOG_STREAMS = 10  # the newest streams (one per instance and container) whose events are merged

# --- batch transform -----------------------------------------------------------------------------------------
TRANSFORM_MAX_PAYLOAD_MB = 64  # DJL's default request limit
TRANSFORM_INVOCATION_TIMEOUT_S = 3600

# --- local ---------------------------------------------------------------------------------------------------
LOCAL_PORT = 8080
LOCAL_SHM_SIZE = "12g"
CONTAINER_COMMAND = "serve"  # what SageMaker passes to a hosting container
