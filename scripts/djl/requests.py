"""Build ``Input`` objects exactly as DJL Serving hands them to the Python engine, and
split an ``Output`` back into HTTP responses the way the Java side does.

This is NOT ``djl_python.test_model`` (which merges serving.properties into every
request and uses ``batch_000_data`` keys); it follows the real server path, read in
deepjavalibrary/djl-serving at d21927c4a692335fba62a87cc430a5fc00c5f790 (= v0.36.0 + 24
commits; unchanged since v0.36.0) and deepjavalibrary/djl ``api/.../modality/Input.java``:

Request path (HTTP -> handle):
  ``serving/.../http/RequestParser.java``   query params -> content; headers -> properties;
                                            custom attributes split; body -> content "data";
                                            forms -> one content entry per field
  ``serving/.../http/InferenceRequestHandler.java`` adds property ``requestId``
  ``engines/python/.../PyPredictor.java``   dynamic batch -> ``batch_NNN.<key>``
  ``engines/python/.../PyProcess.java``     adds ``handler`` (default "handle")
  ``engines/python/.../Connection.java``    wire encoding (``RequestEncoder``)
  ``djl_python/python_sync_engine.py``      adds ``cluster_size``/tp/pp, ``device_id``
  ``djl_python/service_loader.py``          adds ``model_dir`` right before ``handle``

Java ``Input`` properties are a ``TreeMap(String.CASE_INSENSITIVE_ORDER)``: keys are
case-insensitively unique (first spelling kept, last value wins) and reach Python sorted
case-insensitively. The initial (model-load) Input instead uses a ``ConcurrentHashMap``
(case-sensitive, unspecified order); here it is kept in insertion order.

Everything goes through the real wire format: Java-side data is encoded like
``Connection.RequestEncoder`` and decoded with ``Input().read()`` (so content values are
``bytearray`` and a null key arrives as ``None``), and ``outputs_of`` runs
``Output.send()`` and decodes like ``Connection.OutputDecoder`` then ``PyPredictor``.
It therefore works the same with the real ``djl_python`` and with ``serving.djl_standin``.

Async mode (``option.async_mode=true``; read at the same commit): ``engines/python/.../AsyncRequestManager.java``
(adds ``request_tracking_id``, routes each Output), ``Request.java`` (``addResponse``: the binary-encoded
``data``/``last``/``code``/``error`` item), ``serving/.../InferenceRequestHandler.java`` (``sendOutput``: status and
headers with the first chunk; a first chunk that is also the last is a plain response) and
``djl_python/python_async_engine.py`` (``invoke_handler``).
"""

from __future__ import annotations

import json
import re
import struct
import uuid
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence, Union

from serving.djl_compat import Input, Output

__all__ = [
    "AsyncReply",
    "CUSTOM_ATTRIBUTES_HEADER",
    "DjlHttpError",
    "DjlWorkerError",
    "DjlResponse",
    "EngineContext",
    "JavaInput",
    "JavaProperties",
    "async_request",
    "batch_input",
    "form_request",
    "http_request",
    "initial_input",
    "multipart_input",
    "outputs_of",
    "request_input",
    "to_python",
]

CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"
# CodecUtils.MAX_BUFFER_SIZE (override: MAX_NETTY_BUFFER_SIZE): limit per content item
# that Python sends back; larger items make the Java decoder drop the connection.
MAX_RESPONSE_ITEM_BYTES = 20 * 1024 * 1024
_BATCH_OUTPUT_KEY = re.compile(r"batch_(\d+)\.(.*)")  # PyPredictor.BATCH_PATTERN

Headers = Union[Mapping[str, str], Sequence[tuple]]


class DjlHttpError(Exception):
    """DJL answers the client itself with ``code``; ``handle()`` output is not used."""

    def __init__(self, code: int, message: str):
        super().__init__(f"HTTP {code}: {message}")
        self.code = code
        self.message = message


class DjlWorkerError(RuntimeError):
    """An unchecked Java exception in PyPredictor (NPE, index out of range): the worker
    thread dies and waiting clients get a WlmException (503 by default)."""


