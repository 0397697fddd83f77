"""Shared fixtures: the real converted whisper-base and the tiny random model, built once and cached on disk."""

from __future__ import annotations

import os
import socket

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test may reach the hub

import pytest  # noqa: E402

from scripts.conversion.embedded_model import ensure_tiny_random, ensure_whisper_base  # noqa: E402


def pytest_configure(config):
    """pytest-xdist's ``--dist loadfile`` hands out the test files with the most tests first, which leaves the
    end-to-end files (few tests, the slowest) for last, when one worker runs them while the other has finished. Hand
    them out in the order of the collection instead (``--no-loadscope-reorder``), which puts them first
    (pytest_collection_modifyitems below): the short files then fill in, and the two workers finish together."""
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(items):
    """The files that run the real whisper-base first, in their order, then the rest; each file's tests in theirs."""
    real = {item.path for item in items
            if "whisper_base_dir" in item.fixturenames or item.get_closest_marker("real_model")}
    items.sort(key=lambda item: item.path not in real)  # a stable sort: files and tests keep their order otherwise


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
def whisper_base_loaded(whisper_base_dir):
    """The embedded whisper-base on the CPU, loaded once per worker for the tests that drive the engine directly
    (they only read it)."""
    from serving.engine.loading import load_model
    from serving.engine.placement import resolve_placement
    from serving.settings import load_settings

    settings = load_settings({"model_id": str(whisper_base_dir)}, environ={})
    return load_model(settings, None, resolve_placement(settings, "-1"))


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
