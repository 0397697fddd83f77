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
    prop = {key: str(value) for key, value in options.items()}
    given = {"batch_size": batch_size, "max_batch_delay": max_batch_delay, "engine": engine}
    prop.update({key: str(value) for key, value in given.items() if value is not None})
    env = env or {}
    _add_environment(prop, env)
    _add_sagemaker_translations(prop, env)
    params = _python_parameters(prop)
    handler = prop.get("option.handler", "handle")
    ctx = EngineContext(model_dir=model_dir, device_id=str(device_id), cluster_size=cluster_size, handler=handler)
    return to_python(JavaInput(properties=params, content=[]), ctx)


def _add_environment(prop: dict[str, str], env: Mapping[str, str]) -> None:
    """``OPTION_X`` / ``ARGS_X`` variables, never overriding the file (ModelInfo.loadServingProperties)."""
    for key, value in env.items():
        if not value:
            continue
        for prefix in ("OPTION_", "ARGS_"):
            if key.startswith(prefix):
                _add_variable(prop, prefix, key[len(prefix):], value)


def _add_variable(prop: dict[str, str], prefix: str, name: str, value: str) -> None:
    if re.fullmatch(r"[A-Z_\d]+", name):
        name = name.lower()
    if prefix == "ARGS_":
        prop.setdefault(name, value)
    elif name == "engine":
        prop.setdefault("engine", value)
    else:
        prop.setdefault("option." + ("entryPoint" if name == "entrypoint" else name), value)


def _add_sagemaker_translations(prop: dict[str, str], env: Mapping[str, str]) -> None:
    """SageMakerCompatibility: SageMaker's variables for workers and timeouts."""
    if "SAGEMAKER_NUM_MODEL_WORKERS" in env:
        prop["minWorkers"] = prop["maxWorkers"] = env["SAGEMAKER_NUM_MODEL_WORKERS"]
    if "SAGEMAKER_STARTUP_TIMEOUT" in env:
        prop["option.model_loading_timeout"] = env["SAGEMAKER_STARTUP_TIMEOUT"]
    if "SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS" in env:
        prop["option.predict_timeout"] = env["SAGEMAKER_MODEL_SERVER_TIMEOUT_SECONDS"]


def _python_parameters(prop: dict[str, str]) -> dict[str, str]:
    """What PyModel.load passes on: options without ``option.`` (not ``option.env``), then the other properties,
    with the model batch size settled (ModelInfo.configPerModelSettings) and ``batchifier=stack`` above 1."""
    model_batch = int(prop.get("batch_size", prop.get("max_dynamic_batch_size", "1")))
    if "max_dynamic_batch_size" in prop:
        prop["batch_size"] = str(model_batch)
    opts = {k[len("option."):]: v for k, v in prop.items() if k.startswith("option.")}
    args = {k: v for k, v in prop.items() if not k.startswith("option.")}
    if model_batch > 1 and "batchifier" not in args:
        args["batchifier"] = "stack"  # ModelInfo.load -> Criteria argument
    params = {key: value for key, value in opts.items() if key != "env"}
    params.update(args)  # properties.forEach(pyEnv::addParameter)
    return params
