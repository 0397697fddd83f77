"""Shared fixtures: the real converted whisper-base and the tiny random model, built once and cached on disk."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no test may reach the hub

import pytest  # noqa: E402

from scripts.embedded_model import ensure_tiny_random, ensure_whisper_base  # noqa: E402


@pytest.fixture(scope="session")
def whisper_base_dir():
    return ensure_whisper_base()


@pytest.fixture(scope="session")
def tiny_random_dir():
    return ensure_tiny_random()
