"""A Java Input handed to the Python engine: ``PyProcess`` adds ``handler``, the socket carries it in DJL's wire
format, ``python_sync_engine`` adds ``cluster_size``/tp/pp and ``device_id``, ``service_loader`` adds ``model_dir``
right before ``handle``. ``EngineContext`` is what the engine process knows from its command line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from scripts.djl.java import JavaInput
from scripts.djl.wire import Wire, encode_request
from serving.djl_compat import Input


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


def to_python(java: JavaInput, ctx: Union[EngineContext, None] = None, **ctx_fields) -> Input:
    """Send ``java`` through PyProcess -> socket -> python_sync_engine -> ModelService."""
    ctx = ctx or EngineContext(**ctx_fields)
    sent = java.copy()  # keep ``java`` as the HTTP layer built it (for batch_input)
    if sent.get_property("handler") is None and ctx.handler is not None:
        sent.add_property("handler", ctx.handler)  # PyProcess.predictStandard
    inp = Input()
    inp.read(Wire(encode_request(sent)))  # also sets function_name from "handler"
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