# --------------------------------------------------------------------------- Java side
def _java_ci_char(c: str) -> str:
    # String.CASE_INSENSITIVE_ORDER compares toLowerCase(toUpperCase(c)) per char
    upper = c.upper()
    if len(upper) != 1:
        upper = c
    lower = upper.lower()
    return lower if len(lower) == 1 else upper


def _java_ci_key(text: str) -> tuple:
    return tuple(ord(_java_ci_char(c)) for c in text)


class JavaProperties:
    """``new TreeMap<String, String>(String.CASE_INSENSITIVE_ORDER)``."""

    def __init__(self, items: Iterable[tuple] = ()):
        self._entries: dict[tuple, list] = {}
        for key, value in items:
            self.put(key, value)

    def put(self, key: str, value: str) -> None:
        slot = self._entries.get(_java_ci_key(key))
        if slot is None:
            self._entries[_java_ci_key(key)] = [key, value]
        else:  # TreeMap.put keeps the stored key, replaces the value
            slot[1] = value

    def get(self, key: str, default=None):
        slot = self._entries.get(_java_ci_key(key))
        return default if slot is None else slot[1]

    def __contains__(self, key: str) -> bool:
        return _java_ci_key(key) in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def items(self) -> list[tuple]:
        return [tuple(self._entries[k]) for k in sorted(self._entries)]

    def to_dict(self) -> dict:
        return dict(self.items())


@dataclass
class JavaInput:
    """An ``ai.djl.modality.Input`` as the Java side holds it before it goes to Python."""

    properties: Union[JavaProperties, dict] = field(default_factory=JavaProperties)
    content: list = field(default_factory=list)  # [(key or None, bytes)]

    def add_property(self, key: str, value: str) -> None:
        if isinstance(self.properties, JavaProperties):
            self.properties.put(key, value)
        else:
            self.properties[key] = value

    def get_property(self, key: str, default=None):
        return self.properties.get(key, default)

    def copy(self) -> "JavaInput":
        if isinstance(self.properties, JavaProperties):
            props = JavaProperties(self.properties.items())
        else:
            props = dict(self.properties)
        clone = JavaInput(props, list(self.content))
        clone.__dict__.update({k: v for k, v in self.__dict__.items()
                               if k not in ("properties", "content")})
        return clone

    def add(self, key, value: Union[bytes, str]) -> None:
        if isinstance(value, str):
            value = value.encode("utf-8")
        self.content.append((key, bytes(value)))


@dataclass
class EngineContext:
    """What the Python engine process knows from its command line (Connection.java
    ``getPythonStartCmd``): non-MPI single node passes ``--device-id`` and
    ``--cluster-size`` (argparse int -> property value is the int ``1``); single-node
    MPI mode passes tp/pp degrees (ints, added as properties) and neither cluster size
    nor device id (``device_id`` stays ``"-1"``)."""

    model_dir: str = "/opt/ml/model"
    device_id: str = "-1"
    cluster_size: Union[int, None] = 1
    tensor_parallel_degree: Union[int, None] = None
    pipeline_parallel_degree: Union[int, None] = None
    handler: str = "handle"  # PyEnv.getHandler(): option.handler, default "handle"


# ----------------------------------------------------------------------- wire format
class _Wire:
    def __init__(self, data: bytes = b""):
        self.buffer = bytearray(data)
        self.pos = 0

    def recv(self, n: int) -> bytes:
        chunk = bytes(self.buffer[self.pos:self.pos + n])
        self.pos += len(chunk)
        return chunk

    def sendall(self, data) -> None:
        self.buffer += data

    # Java-side reads (CodecUtils)
    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.buffer):
            raise ValueError("truncated DJL frame")
        return self.recv(n)

    def read_short(self) -> int:
        return struct.unpack(">h", self._take(2))[0]

    def read_int(self) -> int:
        return struct.unpack(">i", self._take(4))[0]

    def read_byte(self) -> int:
        return self._take(1)[0]

    def read_bytes(self, limit: int = MAX_RESPONSE_ITEM_BYTES):
        size = self.read_int()
        if size < 0:
            return None
        if size > limit:
            raise DjlWorkerError(f"Message size exceed limit: {size}")
        return self._take(size)

    def read_utf8(self):
        size = self.read_int()
        return None if size < 0 else self._take(size).decode("utf-8")


