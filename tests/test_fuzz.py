"""Hostile input against the decoder, the request parser and the service boundary (property-based, hypothesis).

A modest, derandomized number of cases per run here; ``python -m benchmarks.fuzz --cases 10000`` runs many more.
"""

import re

import pytest
from hypothesis import HealthCheck, given, settings

from scripts.hostile.audio import audio_bytes
from scripts.hostile.bombs import flac_silence, ogg_claiming, wav_claiming, without_declared_length
from scripts.hostile.boundary import boundary_service
from scripts.hostile.outcomes import FAIL, decode_outcome, parse_outcome, service_outcome
from scripts.hostile.requests import hostile_requests
from scripts.material.clips import clip_bytes
from serving.api.requests import RawRequest
from serving.audio.decode import AudioLimits, decode_audio
from serving.errors import AudioTooLong

SUITE = settings(
    max_examples=150, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
BOMB_LIMITS = AudioLimits(max_bytes=10**8, max_seconds=60)
TWO_HOURS = 7200
FLAC_BLOCK_SECONDS = 65535 / 16000  # the bombs' FLAC frames: decoding may overshoot the limit by one


@pytest.fixture(scope="module")
def service():
    return boundary_service()


@SUITE
@given(audio_bytes())
def test_damaged_or_random_audio_decodes_or_fails_with_a_named_client_error(data):
    assert not decode_outcome(data).startswith(FAIL), decode_outcome(data)


@settings(SUITE, max_examples=100)
@given(hostile_requests())
def test_the_parser_accepts_or_refuses_every_hostile_request_with_a_named_client_error(raw):
    assert not parse_outcome(raw).startswith(FAIL), parse_outcome(raw)


@settings(SUITE, max_examples=100)
@given(hostile_requests())
def test_the_service_answers_every_hostile_request_without_a_5xx(service, raw):
    outcome = service_outcome(service, raw)
    assert not outcome.startswith(FAIL), outcome


# --- decode bombs: hours of audio in a few KB ------------------------------------------------------------------


def test_a_flac_declaring_hours_is_refused_before_decoding():
    bomb = flac_silence(TWO_HOURS)
    assert len(bomb) < 64_000
    with pytest.raises(AudioTooLong, match=r"audio declares 7200\.0 s; the limit is 60 s"):
        decode_audio(bomb, BOMB_LIMITS)


def test_a_flac_hiding_its_length_is_stopped_by_the_running_count():
    bomb = without_declared_length(flac_silence(TWO_HOURS))
    with pytest.raises(AudioTooLong) as caught:
        decode_audio(bomb, BOMB_LIMITS)
    decoded_seconds = float(re.search(r"decoding stopped at ([\d.]+) s", str(caught.value)).group(1))
    assert 60 < decoded_seconds <= 60 + FLAC_BLOCK_SECONDS  # work done: one block past the limit, not two hours


def test_an_ogg_whose_last_page_claims_ten_hours_is_refused_before_decoding():
    bomb = ogg_claiming(10 * 3600, clip_bytes("codec_ogg.ogg"))
    with pytest.raises(AudioTooLong, match=r"audio declares 36000\.0 s"):
        decode_audio(bomb, BOMB_LIMITS)


def test_a_wav_header_claiming_ten_hours_decodes_only_the_samples_it_carries():
    waveform = decode_audio(wav_claiming(10 * 3600, data_bytes=4000), BOMB_LIMITS)
    assert waveform.size == 2000  # 4000 bytes of 16-bit samples: FFmpeg bounds the data chunk by the file


@pytest.mark.parametrize("make", [lambda: flac_silence(TWO_HOURS), lambda: without_declared_length(flac_silence(TWO_HOURS)),
                                  lambda: ogg_claiming(10 * 3600, clip_bytes("codec_ogg.ogg"))],
                         ids=["declared-flac", "hidden-flac", "lying-ogg"])
def test_decode_bombs_are_413_at_the_boundary(make):
    service = boundary_service()
    (response,) = service.handle([RawRequest({"Content-Type": "audio/flac"}, make())])
    assert response.status == 413 and b"too_long" in response.body
