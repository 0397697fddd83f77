"""DJL's Python engine, in process: load the entry point by file path, send the first (empty) Input once, then
call ``handle`` and turn an exception into the Output DJL would send (424, or 507 on out-of-memory). In async mode
the handler is a coroutine function, awaited once per request (``python_async_engine``)."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import inspect
import logging
import sys
import types
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from pathlib import Path

from scripts.djl.engine import EngineContext
from scripts.djl.model_load import initial_input
from scripts.server.config import ServerConfig
from serving.djl_compat import Input, Output

logger = logging.getLogger(__name__)

DEFAULT_ENTRY_POINT = "model.py"
DEFAULT_BATCH_SIZE = 1
DEFAULT_MAX_BATCH_DELAY_MS = 100  # DJL's default
HANDLER_FAILURE = 424  # python_sync_engine: an exception in handle()
OUT_OF_MEMORY = 507
NO_CONTENT = 204  # python_async_engine: handle() returned None for a request


class EngineError(RuntimeError):
    """The model cannot be served as configured (bad entry point, async mode without an async handler)."""


@dataclass(frozen=True)
class EngineSettings:
    """What DJL itself reads from the first Input's properties."""

    entry_point: str
    batch_size: int
    max_batch_delay_ms: int
    async_mode: bool


@dataclass(frozen=True)
class LoadedEngine:
    module: types.ModuleType
    settings: EngineSettings
    context: EngineContext

    def handle(self, inputs: Input) -> Output | None:
        return getattr(self.module, self.context.handler)(inputs)


def first_input(config: ServerConfig) -> Input:
    return initial_input(
        config.properties, env=config.env, model_dir=str(config.model_dir), device_id=config.device_id
    )


def engine_settings(first: Input) -> EngineSettings:
    properties = first.get_properties()
    return EngineSettings(
        entry_point=str(properties.get("entryPoint", DEFAULT_ENTRY_POINT)),
        batch_size=int(properties.get("batch_size", DEFAULT_BATCH_SIZE)),
        max_batch_delay_ms=int(properties.get("max_batch_delay", DEFAULT_MAX_BATCH_DELAY_MS)),
        async_mode=str(properties.get("async_mode", "false")).lower() == "true",
    )


def load_engine(config: ServerConfig) -> LoadedEngine:
    """Import the entry point, check its handler suits the mode, and send it the first Input (loads the model)."""
    first = first_input(config)
    settings = engine_settings(first)
    context = EngineContext(model_dir=str(config.model_dir), device_id=config.device_id,
                            handler=str(first.get_properties().get("handler", "handle")))
    module = _import_entry_point(config.model_dir, settings.entry_point)
    handler = getattr(module, context.handler, None)
    if handler is None:
        raise EngineError(f"{settings.entry_point} has no function {context.handler!r}")
    if settings.async_mode != inspect.iscoroutinefunction(handler):
        raise EngineError(
            f"option.async_mode={str(settings.async_mode).lower()} but {settings.entry_point}:{context.handler} is "
            f"{'a coroutine' if not settings.async_mode else 'not a coroutine'} function; "
            "set option.async_mode and option.handler to agree"
        )
    loaded = asyncio.run(handler(first)) if settings.async_mode else handler(first)
    if loaded is not None:
        logger.warning("%s() returned an Output for the initial Input; DJL ignores it", context.handler)
    if settings.async_mode:
        logger.info("model loaded: async mode, one %s() call per request", context.handler)
    else:
        logger.info("model loaded: batch_size=%d max_batch_delay=%d ms", settings.batch_size,
                    settings.max_batch_delay_ms)
    return LoadedEngine(module, settings, context)


def call_handler(engine: LoadedEngine, inputs: Input) -> Output:
    """One handle() call as python_sync_engine makes it: an exception becomes an error Output for all."""
    try:
        output = engine.handle(inputs)
    except MemoryError as exc:
        logger.exception("handle() ran out of memory")
        return Output().error(str(exc), code=OUT_OF_MEMORY, message="out of memory")
    except Exception as exc:  # noqa: BLE001 - DJL answers any handler exception with 424
        if _is_torch_oom(exc):
            logger.exception("handle() ran out of device memory")
            return Output().error(str(exc), code=OUT_OF_MEMORY, message="out of memory")
        logger.exception("handle() failed")
        return Output().error(str(exc), code=HANDLER_FAILURE)
    if output is None:
        return Output().error("handle() returned None for a request", code=HANDLER_FAILURE)
    return output


async def call_async_handler(engine: LoadedEngine, inputs: Input) -> Output | AsyncGenerator:
    """One awaited handle() call as python_async_engine.invoke_handler makes it: an Output or an async generator of
    Outputs; an exception, None or anything else becomes an error Output."""
    try:
        outputs = await engine.handle(inputs)
    except Exception as exc:  # noqa: BLE001 - DJL answers any handler exception with an error Output
        logger.exception("%s() failed", engine.context.handler)
        if type(exc).__name__ in ("OutOfMemoryError", "MemoryError") or "CUDA error: out of memory" in str(exc):
            return Output(code=OUT_OF_MEMORY, message=str(exc))
        return Output().error(str(exc), message="service.invoke_handler_async() failure")
    if outputs is None:
        return Output(code=NO_CONTENT, message="No content")
    if not isinstance(outputs, (Output, types.AsyncGeneratorType)):
        return Output().error(f"Invalid type returned from {engine.context.handler}: {type(outputs)}")
    return outputs


def _is_torch_oom(exc: Exception) -> bool:
    return type(exc).__name__ == "OutOfMemoryError"


def _import_entry_point(model_dir: Path, entry_point: str) -> types.ModuleType:
    """Like DJL's service_loader: by file path, under a hashed name, with the model directory importable."""
    path = (model_dir / entry_point).resolve()
    if not path.is_file():
        raise EngineError(f"entry point {path} not found")
    if str(model_dir) not in sys.path:
        sys.path.insert(0, str(model_dir))
    name = "djl_model_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