def _utf8(value) -> bytes:
    if value is None:
        return struct.pack(">i", -1)
    raw = value.encode("utf-8")
    return struct.pack(">i", len(raw)) + raw


def _encode_request(java: JavaInput) -> bytes:
    """``Connection.RequestEncoder.encode``."""
    props = list(java.properties.items())
    out = bytearray(struct.pack(">h", len(props)))
    for key, value in props:
        out += _utf8(key) + _utf8(value)
    out += struct.pack(">h", len(java.content))
    for key, value in java.content:
        value = b"" if value is None else bytes(value)
        out += _utf8(key) + struct.pack(">i", len(value)) + value
    return bytes(out)


def to_python(java: JavaInput, ctx: Union[EngineContext, None] = None, **ctx_fields) -> Input:
    """Send ``java`` through PyProcess -> socket -> python_sync_engine -> ModelService."""
    ctx = ctx or EngineContext(**ctx_fields)
    sent = java.copy()  # keep ``java`` as the HTTP layer built it (for batch_input)
    if sent.get_property("handler") is None and ctx.handler is not None:
        sent.add_property("handler", ctx.handler)  # PyProcess.predictStandard
    inp = Input()
    inp.read(_Wire(_encode_request(sent)))  # also sets function_name from "handler"
    prop = inp.get_properties()
    # PythonSyncEngine._prepare_inputs
    if ctx.tensor_parallel_degree:
        prop["tensor_parallel_degree"] = ctx.tensor_parallel_degree
    if ctx.pipeline_parallel_degree:
        prop["pipeline_parallel_degree"] = ctx.pipeline_parallel_degree
    if ctx.cluster_size:
        prop["cluster_size"] = ctx.cluster_size
    prop["device_id"] = str(ctx.device_id)
    # (output_formatter / input_formatter are added too when model.py has functions
    #  decorated as such; not modelled.)
    # ModelService.invoke_handler
    prop["model_dir"] = ctx.model_dir
    inp._djl_origin = (java, ctx)
    return inp


