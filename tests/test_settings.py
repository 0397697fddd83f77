import pytest

from serving.errors import ConfigurationError
from serving.settings import DEFAULT_MODEL_ID, load_settings


def test_defaults_when_nothing_is_set():
    settings = load_settings({}, environ={})
    assert settings.model_id == DEFAULT_MODEL_ID
    assert settings.max_batch_windows == 16
    assert settings.dtype == "auto"


def test_strings_from_properties_are_coerced():
    settings = load_settings({"max_batch_windows": "4", "max_audio_seconds": "90.5", "tensor_parallel_degree": "2"}, {})
    assert (settings.max_batch_windows, settings.max_audio_seconds, settings.tensor_parallel_degree) == (4, 90.5, 2)


def test_tensor_parallel_degree_accepts_max():
    assert load_settings({"tensor_parallel_degree": "MAX"}, {}).tensor_parallel_degree == "max"


def test_environment_options_apply_and_properties_win():
    environ = {"OPTION_DTYPE": "bf16", "OPTION_MAX_BATCH_WINDOWS": "3", "PATH": "/bin"}
    settings = load_settings({"max_batch_windows": "5"}, environ)
    assert settings.dtype == "bf16"
    assert settings.max_batch_windows == 5


def test_djl_keys_are_accepted_and_ignored():
    settings = load_settings({"engine": "Python", "batch_size": "8", "model_dir": "/opt/ml/model", "device_id": "-1"}, {})
    assert settings.model_id == DEFAULT_MODEL_ID


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("dtype", "fp8", "'auto', 'fp16', 'bf16' or 'fp32'"),
        ("max_batch_windows", "0", "greater than or equal to 1"),
        ("tensor_parallel_degree", "two", "Literal['max']"),
        ("attn_implementation", "flash", "'sdpa', 'eager' or 'flash_attention_2'"),
        ("max_audio_seconds", "-1", "greater than 0"),
        ("beam_size", "0", "greater than or equal to 1"),
        ("beam_rule", "hf", "'openai' or 'ctranslate2'"),
    ],
)
def test_bad_value_names_the_key_and_accepted_values(key, value, named):
    with pytest.raises(ConfigurationError) as caught:
        load_settings({key: value}, {})
    assert f"option.{key}={value!r}" in str(caught.value)
    assert named in str(caught.value)


def test_audio_url_input_is_off_by_default():
    settings = load_settings({}, {})
    assert (settings.s3_allowed_buckets, settings.https_input, settings.fetch_timeout_seconds) == ((), False, 30.0)


def test_allowed_buckets_are_a_comma_separated_list():
    settings = load_settings({"s3_allowed_buckets": " audio-in , other.bucket,", "https_input": "true",
                              "fetch_timeout_seconds": "5"}, {})
    assert settings.s3_allowed_buckets == ("audio-in", "other.bucket")
    assert settings.https_input is True and settings.fetch_timeout_seconds == 5.0


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("s3_allowed_buckets", "s3://audio-in/prefix", "not S3 bucket names: s3://audio-in/prefix"),
        ("s3_allowed_buckets", "ok-bucket,Bad_Bucket", "not S3 bucket names: Bad_Bucket"),
        ("https_input", "perhaps", "valid boolean"),
        ("fetch_timeout_seconds", "0", "greater than 0"),
    ],
)
def test_bad_audio_url_options_name_the_key(key, value, named):
    with pytest.raises(ConfigurationError) as caught:
        load_settings({key: value}, {})
    assert f"option.{key}={value!r}" in str(caught.value) and named in str(caught.value)


def test_the_async_batch_wait_is_a_non_negative_number_of_milliseconds():
    assert load_settings({}, {}).max_batch_wait_ms == 10.0
    assert load_settings({"max_batch_wait_ms": "2.5"}, {}).max_batch_wait_ms == 2.5
    with pytest.raises(ConfigurationError, match="option.max_batch_wait_ms='-1'"):
        load_settings({"max_batch_wait_ms": "-1"}, {})


def test_beams_default_to_greedy_and_ctranslate2_s_rule():
    settings = load_settings({}, environ={})
    assert (settings.beam_size, settings.beam_rule, settings.best_of) == (1, "ctranslate2", 5)
    assert load_settings({"beam_size": "5", "beam_rule": "openai"}, {}).beam_rule == "openai"


def test_a_window_s_beams_must_fit_one_batch():
    with pytest.raises(ConfigurationError, match="beam_size=5 exceeds max_batch_windows=4"):
        load_settings({"beam_size": "5", "max_batch_windows": "4"}, {})
