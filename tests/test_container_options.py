"""Options the LMI way: the packaged serving.properties holds only what must be fixed, every whisper-lmi option is an
``OPTION_<NAME>`` variable at deploy time (read by serving/settings.py as the handler would), and an option the file
would shadow is an error, never silence."""

from __future__ import annotations

import pytest

from serving.settings import FOREIGN_KEYS, Settings, load_settings
from whisper_lmi.artifact.layout import SERVING_PROPERTIES
from whisper_lmi.artifact.option_names import known_options
from whisper_lmi.artifact.properties import read_properties
from whisper_lmi.errors import WhisperLmiError
from whisper_lmi.sagemaker.options import ContainerInputs, container_environment, parse_pairs

FIXED = {"engine": "Python", "option.entryPoint": "serving/model.py", "option.rolling_batch": "disable",
         "option.async_mode": "true", "option.handler": "handle_async", "batch_size": "1"}
GIB = str(1024 ** 3)


def test_the_packaged_serving_properties_holds_only_what_must_be_fixed():
    assert read_properties(SERVING_PROPERTIES) == FIXED


def test_the_known_options_are_the_handlers():
    assert known_options() == frozenset(Settings.model_fields) | FOREIGN_KEYS


def test_options_become_option_variables_with_the_defaults():
    environment = container_environment(ContainerInputs(options={"max_batch_windows": "32", "vad": "off"},
                                                        variables={"HF_TOKEN": "t"}, properties=FIXED))
    assert environment == {"HF_TOKEN": "t", "OPTION_MAX_BATCH_WINDOWS": "32", "OPTION_TENSOR_PARALLEL_DEGREE": "1",
                           "OPTION_VAD": "off"}


def test_the_handler_reads_them_as_set():
    """What the container hands the handler: the file's entries (``option.`` stripped) over OPTION_* variables."""
    environment = container_environment(ContainerInputs(
        options={"max_batch_windows": "64", "tensor_parallel_degree": "4", "s3_allowed_buckets": "my-audio"},
        properties=FIXED, is_async=True, has_weights=True))
    first_input = {key.removeprefix("option."): value for key, value in FIXED.items()}
    settings = load_settings(first_input, environ=environment)
    assert (settings.max_batch_windows, settings.tensor_parallel_degree) == (64, 4)
    assert settings.s3_allowed_buckets == ("my-audio",)
    assert settings.model_id == "/opt/ml/model/weights" and settings.max_audio_bytes == 1024 ** 3
    assert environment["SERVING_MAX_REQUEST_SIZE"] == GIB


def test_an_async_deployment_raises_djls_request_limit_unless_told_otherwise():
    raised = container_environment(ContainerInputs(properties=FIXED, is_async=True))
    assert (raised["SERVING_MAX_REQUEST_SIZE"], raised["OPTION_MAX_AUDIO_BYTES"]) == (GIB, GIB)
    assert raised["OPTION_REQUEST_TIMEOUT_SECONDS"] == "3595"  # the handler's budget: async inference's hour
    assert "OPTION_REQUEST_TIMEOUT_SECONDS" not in container_environment(ContainerInputs(properties=FIXED))
    kept = container_environment(ContainerInputs(options={"max_audio_bytes": "1000"}, properties=FIXED,
                                                 variables={"SERVING_MAX_REQUEST_SIZE": "2000"}, is_async=True))
    assert (kept["SERVING_MAX_REQUEST_SIZE"], kept["OPTION_MAX_AUDIO_BYTES"]) == ("2000", "1000")
    assert "SERVING_MAX_REQUEST_SIZE" not in container_environment(ContainerInputs(properties=FIXED))


def test_an_option_the_file_sets_is_an_error_whether_given_as_option_or_variable():
    old = {**FIXED, "option.max_batch_windows": "16"}
    for inputs in (ContainerInputs(options={"max_batch_windows": "64"}, properties=old, source="s3://b/p/x"),
                   ContainerInputs(variables={"OPTION_MAX_BATCH_WINDOWS": "64"}, properties=old, source="s3://b/p/x")):
        with pytest.raises(WhisperLmiError, match=r"^OPTION_MAX_BATCH_WINDOWS would lose to "
                                                  r"option.max_batch_windows=16 in s3://b/p/x: remove"):
            container_environment(inputs)
    with pytest.raises(WhisperLmiError, match="OPTION_ASYNC_MODE would lose to option.async_mode=true"):
        container_environment(ContainerInputs(options={"async_mode": "false"}, properties=FIXED))


def test_a_default_the_file_already_sets_is_left_to_the_file():
    older = {**FIXED, "option.tensor_parallel_degree": "max"}
    assert container_environment(ContainerInputs(properties=older)) == {}


def test_unknown_or_contradictory_options_are_errors():
    with pytest.raises(WhisperLmiError, match=r"unknown option 'max_batch_window' \(did you mean max_batch_windows\?\)"):
        container_environment(ContainerInputs(options={"max_batch_window": "8"}))
    with pytest.raises(WhisperLmiError, match="OPTION_DTYPE=fp16 and option dtype=bf16 disagree"):
        container_environment(ContainerInputs(options={"dtype": "bf16"}, variables={"OPTION_DTYPE": "fp16"}))
    with pytest.raises(WhisperLmiError, match="--option 'dtype': expected KEY=VALUE"):
        parse_pairs(["dtype"], "--option")
    with pytest.raises(WhisperLmiError, match="--option dtype given twice"):
        parse_pairs(["dtype=fp16", "dtype=bf16"], "--option")
    assert parse_pairs(["predict_timeout=600", "a=b=c"], "--env") == {"predict_timeout": "600", "a": "b=c"}
