"""A SageMaker Runtime stand-in, so that ``boto3.client("sagemaker-runtime", endpoint_url=<this server>)`` (or
``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``) works unchanged against the local server:

* ``POST /endpoints/{name}/invocations`` (InvokeEndpoint): Content-Type, Accept and
  X-Amzn-SageMaker-Custom-Attributes go to the container's ``/invocations`` as SageMaker forwards them (nothing
  else: no signature, no SDK headers); the answer comes back with its Content-Type and
  ``x-Amzn-Invoked-Production-Variant``; a container status >= 400 becomes SageMaker's ModelError.
* ``POST /endpoints/{name}/invocations-response-stream`` (InvokeEndpointWithResponseStream): the same request
  (Accept from X-Amzn-SageMaker-Accept); each chunk of the container's response becomes a ``PayloadPart`` event
  (:mod:`scripts.server.eventstream`), its content type in X-Amzn-SageMaker-Content-Type; a response that breaks
  off mid-way ends with the ``ModelStreamError`` exception event.
* ``POST /endpoints/{name}/async-invocations`` (InvokeEndpointAsync): :mod:`scripts.server.async_invocations`.

The endpoint name is checked against ``RuntimeOptions.endpoint_name`` when that is set (else any name is served).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from scripts.server import eventstream
from scripts.server.async_invocations import AsyncInvocations
from scripts.server.config import RuntimeOptions
from scripts.server.container import Invoke, as_bytes, forwarded, response_body
from scripts.server.runtime_errors import endpoint_not_found, model_error, request_id_headers

logger = logging.getLogger(__name__)

CUSTOM_ATTRIBUTES = "x-amzn-sagemaker-custom-attributes"
VARIANT_HEADER = "x-Amzn-Invoked-Production-Variant"
STREAM_CONTENT_TYPE_HEADER = "X-Amzn-SageMaker-Content-Type"
STREAM_ACCEPT = "x-amzn-sagemaker-accept"
# Request header (lower case) -> the header the container receives.
INVOKE_HEADERS = {"content-type": "content-type", "accept": "accept", CUSTOM_ATTRIBUTES: CUSTOM_ATTRIBUTES}
STREAM_HEADERS = {"content-type": "content-type", STREAM_ACCEPT: "accept", CUSTOM_ATTRIBUTES: CUSTOM_ATTRIBUTES}
DEFAULT_CONTENT_TYPE = "application/octet-stream"


def runtime_routes(invoke: Invoke, options: RuntimeOptions) -> list[Route]:
    """The three runtime API routes, calling the container through ``invoke`` (the app's own ``/invocations``)."""
    async_invocations = AsyncInvocations(invoke, options)

    def endpoint(handler: Callable[[Request], Awaitable[Response]]):
        async def route(request: Request) -> Response:
            name = request.path_params["name"]
            if options.endpoint_name is not None and name != options.endpoint_name:
                return endpoint_not_found(name)
            return await handler(request)

        return route

    async def invoke_endpoint(request: Request) -> Response:
        response = await invoke(forwarded(request, INVOKE_HEADERS))
        body = await response_body(response)
        if response.status_code >= 400:
            return model_error(response.status_code, body)
        headers = {**_passed_back(response), VARIANT_HEADER: options.variant, **request_id_headers()}
        return Response(body, status_code=200, headers=headers,
                        media_type=response.headers.get("content-type", DEFAULT_CONTENT_TYPE))

    async def invoke_with_response_stream(request: Request) -> Response:
        response = await invoke(forwarded(request, STREAM_HEADERS))
        if response.status_code >= 400:
            return model_error(response.status_code, await response_body(response))
        headers = {**_passed_back(response), VARIANT_HEADER: options.variant, **request_id_headers(),
                   STREAM_CONTENT_TYPE_HEADER: response.headers.get("content-type", DEFAULT_CONTENT_TYPE)}
        return StreamingResponse(_events(response), status_code=200, headers=headers,
                                 media_type=eventstream.CONTENT_TYPE)

    return [
        Route("/endpoints/{name}/invocations", endpoint(invoke_endpoint), methods=["POST"]),
        Route("/endpoints/{name}/invocations-response-stream", endpoint(invoke_with_response_stream),
              methods=["POST"]),
        Route("/endpoints/{name}/async-invocations", endpoint(async_invocations.invoke), methods=["POST"]),
    ]


def _passed_back(response: Response) -> dict[str, str]:
    """The container's custom attributes come back to the caller, as SageMaker returns them."""
    value = response.headers.get(CUSTOM_ATTRIBUTES)
    return {"X-Amzn-SageMaker-Custom-Attributes": value} if value is not None else {}


async def _events(response: Response) -> AsyncIterator[bytes]:
    if not isinstance(response, StreamingResponse):
        yield eventstream.payload_part(bytes(response.body))
        return
    try:
        async for chunk in response.body_iterator:
            yield eventstream.payload_part(as_bytes(chunk))
    except Exception as exc:  # noqa: BLE001 - whatever broke the model's response, the stream ends with the event
        logger.exception("the model's streamed response broke off")
        yield eventstream.model_stream_error(f"the model's response broke off: {exc}")

