"""Names and defaults used by the SageMaker tool, each defined once."""

from __future__ import annotations

from scripts.paths import PROJECT_ROOT

# --- artifact ------------------------------------------------------------------------------------------------
PROPERTIES_FILE = "serving.properties"
REQUIREMENTS_FILE = "requirements.txt"
SERVING_PACKAGE = "serving"
ENTRY_POINT_KEY = "option.entryPoint"
MODEL_ID_KEY = "option.model_id"
DEFAULT_ARTIFACT_DIR = PROJECT_ROOT / "build" / "sagemaker-artifact"
EXCLUDED_DIR_NAMES = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
# Packages of serving/ that are development stand-ins, never shipped: in the container ``serving.djl_compat`` must
# import the real ``djl_python`` or fail, not fall back to the stand-in and hide why.
EXCLUDED_SERVING_PACKAGES = frozenset({"djl_standin"})
# Packages the LMI image already has; reinstalling them at worker start costs minutes.
FORBIDDEN_REQUIREMENTS = frozenset({"torch", "transformers"})
REQUIRED_PROPERTIES = {"engine": "Python", "option.rolling_batch": "disable"}

# --- S3 ------------------------------------------------------------------------------------------------------
WEIGHTS_SUBPREFIX = "weights/"
MODEL_DIR_IN_CONTAINER = "/opt/ml/model"
# Weights under the artifact prefix are mounted with it: model_id points at the local copy, no network needed.
WEIGHTS_DIR_IN_CONTAINER = f"{MODEL_DIR_IN_CONTAINER}/weights"
SHA256_METADATA_KEY = "sha256"
MULTIPART_THRESHOLD = 8 * 1024 * 1024
MULTIPART_CHUNK = 8 * 1024 * 1024
DEFAULT_UPLOAD_CONCURRENCY = 8
ASYNC_INPUT_SUBPREFIX = "async-input/"
ASYNC_OUTPUT_SUBPREFIX = "async-output/"
ASYNC_FAILURE_SUBPREFIX = "async-failure/"

# --- SageMaker -----------------------------------------------------------------------------------------------
DEFAULT_NAME = "whisper"
DEFAULT_VARIANT = "AllTraffic"
DEFAULT_INSTANCE_TYPE = "ml.g5.xlarge"
DEFAULT_INSTANCE_COUNT = 1
DEFAULT_STARTUP_TIMEOUT_S = 1800  # >= model loading (the LMI image allows 1200 s) plus pip install
DEFAULT_DOWNLOAD_TIMEOUT_S = 1800
DEFAULT_TENSOR_PARALLEL_DEGREE = "1"
DEFAULT_POLL_S = 15.0
DEFAULT_ENDPOINT_WAIT_S = 3600
ROLE_ENV_VAR = "WHISPER_LMI_ROLE_ARN"
TAG_KEY = "project"
TAG_VALUE = "whisper-lmi"

# --- autoscaling ---------------------------------------------------------------------------------------------
SCALING_NAMESPACE = "sagemaker"
SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
INVOCATIONS_METRIC = "SageMakerVariantInvocationsPerInstance"
BACKLOG_METRIC = "ApproximateBacklogSizePerInstance"
SAGEMAKER_METRIC_NAMESPACE = "AWS/SageMaker"
DEFAULT_SCALE_IN_COOLDOWN_S = 300
DEFAULT_SCALE_OUT_COOLDOWN_S = 60

# --- invoke --------------------------------------------------------------------------------------------------
CUSTOM_ATTRIBUTES_MAX = 1024
REALTIME_PAYLOAD_MAX = 6 * 1024 * 1024
DEFAULT_AUDIO_CONTENT_TYPE = "application/octet-stream"
MULTIPART_FIELD = "file"

# --- batch transform -----------------------------------------------------------------------------------------
TRANSFORM_MAX_PAYLOAD_MB = 64  # DJL's default request limit
TRANSFORM_INVOCATION_TIMEOUT_S = 3600

# --- local ---------------------------------------------------------------------------------------------------
LOCAL_PORT = 8080
LOCAL_SHM_SIZE = "12g"
CONTAINER_COMMAND = "serve"  # what SageMaker passes to a hosting container
