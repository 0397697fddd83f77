"""InvokeEndpointAsync on the local server, as SageMaker's asynchronous inference runs it: the request names its
input in S3 (X-Amzn-SageMaker-InputLocation) and is answered at once with 202, its InferenceId and where the result
will be (X-Amzn-SageMaker-OutputLocation, or X-Amzn-SageMaker-FailureLocation when it fails); then, in the
background, the input is read from S3, sent to the container's ``/invocations`` (Content-Type from
X-Amzn-SageMaker-Content-Type, Accept from X-Amzn-SageMaker-Accept, the custom attributes), and the container's
body written to ``<output>/<InferenceId>.out`` (status < 400) or ``<failure>/<InferenceId>-error.out``.

S3 is reached with a plain ``boto3.client("s3")``: its endpoint, region and credentials come from the standard AWS
configuration (``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` for a local S3 such as moto). The locations come from
the server's options ``--async-output`` and ``--async-failure`` (the endpoint's AsyncInferenceConfig)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from functools import cached_property

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from scripts.server.config import RuntimeOptions
from scripts.server.container import Invoke, container_request, response_body
from scripts.server.runtime_errors import request_id_headers, validation_error

logger = logging.getLogger(__name__)

ACCEPTED = 202
INPUT_LOCATION = "x-amzn-sagemaker-inputlocation"
INFERENCE_ID = "x-amzn-sagemaker-inference-id"
PATH_EXTENSION = "x-amzn-sagemaker-s3outputpathextension"
FILENAME = "x-amzn-sagemaker-filename"
OUTPUT_LOCATION_HEADER = "X-Amzn-SageMaker-OutputLocation"
FAILURE_LOCATION_HEADER = "X-Amzn-SageMaker-FailureLocation"
# Request header (lower case) -> the header the container receives.
CONTAINER_HEADERS = {
    "x-amzn-sagemaker-content-type": "content-type",
    "x-amzn-sagemaker-accept": "accept",
    "x-amzn-sagemaker-custom-attributes": "x-amzn-sagemaker-custom-attributes",
}
S3_SCHEME = "s3://"
OUTPUT_SUFFIX = ".out"
FAILURE_SUFFIX = "-error.out"


class BadLocation(ValueError):
    """Not an ``s3://bucket/key`` URI."""


@dataclass(frozen=True)
class S3Location:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        if not uri.startswith(S3_SCHEME):
            raise BadLocation(f"{uri!r} is not an s3:// URI")
        bucket, _, key = uri[len(S3_SCHEME):].partition("/")
        if not bucket:
            raise BadLocation(f"{uri!r} names no bucket")
        return cls(bucket, key)

    def child(self, *parts: str) -> S3Location:
        """``parts`` joined under this prefix, one ``/`` between each."""
        segments = [self.key.strip("/"), *(part.strip("/") for part in parts)]
        return S3Location(self.bucket, "/".join(segment for segment in segments if segment))

    def __str__(self) -> str:
        return f"{S3_SCHEME}{self.bucket}/{self.key}"


@dataclass(frozen=True)
class Job:
    inference_id: str
    input: S3Location
    output: S3Location
    failure: S3Location
    headers: list[tuple[str, str]]  # what the container receives


class S3Store:
    """Blocking S3 reads and writes (run in a thread)."""

    @cached_property
    def _client(self):
        import boto3

        return boto3.client("s3")

    def get(self, location: S3Location) -> bytes:
        return self._client.get_object(Bucket=location.bucket, Key=location.key)["Body"].read()

    def put(self, location: S3Location, body: bytes, content_type: str) -> None:
        self._client.put_object(Bucket=location.bucket, Key=location.key, Body=body, ContentType=content_type)


class AsyncInvocations:
    def __init__(self, invoke: Invoke, options: RuntimeOptions, store: S3Store | None = None) -> None:
        self._invoke = invoke
        self._options = options
        self._store = store or S3Store()

    async def invoke(self, request: Request) -> Response:
        """Validate, answer 202 with the locations, and run the job once the answer is sent."""
        if self._options.async_output is None:
            return validation_error("Endpoint is not configured for asynchronous inference "
                                    "(start the local server with --async-output s3://bucket/prefix/)")
        try:
            job = self._job(request)
        except BadLocation as exc:
            return validation_error(f"InputLocation: {exc}")
        except KeyError as exc:
            return validation_error(f"{exc.args[0]} is required")
        headers = {OUTPUT_LOCATION_HEADER: str(job.output), FAILURE_LOCATION_HEADER: str(job.failure),
                   **request_id_headers()}
        return JSONResponse({"InferenceId": job.inference_id}, status_code=ACCEPTED, headers=headers,
                            background=BackgroundTask(self.run, job))

    def _job(self, request: Request) -> Job:
        if INPUT_LOCATION not in request.headers:
            raise KeyError("X-Amzn-SageMaker-InputLocation")
        inference_id = request.headers.get(INFERENCE_ID) or str(uuid.uuid4())
        extension = request.headers.get(PATH_EXTENSION, "")
        output_prefix = S3Location.parse(self._options.async_output)
        failure_prefix = S3Location.parse(self._options.async_failure or self._options.async_output)
        headers = [(CONTAINER_HEADERS[key], value) for key, value in request.headers.items()
                   if key in CONTAINER_HEADERS]
        return Job(
            inference_id=inference_id,
            input=S3Location.parse(request.headers[INPUT_LOCATION]),
            output=output_prefix.child(extension, request.headers.get(FILENAME) or inference_id + OUTPUT_SUFFIX),
            failure=failure_prefix.child(extension, inference_id + FAILURE_SUFFIX),
            headers=headers,
        )

    async def run(self, job: Job) -> None:
        """Read the input, call the container, write its answer where the 202 said it would be."""
        try:
            body = await asyncio.to_thread(self._store.get, job.input)
        except Exception as exc:  # noqa: BLE001 - any S3 failure is this job's failure, written where promised
            logger.warning("async inference %s: cannot read %s: %s", job.inference_id, job.input, exc)
            await self._put(job.failure, f"cannot read the input {job.input}: {exc}".encode(), "text/plain")
            return
        response = await self._invoke(container_request(job.headers, body))
        answer = await response_body(response)
        content_type = response.headers.get("content-type", "application/octet-stream")
        target = job.output if response.status_code < 400 else job.failure
        await self._put(target, answer, content_type)
        logger.info("async inference %s: %d, written to %s", job.inference_id, response.status_code, target)

    async def _put(self, location: S3Location, body: bytes, content_type: str) -> None:
        try:
            await asyncio.to_thread(self._store.put, location, body, content_type)
        except Exception:  # noqa: BLE001 - nobody is left to answer: the log is the only place for it
            logger.exception("async inference: cannot write %s", location)

