"""Parsing ``audio_url``: S3 objects and https URLs, syntax only; the query never shows in messages or logs."""

import pytest

from serving.errors import BadParameter
from serving.fetch.audio_url import HttpsUrl, S3Object, parse_audio_url


@pytest.mark.parametrize(
    ("text", "location"),
    [
        ("s3://audio-in/a.wav", S3Object("audio-in", "a.wav")),
        ("s3://audio.in/dir/sub_dir?x#y.flac", S3Object("audio.in", "dir/sub_dir?x#y.flac")),
        ("s3://audio-in/a//b.wav", S3Object("audio-in", "a//b.wav")),  # empty segments: legal, cannot leave the bucket
        ("s3://audio-in/.../..a/a../.hidden/b..wav", S3Object("audio-in", ".../..a/a../.hidden/b..wav")),
        ("s3://audio-in/%2e%2e/a.wav", S3Object("audio-in", "%2e%2e/a.wav")),  # literal: sent as %252e%252e
        ("https://example.com/a.wav", HttpsUrl("example.com", 443, "/a.wav")),
        ("HTTPS://Example.COM:8443/a.wav?X-Amz-Signature=abc", HttpsUrl("example.com", 8443, "/a.wav?X-Amz-Signature=abc")),
        ("https://[2001:db8::1]/x", HttpsUrl("2001:db8::1", 443, "/x")),
        ("https://example.com", HttpsUrl("example.com", 443, "/")),
    ],
)
def test_valid_urls(text, location):
    assert parse_audio_url(text) == location


def test_the_printable_form_leaves_out_the_query():
    assert str(parse_audio_url("https://example.com:8443/a.wav?X-Amz-Signature=abc")) == "https://example.com:8443/a.wav"
    assert str(parse_audio_url("https://[2001:db8::1]/x?t=1")) == "https://[2001:db8::1]/x"
    assert str(parse_audio_url("s3://audio-in/k/a.wav")) == "s3://audio-in/k/a.wav"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("http://example.com/a.wav", "must be an s3://bucket/key or https:// URL"),
        ("file:///etc/passwd", "must be an s3://bucket/key or https:// URL"),
        ("s3://audio-in", "no object key"),
        ("s3://audio-in/", "no object key"),
        ("s3://Audio_In/a.wav", "no valid S3 bucket"),
        ("s3://allowed-bucket/../other-bucket/key", "S3 key with a '..' path segment"),
        ("s3://audio-in/a/../../other/b.wav", "S3 key with a '..' path segment"),
        ("s3://audio-in/./a.wav", "S3 key with a '.' path segment"),
        ("s3://audio-in/a/./../b.wav", "S3 key with a '.' or '..' path segment"),
        ("s3://audio-in/a/..", "S3 key with a '..' path segment"),
        ("s3://audio-in/..", "S3 key with a '..' path segment"),
        ("s3:///a.wav", "no valid S3 bucket"),
        ("https://user:pw@example.com/a.wav", "must not carry credentials"),
        ("https:///a.wav", "has no host"),
        ("https://example.com:99999/a.wav", "not a valid https URL"),
        ("https://example.com/a b.wav", "spaces or control characters"),
        ("https://example.com/a.wav\r\nHost: evil", "spaces or control characters"),
        ("https://" + "a" * 70 + ".com/a.wav", "host name that is not valid"),
        ("https://example.com/" + "a" * 5000, "the limit is 4096"),
    ],
)
def test_invalid_urls_are_named_bad_parameters(text, named):
    with pytest.raises(BadParameter) as caught:
        parse_audio_url(text)
    assert named in str(caught.value)
