"""The empty Input DJL sends once at model load (``PyProcess.startPythonProcess``): serving.properties entries,
environment variables and SageMaker's translations of them, as ``ModelInfo`` and ``PyModel.load`` pass them on."""

from __future__ import annotations

import re
from typing import Mapping, Union

from scripts.djl.engine import EngineContext, to_python
from scripts.djl.java import JavaInput
from serving.djl_compat import Input


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
