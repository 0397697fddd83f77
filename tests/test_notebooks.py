"""The lab's two notebooks, executed cell by cell in a Jupyter kernel (nbclient) exactly as committed, except their
parameters cell. SageMaker's control plane is a moto server (the caller an assumed execution role, as in Studio);
the endpoints' runtime is the local server on the real whisper-base (``AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME``), which
answers InvokeEndpoint, InvokeEndpointWithResponseStream and InvokeEndpointAsync as SageMaker does. What moto cannot
do, this module stands in for, and says so: g5 instance types (moto's list predates them), a batch transform's
results (each file sent through the local server), and the container's log lines in CloudWatch Logs."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import nbclient
import nbformat
import pytest
from moto.sagemaker import models as moto_sagemaker

from benchmarks.load_test import HOST, free_port, server_process
from scripts.paths import PROJECT_ROOT
from tests.moto_aws import ACCOUNT, REGION, client, isolated_aws

NOTEBOOKS = PROJECT_ROOT / "notebooks"
AUDIO = PROJECT_ROOT / "tests" / "data" / "audio" / "en_slt_weather.wav"
CLIPS = sorted((PROJECT_ROOT / "tests" / "data" / "audio").glob("en_*.wav"))[:3]
BUCKET = f"sagemaker-{REGION}-{ACCOUNT}"  # the default bucket the notebooks find
LAB = "whisper-lab"
ASYNC_OUTPUT = f"s3://{BUCKET}/whisper-lmi/{LAB}/async-output/"
ASYNC_FAILURE = f"s3://{BUCKET}/whisper-lmi/{LAB}/async-failure/"
ROLE_NAME = "lab-exec"
TRUST = ('{"Statement": [{"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, '
         '"Action": "sts:AssumeRole"}]}')
CELL_TIMEOUT_S = 600
LOG_SHIP_S = 0.2
G5_TYPES = ("ml.g5.2xlarge", "ml.g5.12xlarge")


# ------------------------------------------------------------------------------------------------ stand-ins
def accept_g5(monkeypatch) -> None:
    """moto's endpoint-config validation predates g5 instances; every other type still goes through it."""
    original = moto_sagemaker.FakeEndpointConfig.validate_instance_type

    def validate(self, instance_type: str) -> None:
        if instance_type not in G5_TYPES:
            original(self, instance_type)

    monkeypatch.setattr(moto_sagemaker.FakeEndpointConfig, "validate_instance_type", validate)


def transform_through(monkeypatch, moto_url: str, server_url: str) -> None:
    """CreateTransformJob also does the job: each file under the input prefix is sent to the local server's
    /invocations, its answer written to ``<file>.out`` under the output prefix (moto only records the job)."""
    original = moto_sagemaker.SageMakerModelBackend.create_transform_job

    def create(self, *args, **kwargs):
        job = original(self, *args, **kwargs)
        _run_transform(moto_url, server_url, job.transform_input, job.transform_output)
        return job

    monkeypatch.setattr(moto_sagemaker.SageMakerModelBackend, "create_transform_job", create)


def _run_transform(moto_url: str, server_url: str, job_input: dict, job_output: dict) -> None:
    s3 = client("s3", moto_url)
    source = job_input["DataSource"]["S3DataSource"]["S3Uri"].removeprefix("s3://")
    bucket, _, prefix = source.partition("/")
    target_bucket, _, target_prefix = job_output["S3OutputPath"].removeprefix("s3://").partition("/")
    for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []):
        audio = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        answer = httpx.post(f"{server_url}/invocations", content=audio, timeout=CELL_TIMEOUT_S,
                            headers={"Content-Type": job_input["ContentType"]})
        name = item["Key"][len(prefix):].lstrip("/")
        s3.put_object(Bucket=target_bucket, Key=f"{target_prefix.rstrip('/')}/{name}.out", Body=answer.content)


@contextmanager
def logs_shipped(moto_url: str, log_path: Path, endpoint: str) -> Iterator[None]:
    """The server's log lines into CloudWatch Logs as SageMaker ships a container's output:
    ``/aws/sagemaker/Endpoints/<endpoint>``, stream ``AllTraffic/<instance>``."""
    logs = client("logs", moto_url)
    group, stream = f"/aws/sagemaker/Endpoints/{endpoint}", "AllTraffic/i-0local"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    stop = threading.Event()

    def ship() -> None:
        offset = 0
        while not stop.wait(LOG_SHIP_S):
            text = log_path.read_text(errors="replace")
            lines, offset = [line for line in text[offset:].splitlines() if line.strip()], len(text)
            if lines:
                now = _now_ms()
                logs.put_log_events(logGroupName=group, logStreamName=stream,
                                    logEvents=[{"timestamp": now, "message": line} for line in lines])

    shipper = threading.Thread(target=ship, name="log-shipper", daemon=True)
    shipper.start()
    try:
        yield
    finally:
        stop.set()
        shipper.join()