# ----------------------------------------------------------------------- model load
def initial_input(options: Mapping[str, str],
                  batch_size: Union[int, None] = None,
                  *,
                  max_batch_delay: Union[int, None] = None,
                  engine: Union[str, None] = None,
                  env: Union[Mapping[str, str], None] = None,
                  model_dir: str = "/opt/ml/model",
                  device_id: str = "-1",
                  cluster_size: Union[int, None] = 1) -> Input:
    """The empty Input sent once at model load (PyProcess.startPythonProcess).

    ``options`` are serving.properties entries as written in the file
    (``option.entryPoint``, ``engine``, ``batch_size`` ...); keys without ``option.``
    are also accepted as-is. Properties that arrive (PyModel.load: options, then all
    model properties = ModelInfo "arguments"; ConcurrentHashMap, order unspecified):

    * every ``option.X`` with the prefix stripped, except ``option.env``;
    * every other serving.properties key unchanged (``engine``, ``batch_size``,
      ``max_batch_delay``, ``minWorkers``, ``job_queue_size`` ...), only if present;
    * ``max_dynamic_batch_size`` also sets ``batch_size`` (``batch_size`` wins if both);
    * ``batchifier=stack`` when the model batch size > 1 and none was given;
    * ``OPTION_X`` / ``ARGS_X`` env vars (upper-snake names lower-cased, never
      overriding the file; ``OPTION_ENGINE`` -> ``engine``, ``OPTION_ENTRYPOINT`` ->
      ``entryPoint``) and the SageMaker translations of ``SAGEMAKER_STARTUP_TIMEOUT``,
      ``SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS``, ``SAGEMAKER_NUM_MODEL_WORKERS``;
    * ``handler`` (= option.handler or ``"handle"``), then Python adds ``cluster_size``
      (int), ``device_id``, ``model_dir``.

    Not modelled: LMI auto-configuration (``LmiConfigRecommender``) which, when the model
    dir has ``config.json`` or ``option.model_id`` is set, adds ``rolling_batch``,
    ``pipeline_parallel_degree``, ``tensor_parallel_degree``, ``max_rolling_batch_size``
    and possibly ``async_mode``; nor the server-wide default batch size.

    NOTE: with ``batch_size > 1`` this empty Input has ``is_batch() == True``.
    """
    prop: dict[str, str] = {}
    for key, value in options.items():
        prop[key] = str(value)
    if batch_size is not None:
        prop["batch_size"] = str(batch_size)
    if max_batch_delay is not None:
        prop["max_batch_delay"] = str(max_batch_delay)
    if engine is not None:
        prop["engine"] = engine
    for key, value in (env or {}).items():  # ModelInfo.loadServingProperties
        if not value:
            continue
        for prefix in ("OPTION_", "ARGS_"):
            if key.startswith(prefix):
                name = key[len(prefix):]
                if re.fullmatch(r"[A-Z_\d]+", name):
                    name = name.lower()
                if prefix == "OPTION_":
                    if name == "entrypoint":
                        name = "entryPoint"
                    elif name == "engine":
                        prop.setdefault("engine", value)
                        continue
                    prop.setdefault("option." + name, value)
                else:
                    prop.setdefault(name, value)
    env = env or {}
    if "SAGEMAKER_NUM_MODEL_WORKERS" in env:  # SageMakerCompatibility
        prop["minWorkers"] = prop["maxWorkers"] = env["SAGEMAKER_NUM_MODEL_WORKERS"]
    if "SAGEMAKER_STARTUP_TIMEOUT" in env:
        prop["option.model_loading_timeout"] = env["SAGEMAKER_STARTUP_TIMEOUT"]
    if "SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS" in env:
        prop["option.predict_timeout"] = env["SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS"]

    # ModelInfo.configPerModelSettings
    model_batch = int(prop.get("max_dynamic_batch_size", "1"))
    model_batch = int(prop.get("batch_size", model_batch))
    if "max_dynamic_batch_size" in prop:
        prop["batch_size"] = str(model_batch)

    opts = {k[len("option."):]: v for k, v in prop.items() if k.startswith("option.")}
    args = {k: v for k, v in prop.items() if not k.startswith("option.")}
    if model_batch > 1 and "batchifier" not in args:
        args["batchifier"] = "stack"  # ModelInfo.load -> Criteria argument

    params: dict[str, str] = {}
    for key, value in opts.items():  # PyModel.load
        if key != "env":
            params[key] = value
    params.update(args)  # properties.forEach(pyEnv::addParameter)
    ctx = EngineContext(model_dir=model_dir, device_id=str(device_id),
                        cluster_size=cluster_size, handler=opts.get("handler", "handle"))
    return to_python(JavaInput(properties=params, content=[]), ctx)


# --------------------------------------------------------------------------- requests
def _header_items(headers: Union[Headers, None]) -> list[tuple]:
    if headers is None:
        return []
    if isinstance(headers, Mapping):
        return list(headers.items())
    return [tuple(h) for h in headers]


def _query_items(query) -> list[tuple]:
    if query is None:
        return []
    items = query.items() if isinstance(query, Mapping) else query
    grouped: dict = {}  # QueryStringDecoder.parameters(): key -> [values], first-seen order
    for key, value in items:
        values = value if isinstance(value, (list, tuple)) else [value]
        grouped.setdefault(key, []).extend(values)
    return [(key, v) for key, values in grouped.items() for v in values]


def _parse_http(headers: Union[Headers, None],
                query,
                request_id: Union[str, None],
                request_id_header: str,
                allow_handler_override: bool) -> JavaInput:
    java = JavaInput()
    for key, value in _query_items(query):  # query params come first, as content
        java.add(key, str(value))
    header_items = _header_items(headers)
    for key, value in header_items:
        if key.lower() == CUSTOM_ATTRIBUTES_HEADER.lower():
            for token in _java_split(value, ";"):
                pair = token.split("=", 1)
                if len(pair) == 2:
                    java.add_property(_java_trim(pair[0]), _java_trim(pair[1]))
        else:
            java.add_property(key, value)
    if request_id is None:  # Session: header value, else a random UUID
        request_id = next((v for k, v in header_items
                           if k.lower() == request_id_header.lower()),
                          "00000000-0000-4000-8000-000000000000")
    java._request_id = request_id
    java._allow_handler_override = allow_handler_override
    return java


