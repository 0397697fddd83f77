"""The LMI image table: generated from, and equal to, the installed sagemaker-core's; every region's URI is the one
the SDK's own ``image_uris.retrieve`` gives; a region or version without an image is a clear error."""

from __future__ import annotations

import functools

import pytest
from sagemaker.core import common_utils, image_uris

from scripts.image_table import TABLE_FILE, render, sdk_config, table_from_config
from whisper_lmi.errors import WhisperLmiError
from whisper_lmi.sagemaker.image_table import REGISTRIES, TAGS, UNAVAILABLE
from whisper_lmi.sagemaker.images import DEFAULT_LMI_VERSION, lmi_image_uri


def test_the_checked_in_table_is_the_installed_sdks():
    assert TABLE_FILE.read_text() == render(table_from_config(*sdk_config()))


def test_the_table_covers_every_region_and_version_of_the_sdk():
    config, _ = sdk_config()
    regions = {region for entry in config["versions"].values() for region in entry["registries"]}
    assert set(REGISTRIES) == regions and len(REGISTRIES) == 44
    assert list(TAGS) == list(config["versions"])
    assert REGISTRIES["eu-south-1"][0] == "692866216735" and REGISTRIES["eu-west-1"][0] == "763104351884"
    assert sum(account != "763104351884" for account, _ in REGISTRIES.values()) == 28


@pytest.fixture(scope="module")
def one_endpoint_table():
    """The SDK reloads botocore's endpoint data on every call (seconds for 400 calls here): load it once."""
    original = common_utils._botocore_resolver
    common_utils._botocore_resolver = functools.cache(original)
    yield
    common_utils._botocore_resolver = original


@pytest.mark.usefixtures("one_endpoint_table")
@pytest.mark.parametrize("version", list(TAGS))
def test_every_uri_is_the_one_the_sdk_retrieves(version):
    for region in REGISTRIES:
        if region in UNAVAILABLE.get(version, ()):
            continue
        assert lmi_image_uri(region, version) == image_uris.retrieve(framework="djl-lmi", region=region,
                                                                      version=version), region


def test_the_default_is_the_newest_version_and_is_everywhere():
    assert DEFAULT_LMI_VERSION == next(iter(TAGS)) == "0.38.0"
    assert DEFAULT_LMI_VERSION not in UNAVAILABLE
    assert lmi_image_uri("cn-north-1") == \
        "727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn/djl-inference:0.38.0-lmi29.0.0-cu130"


def test_a_region_or_version_without_an_image_is_a_clear_error():
    with pytest.raises(WhisperLmiError, match="no LMI image in region 'mars-east-1'"):
        lmi_image_uri("mars-east-1")
    with pytest.raises(WhisperLmiError, match="LMI 0.30.0 is not published in us-iso-east-1 .there: 0.38.0, 0.36.0"):
        lmi_image_uri("us-iso-east-1", "0.30.0")
    with pytest.raises(WhisperLmiError, match="unknown LMI version '9.9.9'.*pass --image-tag"):
        lmi_image_uri("eu-west-1", "9.9.9")
    assert lmi_image_uri("eu-west-1", "9.9.9", tag="custom").endswith("/djl-inference:custom")
