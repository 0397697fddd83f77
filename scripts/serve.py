"""Serve the model locally over HTTP the way DJL Serving does (a development tool; production is DJL on SageMaker).

    python -m scripts.serve [--model-dir DIR] [--model-id ID] [--host 127.0.0.1] [--port 8080]
                            [--option key=value ...]

``/ping`` answers 503 until the model is loaded, then 200; ``POST /invocations`` and ``POST /predictions/<name>``
take the same requests as the SageMaker endpoint; ``/endpoints/<name>/invocations`` (and ``-response-stream``,
``async-invocations``) answer a boto3 ``sagemaker-runtime`` client pointed here (``endpoint_url=`` or
``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``). SIGTERM (or Ctrl-C) stops accepting, answers every request in flight (those
not finished within ``option.drain_timeout_seconds`` with a 503), then exits.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import uvicorn

from scripts.paths import PROJECT_ROOT
from scripts.server.app import create_app
from scripts.server.config import (
    DEFAULT_BODY_TIMEOUT_S,
    DEFAULT_HEADER_TIMEOUT_S,
    DEFAULT_HOST,
    DEFAULT_MODEL_NAME,
    DEFAULT_PORT,
    RuntimeOptions,
    build_config,
    parse_override,
)
from scripts.server.edge_protocol import header_timeout_protocol

logger = logging.getLogger("scripts.serve")

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    config = build_config(
        arguments.model_dir.resolve(),
        arguments.model_id or _embedded_model(),
        dict(parse_override(text) for text in arguments.option),
        host=arguments.host,
        port=arguments.port,
        model_name=arguments.model_name,
        device_id=arguments.device_id or _device_id(),
        runtime=RuntimeOptions(endpoint_name=arguments.endpoint_name, async_output=arguments.async_output,
                               async_failure=arguments.async_failure),
        header_timeout_s=arguments.header_timeout,
        body_timeout_s=arguments.body_timeout,
    )
    failed = []
    server: uvicorn.Server | None = None

    def on_fatal() -> None:
        failed.append(True)
        server.should_exit = True

    app = create_app(config, on_fatal)
    server = DrainingServer(uvicorn.Config(app, host=config.host, port=config.port, log_config=None,
                                           access_log=arguments.access_log, lifespan="on",
                                           http=header_timeout_protocol(config.header_timeout_s)))
    server.run()
    return 1 if failed else 0


class DrainingServer(uvicorn.Server):
    """uvicorn runs the app's shutdown only after the requests in flight are answered; this one also tells the app
    at the signal, so that its drain (bounded by option.drain_timeout_seconds) starts at once."""

    def handle_exit(self, sig: int, frame) -> None:
        super().handle_exit(sig, frame)
        drain_soon = getattr(self.config.app.state, "drain_soon", None)  # set once the app has started
        if drain_soon is not None:
            drain_soon()


def _embedded_model() -> str:
    from scripts.conversion.embedded_model import ensure_whisper_base

    return str(ensure_whisper_base())


def _device_id() -> str:
    import torch

    return "0" if torch.cuda.is_available() else "-1"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", type=Path, default=PROJECT_ROOT,
                        help="the DJL model directory: serving.properties and the entry point (default: this project)")
    parser.add_argument("--model-id", help="option.model_id (default: the embedded whisper-base)")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument("--model-name", default=DEFAULT_MODEL_NAME,
                        help=f"the <name> in /predictions/<name> (default {DEFAULT_MODEL_NAME})")
    parser.add_argument("--device-id", help="DJL device_id: -1 for CPU (default: 0 when CUDA is available, else -1)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="override a serving.properties entry: batch_size=4, max_audio_bytes=1000000, ...")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    parser.add_argument("--header-timeout", type=float, default=DEFAULT_HEADER_TIMEOUT_S, metavar="SECONDS",
                        help="a request's head must arrive whole within this (408 and closed otherwise; "
                             f"default {DEFAULT_HEADER_TIMEOUT_S:g})")
    parser.add_argument("--body-timeout", type=float, default=DEFAULT_BODY_TIMEOUT_S, metavar="SECONDS",
                        help="a request's body must arrive whole within this after its head (408 otherwise; "
                             f"default {DEFAULT_BODY_TIMEOUT_S:g})")
    runtime = parser.add_argument_group("SageMaker Runtime stand-in (/endpoints/<name>/...)")
    runtime.add_argument("--endpoint-name", help="the only endpoint name answered (default: any name)")
    runtime.add_argument("--async-output", metavar="S3_URI",
                         help="InvokeEndpointAsync's S3OutputPath, s3://bucket/prefix/ (default: no async endpoint); "
                              "S3 is reached with the standard AWS configuration (AWS_ENDPOINT_URL_S3, ...)")
    runtime.add_argument("--async-failure", metavar="S3_URI",
                         help="InvokeEndpointAsync's S3FailurePath (default: --async-output)")
    return parser


if __name__ == "__main__":
    sys.exit(main())