_JAVA_TRIM_CHARS = "".join(chr(i) for i in range(0x21))


def _java_trim(text: str) -> str:
    """``String.trim()``: strips code points <= U+0020 only."""
    return text.strip(_JAVA_TRIM_CHARS)


def _java_split(text: str, sep: str) -> list[str]:
    """``String.split(sep)``: trailing empty strings are removed."""
    parts = text.split(sep)
    while parts and parts[-1] == "":
        parts.pop()
    return parts if parts else ([text] if text == "" else [])


def _finish_http(java: JavaInput) -> JavaInput:
    if "handler" in java.properties and not java._allow_handler_override:
        raise DjlHttpError(400, "The handler can't be overridden in a request")
    java.add_property("requestId", java._request_id)  # InferenceRequestHandler
    return java


def http_request(body: bytes = b"",
                 headers: Union[Headers, None] = None,
                 *,
                 query=None,
                 request_id: Union[str, None] = None,
                 request_id_header: str = "x-request-id",
                 allow_handler_override: bool = False) -> JavaInput:
    """``RequestParser.parseRequest`` for a non-form body (+ ``requestId``).

    Each header becomes a property named as sent (case-insensitively unique, last value
    wins); ``X-Amzn-SageMaker-Custom-Attributes`` is split on ``;``, each token on the
    first ``=``, both sides trimmed, tokens without ``=`` dropped, and the raw header is
    NOT kept. The body is content ``"data"`` (even when empty). Query parameters are
    content entries (UTF-8 strings) placed before ``"data"``. ``requestId`` is the value
    of ``request_id_header`` (``x-request-id``; ``X-Amzn-SageMaker-Inference-Id`` on
    SageMaker) or a random UUID. Content type is not inspected here: for
    ``multipart/form-data`` or ``application/x-www-form-urlencoded`` use
    :func:`form_request`.
    """
    java = _parse_http(headers, query, request_id, request_id_header, allow_handler_override)
    java.add("data", bytes(body))
    return _finish_http(java)


def form_request(fields: Union[Mapping[str, Union[bytes, str]], Sequence[tuple]],
                 headers: Union[Headers, None] = None,
                 *,
                 urlencoded: bool = False,
                 boundary: str = "djl-test-boundary",
                 query=None,
                 request_id: Union[str, None] = None,
                 request_id_header: str = "x-request-id",
                 allow_handler_override: bool = False) -> JavaInput:
    """``RequestParser`` + ``NettyUtils.addFormData`` for a form body.

    One content entry per form part, in order, keyed by the field name: text fields
    (``str``) as UTF-8, file parts (``bytes``) as raw bytes. File names and per-part
    content types are dropped; there is no ``"data"`` entry unless a field is named
    ``data``. A ``Content-Type`` header with the boundary is added if missing.
    """
    items = list(fields.items()) if isinstance(fields, Mapping) else list(fields)
    header_items = _header_items(headers)
    if not any(k.lower() == "content-type" for k, _ in header_items):
        ctype = ("application/x-www-form-urlencoded" if urlencoded else
                 f"multipart/form-data; boundary={boundary}")
        header_items.append(("Content-Type", ctype))
    java = _parse_http(header_items, query, request_id, request_id_header,
                       allow_handler_override)
    for name, value in items:
        java.add(name, value)
    return _finish_http(java)


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


def _batch_prefix(i: int) -> str:
    # PyPredictor: "batch_" + zero padding to 3 digits for i < 100 ("max 999" TODO)
    if i > 99:
        return f"batch_{i}."
    if i > 9:
        return f"batch_0{i}."
    return f"batch_00{i}."


