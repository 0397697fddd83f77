"""``local``: the ``docker run`` of the LMI image with the artifact where SageMaker would mount it."""

from __future__ import annotations

import logging
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from whisper_lmi.artifact.layout import PROPERTIES_FILE
from whisper_lmi.artifact.properties import read_properties
from whisper_lmi.errors import WhisperLmiError
from whisper_lmi.sagemaker.constants import (
    CONTAINER_COMMAND,
    LOCAL_PORT,
    LOCAL_SHM_SIZE,
    MODEL_DIR_IN_CONTAINER,
    WEIGHTS_SUBPREFIX,
)
from whisper_lmi.sagemaker.options import ContainerInputs, container_environment

logger = logging.getLogger(__name__)

ENGINE_CHECK_TIMEOUT_S = 10


@dataclass(frozen=True)
class LocalOptions:
    artifact_dir: Path
    image: str
    environment: Mapping[str, str] = field(default_factory=dict)
    port: int = LOCAL_PORT
    gpus: str | None = "all"
    shm_size: str = LOCAL_SHM_SIZE


def local_environment(artifact_dir: Path, options: Mapping[str, str], variables: Mapping[str, str]) -> dict[str, str]:
    """The container's variables as ``deploy`` would set them, checked against the local artifact's file."""
    path = artifact_dir / PROPERTIES_FILE
    properties = read_properties(path) if path.is_file() else {}
    has_weights = (artifact_dir / WEIGHTS_SUBPREFIX).is_dir()
    return container_environment(ContainerInputs(options, variables, properties, has_weights, source=str(path)))


def docker_command(options: LocalOptions) -> list[str]:
    command = ["docker", "run", "--rm"]
    if options.gpus:
        command += ["--gpus", options.gpus]
    command += ["--shm-size", options.shm_size, "-p", f"{options.port}:{LOCAL_PORT}"]
    command += ["-v", f"{options.artifact_dir.resolve()}:{MODEL_DIR_IN_CONTAINER}:ro"]
    for key, value in sorted(options.environment.items()):
        command += ["-e", f"{key}={value}"]
    return command + [options.image, CONTAINER_COMMAND]


def engine_problem(docker: str | None = None) -> str | None:
    """Why ``docker run`` cannot work here, or None when a client and a reachable engine exist."""
    docker = docker or shutil.which("docker")
    if docker is None:
        return "no docker client on PATH"
    try:
        result = subprocess.run(
            [docker, "version", "--format", "{{.Server.Version}}"],
            capture_output=True, text=True, timeout=ENGINE_CHECK_TIMEOUT_S, check=False,
        )
    except subprocess.TimeoutExpired:
        return "the Docker engine did not answer"
    if result.returncode != 0:
        first_line = (result.stderr.strip().splitlines() or ["unknown error"])[-1]
        return f"no Docker engine reachable ({first_line})"
    return None


def run_local(options: LocalOptions, dry_run: bool) -> int:
    command = docker_command(options)
    print(shlex.join(command))
    if dry_run:
        return 0
    problem = engine_problem()
    if problem is not None:
        raise WhisperLmiError(f"{problem}: the command above was not run; run it on a machine with Docker and a GPU")
    logger.info("serving on http://127.0.0.1:%d/invocations (Ctrl-C stops)", options.port)
    return subprocess.run(command, check=False).returncode
