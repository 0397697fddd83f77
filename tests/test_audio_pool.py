"""The decoder pool (serving/audio/pool.py): compressed audio decoded in worker processes gives the samples, the
errors and the statuses that decoding in the request's thread gives; its size follows the cores or the option; a
worker that dies is replaced; a long waveform comes back through shared memory."""

from __future__ import annotations

import io
import json
import os
import signal
from concurrent.futures import ThreadPoolExecutor

import av
import numpy as np
import pytest

from scripts.material.audio_files import encode_audio
from scripts.material.clips import clip_bytes
from serving.api.requests import RawRequest
from serving.audio.decode import AudioLimits, decode_audio
from serving.audio.pool import (
    SHARED_MEMORY_DIR,
    SHARED_MIN_BYTES,
    AudioDecoder,
    DecoderOptions,
    SharedWaveform,
    decode_in_worker,
    pool_size,
    received,
    usable_cores,
)
from serving.batching.scheduler import Scheduler, SchedulerOptions
from serving.endpoint.service import TranscriptionService
from serving.errors import AudioTooLong, UndecodableAudio, UnsupportedMediaType, error_response
from serving.settings import load_settings
from tests.scheduling import FakeRunner

LIMITS = AudioLimits(max_bytes=64 * 1024 * 1024, max_seconds=600)
CODEC_CLIPS = ("codec_mp3.mp3", "codec_ogg.ogg", "codec_webm.webm", "codec_flac.flac", "codec_m4a.m4a",
               "codec_wav.wav", "de_bahnhof.flac")