def batch_input(requests: Sequence[Union[Input, JavaInput]],
                ctx: Union[EngineContext, None] = None) -> Input:
    """What ``handle()`` gets when DJL's batch aggregator hands N requests to
    ``PyPredictor.batchPredict``.

    ``requests`` are Inputs made by :func:`request_input` / :func:`multipart_input`
    (their Java-side form is used, not the Python-side additions) or :class:`JavaInput`.
    For N == 1 the single request is sent unbatched (no ``batch_size`` property).
    Otherwise the outer Input has ``batch_size=N``, every item property as
    ``batch_NNN.<name>`` and every content entry as ``batch_NNN.<key>`` (null key ->
    ``data``), all sorted case-insensitively; ``handler``, ``cluster_size``,
    ``device_id`` and ``model_dir`` exist only on the outer Input.
    """
    javas = []
    for req in requests:
        if isinstance(req, JavaInput):
            javas.append(req)
            continue
        origin = getattr(req, "_djl_origin", None)
        if origin is None:
            raise TypeError("batch_input needs Inputs from request_input/multipart_input "
                            "or JavaInput objects")
        javas.append(origin[0])
        if ctx is None:
            ctx = origin[1]
    ctx = ctx or EngineContext()
    if not javas:
        raise ValueError("empty batch")
    if len(javas) == 1:  # PyPredictor: a batch of one is sent as a plain request
        return to_python(javas[0], ctx)

    batch = JavaInput()
    batch.add_property("batch_size", str(len(javas)))
    for i, item in enumerate(javas):
        prefix = _batch_prefix(i)
        for key, value in item.properties.items():
            batch.add_property(prefix + key, value)
        for key, value in item.content:
            batch.content.append((prefix + ("data" if key is None else key), value))
    return to_python(batch, ctx)


# -------------------------------------------------------------------------- responses
@dataclass
class DjlResponse:
    """One HTTP response as ``InferenceRequestHandler.sendOutput`` builds it.

    ``properties`` are the Output properties that become response headers (folded
    case-insensitively, values ``str()``-ed; DJL adds no Content-Type of its own), ``body``
    is content ``"data"`` or else the first entry (other entries are dropped), ``chunks``
    is the list of streamed chunks for stream content (``None`` otherwise). Iterating
    yields ``(code, properties, body)``.
    """

    code: int
    properties: dict
    body: bytes
    message: str = "OK"
    chunks: Union[list, None] = None

    def __iter__(self):
        return iter((self.code, self.properties, self.body))


def _decode_output(raw: bytes):
    """``Connection.OutputDecoder.decode``."""
    wire = _Wire(raw)
    code = wire.read_short()
    message = wire.read_utf8()
    props = JavaProperties()
    for _ in range(wire.read_short()):
        key = wire.read_utf8()
        props.put(key, wire.read_utf8())
    size = wire.read_short()
    content, chunks = [], None
    if size == -1:
        chunks = []
        more = True
        while more:
            more = wire.read_byte() == 1
            chunk = wire.read_bytes()
            chunks.append(b"" if chunk is None else chunk)
        content.append((None, b"".join(chunks)))
    else:
        for _ in range(size):
            key = wire.read_utf8()
            content.append((key, wire.read_bytes()))
    return code, message, props, content, chunks


def _get_data(content: list):
    """``Input.getData()``: entry "data", else the first one, else None."""
    if not content:
        return None
    for key, value in content:
        if key == "data":
            return value
    return content[0][1]


def outputs_of(output: Output, batch: Union[Input, int, None] = None) -> list[DjlResponse]:
    """Decode ``output`` into the per-request HTTP responses (sync engine).

    ``batch`` is the Input ``handle()`` got (or its batch size); without it the output
    is treated as unbatched. Mirrors ``PyPredictor.batchPredict``:

    * code >= 300: every request gets the SAME whole response (code, message,
      properties, body = the error JSON);
    * otherwise the content must have exactly N entries keyed ``batch_<i>.<key>``, else
      all N requests fail with HTTP 400 (raised as :class:`DjlHttpError`); each request
      gets the shared code, message and properties (no per-item code/headers) and its
      own entries with the prefix removed.

    Stream content is consumed (``Output.send`` drains the iterator).
    """
    wire = _Wire()
    output.send(wire)
    code, message, props, content, chunks = _decode_output(bytes(wire.buffer))
    headers = props.to_dict()

    size = None
    if isinstance(batch, int):
        size = batch
    elif batch is not None and batch.is_batch():
        size = batch.get_batch_size()

    def response(items: list) -> DjlResponse:
        body = _get_data(items)
        return DjlResponse(code, dict(headers), b"" if body is None else bytes(body),
                           message, chunks)

    if size is None or size == 1:
        return [response(content)]
    if code >= 300:
        return [response(content) for _ in range(size)]
    if len(content) != size:
        raise DjlHttpError(
            400, f"Batch output size mismatch, expected: {size}, actual: {len(content)}")
    per_item: list[list] = [[] for _ in range(size)]
    for key, value in content:
        if key is None:
            raise DjlWorkerError("NullPointerException: batch output key is null")
        match = _BATCH_OUTPUT_KEY.fullmatch(key)
        if match is None:
            raise DjlHttpError(400, f"Unexpected batch output key: {key}")
        index = int(match.group(1))
        if index >= size:
            raise DjlWorkerError(f"IndexOutOfBoundsException: batch index {index}")
        per_item[index].append((match.group(2), value))
    return [response(items) for items in per_item]


