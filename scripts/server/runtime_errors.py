"""SageMaker Runtime's error responses, in the rest-json shape botocore parses for ``sagemaker-runtime``: the error
code in the ``x-amzn-ErrorType`` header and the modelled fields in the JSON body, so that boto3 raises
``client.exceptions.ModelError`` (with ``OriginalStatusCode``/``OriginalMessage``) or ``ValidationError``."""

from __future__ import annotations

import json
import uuid

from starlette.responses import Response

ERROR_TYPE_HEADER = "x-amzn-ErrorType"
REQUEST_ID_HEADER = "x-amzn-RequestId"
MODEL_ERROR = "ModelError"
MODEL_ERROR_STATUS = 424  # ModelError's httpStatusCode in the service model
VALIDATION_ERROR = "ValidationError"
VALIDATION_ERROR_STATUS = 400
INTERNAL_FAILURE = "InternalFailure"
INTERNAL_FAILURE_STATUS = 500
CLIENT_ERROR_FROM_MODEL = "CLIENT_ERROR_FROM_MODEL"
SERVER_ERROR_FROM_MODEL = "SERVER_ERROR_FROM_MODEL"
LOCAL_ACCOUNT = "123456789012"  # what "account" means for the local stand-in (no AWS account behind it)


def model_error(status: int, original: bytes) -> Response:
    """The container answered ``status`` >= 400: SageMaker's ModelError (424) carrying the container's status and
    body, with its message worded as SageMaker words it."""
    text = original.decode("utf-8", errors="replace")
    side = "client" if status < 500 else "server"
    body = {
        "ErrorCode": CLIENT_ERROR_FROM_MODEL if status < 500 else SERVER_ERROR_FROM_MODEL,
        "Message": f'Received {side} error ({status}) from primary with message "{text}". '
                   "See the local server's log for more information.",
        "OriginalMessage": text,
        "OriginalStatusCode": status,
    }
    return _error(MODEL_ERROR, MODEL_ERROR_STATUS, body)


def validation_error(message: str) -> Response:
    """A request SageMaker itself refuses (unknown endpoint, missing InputLocation, ...)."""
    return _error(VALIDATION_ERROR, VALIDATION_ERROR_STATUS, {"message": message})


def internal_failure(message: str) -> Response:
    return _error(INTERNAL_FAILURE, INTERNAL_FAILURE_STATUS, {"message": message})


def endpoint_not_found(name: str) -> Response:
    return validation_error(f"Endpoint {name} of account {LOCAL_ACCOUNT} not found.")


def request_id_headers() -> dict[str, str]:
    return {REQUEST_ID_HEADER: str(uuid.uuid4())}


def _error(code: str, status: int, body: dict) -> Response:
    headers = {ERROR_TYPE_HEADER: code, **request_id_headers()}
    return Response(json.dumps(body), status_code=status, media_type="application/json", headers=headers)