def nan_matroska() -> bytes:
    """Float PCM in Matroska (decoded by PyAV, so in the pool) with NaN samples: a 422."""
    samples = np.zeros((1, 16_000), np.float32)
    samples[0, 100:200] = np.nan
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="matroska") as output:
        stream = output.add_stream("pcm_f32le", rate=16_000, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
        frame.sample_rate, frame.pts = 16_000, 0
        output.mux(stream.encode(frame))
        output.mux(stream.encode(None))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def pool():
    decoder = AudioDecoder(DecoderOptions(LIMITS, workers=2))
    yield decoder
    decoder.close()


@pytest.mark.parametrize("name", CODEC_CLIPS)
def test_every_codec_decodes_to_the_same_samples_through_the_pool(pool, name):
    data = clip_bytes(name)
    through_pool = pool.decode(data)
    assert through_pool.dtype == np.float32
    np.testing.assert_array_equal(through_pool, decode_audio(data, LIMITS))


def test_decodes_from_many_threads_at_once_each_get_their_own_samples(pool):
    names = CODEC_CLIPS * 2
    with ThreadPoolExecutor(len(names)) as callers:
        decoded = list(callers.map(lambda name: pool.decode(clip_bytes(name)), names))
    for name, waveform in zip(names, decoded):
        np.testing.assert_array_equal(waveform, decode_audio(clip_bytes(name), LIMITS))


@pytest.mark.parametrize(
    ("data", "error", "status"),
    [
        (b"\x00not audio at all" * 20, UnsupportedMediaType, 415),
        (nan_matroska(), UndecodableAudio, 422),
    ],
)
def test_errors_from_a_decode_in_the_pool_keep_their_status(pool, data, error, status):
    with pytest.raises(error) as raised:
        pool.decode(data)
    assert error_response(raised.value, "r").status == status


def test_a_too_long_file_in_the_pool_is_a_413_naming_the_limit():
    decoder = AudioDecoder(DecoderOptions(AudioLimits(LIMITS.max_bytes, max_seconds=1.0), workers=1))
    try:
        with pytest.raises(AudioTooLong, match="limit is 1 s") as raised:  # the mp3 declares its length
            decoder.decode(clip_bytes("codec_mp3.mp3"))
    finally:
        decoder.close()
    assert error_response(raised.value, "r").status == 413


def test_the_pool_size_follows_the_cores_and_the_option(pool):
    assert pool_size("auto") == usable_cores() == len(os.sched_getaffinity(0))
    assert pool_size(3) == 3 and pool_size(0) == 0
    assert load_settings({}, {}).decode_workers == "auto"
    assert load_settings({"decode_workers": "3"}, {}).decode_workers == 3
    assert load_settings({"decode_workers": "AUTO"}, {}).decode_workers == "auto"
    with pytest.raises(ValueError, match="decode_workers"):
        load_settings({"decode_workers": "-1"}, {})
    assert len(pool.pids()) == 2 and os.getpid() not in pool.pids()


def test_without_workers_audio_is_decoded_in_the_calling_thread():
    decoder = AudioDecoder(DecoderOptions(LIMITS, workers=0))
    assert decoder.pids() == []
    np.testing.assert_array_equal(decoder.decode(clip_bytes("codec_ogg.ogg")),
                                  decode_audio(clip_bytes("codec_ogg.ogg"), LIMITS))


def test_a_worker_that_dies_is_replaced_and_the_decode_still_answers():
    decoder = AudioDecoder(DecoderOptions(LIMITS, workers=1))
    try:
        data = clip_bytes("codec_flac.flac")
        decoder.decode(data)
        (dead,) = decoder.pids()
        os.kill(dead, signal.SIGKILL)
        np.testing.assert_array_equal(decoder.decode(data), decode_audio(data, LIMITS))
        assert len(decoder.pids()) == 1 and decoder.pids() != [dead]
    finally:
        decoder.close()


def test_the_service_decodes_through_its_pool_and_maps_its_errors(pool):
    scheduler = Scheduler(FakeRunner(capacity=8), SchedulerOptions(max_batch_wait_ms=0))
    service = TranscriptionService(load_settings({}, {}), scheduler, decoder=pool)
    try:
        ok, bad = service.handle([raw_audio(clip_bytes("codec_mp3.mp3")), raw_audio(b"\x00nope" * 50)])
    finally:
        scheduler.close(0)  # the module's pool stays open for the other tests
    assert ok.status == 200 and json.loads(ok.body)["text"]
    assert bad.status == 415 and "not a recognised audio file" in json.loads(bad.body)["error"]["message"]


def raw_audio(data: bytes) -> RawRequest:
    return RawRequest({"Content-Type": "application/octet-stream"}, data)


def test_a_long_waveform_comes_back_through_shared_memory_and_leaves_nothing_there(pool):
    """From SHARED_MIN_BYTES up the waveform is mapped, not unpickled (an hour is not held twice); the same samples,
    writable, and its /dev/shm name removed at once."""
    seconds = SHARED_MIN_BYTES // 4 // 16_000 + 10
    tone = (0.1 * np.sin(np.arange(seconds * 16_000) / 7)).astype(np.float32)
    data = encode_audio(tone, "flac")
    assert isinstance(decode_in_worker(data, LIMITS), SharedWaveform)  # what a worker hands back for it
    before = set(os.listdir(SHARED_MEMORY_DIR))
    shared = received(decode_in_worker(data, LIMITS))
    assert set(os.listdir(SHARED_MEMORY_DIR)) == before
    np.testing.assert_array_equal(shared, decode_audio(data, LIMITS))
    through_pool = pool.decode(data)
    np.testing.assert_array_equal(through_pool, shared)
    assert through_pool.flags.writeable and set(os.listdir(SHARED_MEMORY_DIR)) == before


def test_a_decode_after_the_pool_closed_is_done_in_the_calling_thread():
    decoder = AudioDecoder(DecoderOptions(LIMITS, workers=1))
    executor = decoder._executor  # noqa: SLF001 - a decode that took the pool just before it closed
    decoder.close()
    decoder._executor = executor  # noqa: SLF001
    data = clip_bytes("codec_ogg.ogg")
    np.testing.assert_array_equal(decoder.decode(data), decode_audio(data, LIMITS))
    decoder._executor = None  # noqa: SLF001