# ------------------------------------------------------------------------------ async mode
REQUEST_TRACKING_ID = "request_tracking_id"
ASYNC_FAILURE_PREFIX = "Async Inference Failure "


def async_request(java: JavaInput, ctx: Union[EngineContext, None] = None) -> Input:
    """One request as the async ``handle`` receives it: ``AsyncRequestManager.addInput`` adds a fresh
    ``request_tracking_id``; no dynamic batching (``batch_size=1``)."""
    tracked = java.copy()
    tracked.add_property(REQUEST_TRACKING_ID, str(uuid.uuid4()))
    return to_python(tracked, ctx)


@dataclass
class AsyncReply:
    """One request's response in async mode, built from the Outputs its handler returns or yields, in order.

    ``add(output)`` applies one Output as ``AsyncRequestManager.addOutput`` does and returns the bytes it appends
    to the body (``None``: nothing yet):

    * code != 200: the response ends with that code and DJL's own body, GSON of ``new Output(code, "Async
      Inference Failure " + message)``, rendered here as ``{"code", "message"}``; the Output's properties (its
      Content-Type too) are NOT used;
    * else content entry 0 is the binary-encoded item (``Output.binary_encode``): its properties are added to the
      response's (all of them become headers, ``request_tracking_id`` included); an empty ``data`` that is not
      ``last`` appends nothing; with ``code`` the response ends with that status, message ``error`` and the body
      ``{"code": code, "error": error}`` (compact JSON, as GSON writes it); else ``data`` (UTF-8) is appended and
      ``last`` ends the response.

    ``InferenceRequestHandler.sendOutput`` sends the status and headers as they are when the first chunk is
    read; a first chunk that is also the last makes a plain (not chunked) response.
    """

    code: int = 200
    message: str = "OK"
    properties: dict = field(default_factory=dict)
    last: bool = False

    def add(self, output: Output) -> Union[bytes, None]:
        if self.last:
            raise DjlWorkerError("an Output arrived for a request that was already answered")
        wire = _Wire()
        output.send(wire)
        code, message, props, content, _ = _decode_output(bytes(wire.buffer))
        if code != 200:
            self.code, self.message, self.last = code, ASYNC_FAILURE_PREFIX + str(message), True
            return json.dumps({"code": code, "message": self.message}, separators=(",", ":")).encode()
        if not content:
            raise DjlWorkerError("IndexOutOfBoundsException: an async Output without content")
        self.properties.update(props.to_dict())
        item = _decode_item(bytes(content[0][1]))
        data = item.get("data")
        self.last = item.get("last", "").lower() == "true"
        if not data and not self.last:
            return None
        if "code" in item:
            self.code, self.last = int(item["code"]), True
            body = {"code": self.code}
            if "error" in item:
                self.message = body["error"] = item["error"]
            return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return data.encode("utf-8")


def _decode_item(raw: bytes) -> dict:
    """``Output.binary_encode``: ``short n`` then n * (utf8 key, utf8 value), as ``Request.addResponse`` reads it."""
    wire = _Wire(raw)
    item = {}
    for _ in range(wire.read_short()):
        key, value = wire.read_utf8(), wire.read_utf8()
        if key is None or value is None:
            raise DjlWorkerError("NullPointerException: a null key or value in an async Output item")
        item[key] = value
    return item