def _now_ms() -> int:
    return int(time.time() * 1000)


# ------------------------------------------------------------------------------------------------ the lab
@pytest.fixture(scope="module")
def lab(moto_url, tmp_path_factory, whisper_base_dir) -> Iterator[dict]:
    """moto as SageMaker with an assumed execution role, the local server on whisper-base as the runtime."""
    monkeypatch = pytest.MonkeyPatch()
    tmp = tmp_path_factory.mktemp("lab")
    isolated_aws(moto_url, monkeypatch, tmp)
    client("iam", moto_url).create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=TRUST)
    credentials = client("sts", moto_url).assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}", RoleSessionName="SageMaker")["Credentials"]
    for key, value in {"AWS_ACCESS_KEY_ID": credentials["AccessKeyId"], "AWS_ENDPOINT_URL": moto_url,
                       "AWS_SECRET_ACCESS_KEY": credentials["SecretAccessKey"],
                       "AWS_SESSION_TOKEN": credentials["SessionToken"]}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PYTHONPATH", str(PROJECT_ROOT))  # the kernel imports this checkout's whisper_lmi
    accept_g5(monkeypatch)
    port = free_port()
    server_url = f"http://{HOST}:{port}"
    log_path = tmp / "server.log"
    arguments = ("--async-output", ASYNC_OUTPUT, "--async-failure", ASYNC_FAILURE)
    with server_process(port, log_path=str(log_path), arguments=arguments):
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server_url)
        transform_through(monkeypatch, moto_url, server_url)
        yield {"moto": moto_url, "server": server_url, "log": log_path, "tmp": tmp}
    monkeypatch.undo()


def run_notebook(name: str, parameters: str, cwd: Path) -> list[str]:
    """Execute ``notebooks/<name>`` with its parameters cell replaced; returns each code cell's printed text."""
    cwd.mkdir(parents=True, exist_ok=True)
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    cell = next(c for c in notebook.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = parameters
    nbclient.NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3", record_timing=True,
                            resources={"metadata": {"path": str(cwd)}}).execute()
    nbformat.write(notebook, cwd / name)  # the executed notebook, outputs included, for a look after a failure
    return [_printed(c) for c in notebook.cells if c.cell_type == "code"]


def _printed(cell) -> str:
    return "".join(output.text for output in cell.outputs if output.output_type == "stream" and output.name == "stdout")


def direct_text(server_url: str, audio: Path) -> str:
    answer = httpx.post(f"{server_url}/invocations", content=audio.read_bytes(), timeout=CELL_TIMEOUT_S,
                        headers={"Content-Type": "audio/wav"})
    assert answer.status_code == 200, answer.text
    return answer.json()["text"]


@pytest.fixture(scope="module")
def expected(lab) -> str:
    """AUDIO's transcript from the local server's /invocations, asked once for every test of the module."""
    return direct_text(lab["server"], AUDIO)


def test_the_minimal_notebook_packages_uploads_deploys_transcribes_and_deletes(lab, expected):
    parameters = (f'REGION = "{REGION}"\nENDPOINT = "whisper-minimal"\nINSTANCE_TYPE = "ml.g5.2xlarge"\n'
                  f'AUDIO = "{AUDIO}"')
    printed = run_notebook("01-minimal.ipynb", parameters, lab["tmp"] / "minimal")
    _, setup, packaged, uploaded, deployed, transcribed, deleted = printed
    assert setup.splitlines() == [f"region {REGION}", f"role arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}",
                                  f"bucket {BUCKET}"]
    assert "serving.properties" in packaged and "requirements.txt" in packaged
    assert uploaded.endswith(f"files uploaded, 0 unchanged: s3://{BUCKET}/whisper-lmi/whisper-minimal/artifact/\n")
    assert deployed.startswith("whisper-minimal InService model whisper-minimal-")
    assert transcribed.startswith("[en, ") and transcribed.rstrip("\n").endswith(f"] {expected}")
    assert deleted.startswith("deleted: ") and "whisper-minimal-" in deleted
    sagemaker = client("sagemaker", lab["moto"])
    assert sagemaker.list_endpoints()["Endpoints"] == [] and sagemaker.list_models()["Models"] == []


