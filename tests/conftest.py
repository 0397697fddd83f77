"""Shared fixtures: the real converted whisper-base and the tiny random model, built once and cached on disk."""

from __future__ import annotations

import os
import socket

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test may reach the hub

import pytest  # noqa: E402

from scripts.conversion.embedded_model import ensure_tiny_random, ensure_whisper_base  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def one_thread_per_worker():
    """Under pytest-xdist the workers share the cores: one torch thread each instead of every worker spinning up one
    per core, and the same for the servers and notebook kernels a worker starts (they inherit OMP_NUM_THREADS)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)
        os.environ["OMP_NUM_THREADS"] = "1"


@pytest.fixture(scope="session")
def whisper_base_dir():
    return ensure_whisper_base()


@pytest.fixture(scope="session")
def tiny_random_dir():
    return ensure_tiny_random()


@pytest.fixture(scope="module")
def one_torch_thread():
    """For modules on the tiny model: it gains nothing from threads, and on a busy machine they only wait for each
    other (``pytestmark = pytest.mark.usefixtures("one_torch_thread")``)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def moto_url():
    """A local moto server (S3, SageMaker, ...) for one test module: its endpoint URL."""
    import moto.server as moto_server

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=free_port())
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()
