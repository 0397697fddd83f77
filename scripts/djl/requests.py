"""One unbatched request as ``handle()`` receives it: the HTTP request parsed (``scripts.djl.http``), then handed to
the Python engine (``scripts.djl.engine``)."""

from __future__ import annotations

from typing import Mapping, Sequence, Union

from scripts.djl.engine import EngineContext, to_python
from scripts.djl.http import Headers, form_request, http_request
from serving.djl_compat import Input


def request_input(body: bytes,
                  headers: Union[Headers, None],
                  model_dir: str = "/opt/ml/model",
                  device_id: str = "-1",
                  *,
                  query=None,
                  request_id: Union[str, None] = None,
                  request_id_header: str = "x-request-id",
                  cluster_size: Union[int, None] = 1,
                  handler: str = "handle") -> Input:
    """One unbatched request as ``handle()`` receives it (see :func:`http_request`).

    Properties: the headers / custom attributes, ``requestId``, ``handler`` (all sorted
    case-insensitively), then ``cluster_size`` (int 1), ``device_id``, ``model_dir``.
    """
    java = http_request(body, headers, query=query, request_id=request_id,
                        request_id_header=request_id_header)
    ctx = EngineContext(model_dir=model_dir, device_id=str(device_id),
                        cluster_size=cluster_size, handler=handler)
    return to_python(java, ctx)


def multipart_input(fields: Union[Mapping[str, Union[bytes, str]], Sequence[tuple]],
                    headers: Union[Headers, None] = None,
                    model_dir: str = "/opt/ml/model",
                    device_id: str = "-1",
                    *,
                    urlencoded: bool = False,
                    query=None,
                    request_id: Union[str, None] = None,
                    cluster_size: Union[int, None] = 1,
                    handler: str = "handle") -> Input:
    """A form request as ``handle()`` receives it (see :func:`form_request`)."""
    java = form_request(fields, headers, urlencoded=urlencoded, query=query,
                        request_id=request_id)
    ctx = EngineContext(model_dir=model_dir, device_id=str(device_id),
                        cluster_size=cluster_size, handler=handler)
    return to_python(java, ctx)