def test_the_full_notebook_runs_every_part_of_the_lab(lab, expected):
    parameters = (f'from pathlib import Path\n\nREGION = "{REGION}"\nNAME = "{LAB}"\n'
                  f'INSTANCE_TYPE = "ml.g5.12xlarge"\nAUDIO = "{AUDIO}"\nCLIPS = {[str(c) for c in CLIPS]!r}\n'
                  "CLIPS = [Path(c) for c in CLIPS]")
    with logs_shipped(lab["moto"], lab["log"], f"{LAB}-per-gpu"):
        printed = run_notebook("02-full.ipynb", parameters, lab["tmp"] / "full")
    (_, setup, uploaded, layouts, compared, retired, timed, streamed, asynchronous, transformed, logged,
     cleaned) = printed
    assert f"role arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}" in setup
    assert uploaded.endswith(f"unchanged: s3://{BUCKET}/whisper-lmi/{LAB}/artifact/\n")
    assert layouts.splitlines() == [f"{LAB}-per-gpu InService OPTION_TENSOR_PARALLEL_DEGREE = 1",
                                    f"{LAB}-tp4 InService OPTION_TENSOR_PARALLEL_DEGREE = 4"]
    for line, name in zip(compared.splitlines(), (f"{LAB}-per-gpu", f"{LAB}-tp4"), strict=True):
        assert line.startswith(f"{name}: ") and line.endswith(f" ms  {expected}")
    assert retired.startswith("deleted: ") and f"{LAB}-tp4" in retired
    _check_words_and_subtitles(timed, expected)
    *deltas, done = streamed.splitlines()
    assert deltas and all(line.startswith("TranscriptDelta ") for line in deltas)
    assert done == f"TranscriptDone {expected}"
    assert " ".join(line.removeprefix("TranscriptDelta ") for line in deltas).split() == expected.split()
    deployed_async, queued, result = asynchronous.splitlines()
    assert deployed_async == f"{LAB}-async InService" and result == expected
    assert queued.startswith(f"queued; the result will be at {ASYNC_OUTPUT}") and queued.endswith(".out")
    for line, clip in zip(transformed.splitlines(), CLIPS, strict=True):
        name, _, body = line.partition(" ")
        assert name == clip.name and json.loads(body)["text"] == direct_text(lab["server"], clip)
    assert logged.strip() and all(" AllTraffic/i-0local " in line for line in logged.splitlines())
    assert any("request " in line for line in logged.splitlines())  # the handler's one line per request
    assert [line.split(":")[0] for line in cleaned.splitlines()] == ["deleted", "deleted"]
    sagemaker = client("sagemaker", lab["moto"])
    assert sagemaker.list_endpoints()["Endpoints"] == [] and sagemaker.list_models()["Models"] == []


def _check_words_and_subtitles(printed: str, expected: str) -> None:
    lines = printed.splitlines()
    language, count = lines[0].split(", ")
    words = [line.split(None, 2) for line in lines[1:9]]
    assert language == "english" and int(count.split()[0]) >= len(words) > 0
    starts = [float(start) for start, _, _ in words]
    assert starts == sorted(starts) and all(float(end) >= float(start) for start, end, _ in words)
    assert " ".join(word for _, _, word in words).split() == expected.split()[:len(words)]
    subtitles = "\n".join(lines[9:])
    assert subtitles.startswith("1\n00:00:00,") and " --> " in subtitles
    cues = [block.splitlines()[2:] for block in subtitles.strip().split("\n\n")]
    assert " ".join(" ".join(cue) for cue in cues).split() == expected.split()


def test_the_readmes_quick_start_runs_as_written(lab, expected, capsys, monkeypatch, tmp_path):
    """The README's Python block, its file name aside (talk.mp3 is the reader's): executed as written."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    block = readme.split("```python\n", 1)[1].split("```", 1)[0]
    assert '"talk.mp3"' in block
    monkeypatch.chdir(tmp_path)
    exec(compile(block.replace('"talk.mp3"', repr(str(AUDIO))), "README.md", "exec"), {})  # noqa: S102
    assert capsys.readouterr().out == expected + "\n"
    assert client("sagemaker", lab["moto"]).list_endpoints()["Endpoints"] == []
