"""The Starlette app: ``/ping``, ``/invocations``, ``/predictions/<name>``, SageMaker Runtime's
``/endpoints/<name>/...`` (:mod:`scripts.server.runtime_api`) and OpenAI's ``/v1/audio/...``
(:mod:`scripts.server.openai_api`), behind :class:`scripts.server.edge.EdgeMiddleware`; a client that leaves while
its request waits for the model has that work cancelled (:mod:`scripts.server.disconnect`). The model loads in the
background after the server starts listening (``/ping`` is 503 until it is ready); on shutdown (SIGTERM) uvicorn stops
accepting and waits for the requests in flight, then the dispatcher finishes what is queued. The handler's drain
starts at the signal (``app.state.drain_soon``, called by ``scripts.serve``): what is still in flight once
``option.drain_timeout_seconds`` has passed is answered with a 503, so the wait is bounded."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from scripts.djl.errors import DjlHttpError, DjlWorkerError
from scripts.server.async_mode import AsyncDispatcher
from scripts.server.batching import WORKER_UNAVAILABLE, SyncBatcher
from scripts.server.config import ServerConfig
from scripts.server.disconnect import unless_client_leaves
from scripts.server.djl_http import RequestTooLarge, error_response, read_body, to_http, to_java_input
from scripts.server.edge import EdgeMiddleware
from scripts.server.engine import LoadedEngine, load_engine
from scripts.server.openai_api import openai_routes
from scripts.server.runtime_api import runtime_routes

logger = logging.getLogger(__name__)

Loader = Callable[[ServerConfig], LoadedEngine]


Dispatcher = SyncBatcher | AsyncDispatcher


@dataclass
class ModelState:
    dispatcher: Dispatcher | None = None  # DJL's sync-mode batching or its async mode, per option.async_mode
    engine: LoadedEngine | None = None  # the loaded entry point (its shutdown() drains)


def create_app(config: ServerConfig, on_fatal: Callable[[], None], loader: Loader = load_engine) -> Starlette:
    state = ModelState()

    @asynccontextmanager
    async def lifespan(app: Starlette):
        loading = asyncio.create_task(_load(state, config, loader, on_fatal), name="model-load")
        drain = _Drain(state, asyncio.get_running_loop())
        app.state.drain_soon = drain.soon
        yield
        if not loading.done():
            logger.info("shutting down while the model is still loading")
        if state.dispatcher is not None:
            await drain.start()
            await state.dispatcher.close()
            logger.info("drained: every queued request was answered")

    async def ping(_: Request) -> Response:
        if state.dispatcher is None:
            return JSONResponse({"status": "Unhealthy"}, status_code=503)
        return JSONResponse({"status": "Healthy"})

    async def invocations(request: Request) -> Response:
        return await _invoke(request, state, config)

    async def predictions(request: Request) -> Response:
        name = request.path_params["name"]
        if name != config.model_name:
            return error_response(404, "ModelNotFoundException", f"Model not found: {name}")
        return await _invoke(request, state, config)

    routes = [
        Route("/ping", ping, methods=["GET"]),
        Route("/invocations", invocations, methods=["POST"]),
        Route("/predictions/{name}", predictions, methods=["POST", "PUT"]),
        *runtime_routes(lambda request: _invoke(request, state, config), config.runtime),
        *openai_routes(lambda request: _invoke(request, state, config), config.max_request_bytes),
    ]
    middleware = [Middleware(EdgeMiddleware, body_timeout=config.body_timeout_s)]
    return Starlette(routes=routes, lifespan=lifespan, middleware=middleware)


@dataclass
class _Drain:
    """The handler's ``shutdown()`` (drain, then 503 for what is left), started once: at the signal or at the end."""

    state: ModelState
    loop: asyncio.AbstractEventLoop
    task: asyncio.Future | None = None

    def soon(self) -> None:
        """Thread- and signal-safe: start the drain on the event loop."""
        self.loop.call_soon_threadsafe(self.start)

    def start(self) -> asyncio.Future:
        if self.task is None:
            self.task = asyncio.ensure_future(asyncio.to_thread(self._shutdown))
        return self.task

    def _shutdown(self) -> None:
        engine = self.state.engine
        shutdown = getattr(engine.module, "shutdown", None) if engine is not None else None
        if shutdown is not None:
            logger.info("draining the requests in flight")
            shutdown()


async def _load(state: ModelState, config: ServerConfig, loader: Loader, on_fatal: Callable[[], None]) -> None:
    try:
        engine = await asyncio.to_thread(loader, config)
    except Exception:  # noqa: BLE001 - any load failure ends the server (no request status involved)
        logger.exception("model loading failed; stopping the server")
        on_fatal()
        return
    state.engine = engine
    state.dispatcher = AsyncDispatcher(engine) if engine.settings.async_mode else SyncBatcher(engine)
    logger.info("ready on http://%s:%d", config.host, config.port)


async def _invoke(request: Request, state: ModelState, config: ServerConfig) -> Response:
    if state.dispatcher is None:
        return error_response(503, "ServiceUnavailableException", "the model is not loaded yet")
    try:
        body = await read_body(request, config.max_request_bytes)
    except RequestTooLarge as exc:
        return error_response(413, "RequestEntityTooLarge", str(exc))
    try:
        response = await unless_client_leaves(request.receive,
                                              state.dispatcher.submit(await to_java_input(request, body)))
    except DjlHttpError as exc:
        return error_response(exc.code, "BadRequestException", exc.message)
    except DjlWorkerError as exc:
        return error_response(WORKER_UNAVAILABLE, "WlmException", str(exc))
    return to_http(response)
