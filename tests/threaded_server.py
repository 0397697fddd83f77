"""An app served by uvicorn on 127.0.0.1 in a thread of the test process (for clients that need a real socket: boto3,
openai, raw sockets), with the model replaced by a stand-in."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from benchmarks.load_test import free_port, wait_for_ping

STARTUP_SECONDS = 30


@contextmanager
def serve_in_thread(app, **options) -> Iterator[str]:
    """``app`` listening until the block ends; yields its base URL once ``/ping`` answers 200."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on",
                                           **options))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_ping(url, STARTUP_SECONDS, poll_s=0.05)
        yield url
    finally:
        server.should_exit = True
        thread.join(STARTUP_SECONDS)
