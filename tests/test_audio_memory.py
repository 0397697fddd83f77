"""One buffer per request's audio: decoding writes 16 kHz float32 chunks into one buffer sized from the declared
length (serving/audio/buffer.py), VAD runs over views of it in bounded runs that give what one run gives
(serving/longform/vad.py), the plans read the speech regions through it (JoinedAudio), and the heap is trimmed
after long requests. Structure and behaviour, no timings."""

from __future__ import annotations

import io
from typing import ClassVar

import av
import numpy as np
import pytest

from scripts.hostile.bombs import flac_silence, without_declared_length
from serving.audio import buffer as buffer_module
from serving.audio.buffer import WaveformBuffer
from serving.audio.decode import AudioLimits, decode_audio
from serving.audio.probe import expected_seconds
from serving.constants import SAMPLE_RATE
from serving.endpoint.heap import trim_heap
from serving.longform import vad as vad_module
from serving.longform.vad import FRAME_SAMPLES, JoinedAudio, Region, SileroVad, find_model, frame_inputs
from tests.test_audio import wav_bytes

LIMITS = AudioLimits(1 << 30, 3600)


class CountingBuffer(WaveformBuffer):
    """Records every buffer a decode creates and how often it was (re)allocated."""

    made: ClassVar[list[CountingBuffer]] = []

    def __init__(self, expected_seconds: float | None = None) -> None:
        super().__init__(expected_seconds)
        CountingBuffer.made.append(self)


@pytest.fixture
def counting(monkeypatch):
    CountingBuffer.made = []
    monkeypatch.setattr("serving.audio.av_decoding.WaveformBuffer", CountingBuffer)
    monkeypatch.setattr("serving.audio.decode.WaveformBuffer", CountingBuffer)
    return CountingBuffer.made


def ogg_opus(seconds: float, rate: int = 48_000) -> bytes:
    out_buffer = io.BytesIO()
    tone = (np.sin(np.arange(int(seconds * rate)) * 0.05) * 8000).astype(np.int16)[None, :]
    with av.open(out_buffer, "w", format="ogg") as out:
        stream = out.add_stream("libopus", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(tone, format="s16", layout="mono")
        frame.sample_rate, frame.pts = rate, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return out_buffer.getvalue()


def test_a_declared_length_is_decoded_into_one_buffer_allocated_once(counting):
    waveform = decode_audio(flac_silence(600), LIMITS)  # ten minutes: twenty chunks of 30 s
    (made,) = counting
    assert made.allocations == 2  # allocated for the declared length, then cut to what was written (in place)
    assert waveform.shape == (600 * SAMPLE_RATE,) and waveform.dtype == np.float32


def test_a_resampled_stream_is_written_into_the_one_buffer(counting):
    waveform = decode_audio(ogg_opus(75.0), LIMITS)  # 48 kHz: three chunks through the resampler
    (made,) = counting
    assert made.allocations == 2
    assert abs(waveform.shape[0] - 75 * SAMPLE_RATE) < SAMPLE_RATE // 10


def test_a_long_wav_is_converted_a_chunk_at_a_time_into_one_buffer(counting):
    samples = np.sin(np.arange(70 * 44_100) * 0.01) * 0.5
    waveform = decode_audio(wav_bytes(samples, rate=44_100), LIMITS)
    (made,) = counting
    assert made.allocations == 2
    assert abs(waveform.shape[0] - 70 * SAMPLE_RATE) <= 1


def test_a_file_that_declares_no_length_grows_its_buffer_in_place(counting, monkeypatch):
    monkeypatch.setattr(buffer_module, "MIN_SAMPLES", 60 * SAMPLE_RATE)
    waveform = decode_audio(without_declared_length(flac_silence(600)), LIMITS)
    (made,) = counting
    assert waveform.shape == (600 * SAMPLE_RATE,)
    assert 2 < made.allocations <= 10  # grown by half each time it filled: a few reallocations, not one per chunk


def test_chunked_decoding_gives_the_samples_of_one_whole_conversion():
    from serving.audio import pcm
    from serving.audio.resampling import resample

    samples = np.sin(np.arange(65 * 22_050) * 0.003) * 0.3
    stored = (samples * 32767).astype(np.int16)  # as the WAV holds them
    whole = resample(pcm.mono_float32(stored[None, :]).samples, 22_050)
    np.testing.assert_array_equal(decode_audio(wav_bytes(samples, rate=22_050), LIMITS), whole)


def test_admission_expects_the_declared_length_or_the_limit():
    assert expected_seconds(flac_silence(600), 3600) == pytest.approx(600)
    assert expected_seconds(flac_silence(600), 100) == 100
    assert expected_seconds(wav_bytes(np.zeros(16_000 * 3)), 3600) == 3
    assert expected_seconds(without_declared_length(flac_silence(60)), 3600) == 3600
    assert expected_seconds(b"junk" * 100, 3600) == 0


# ---- VAD and plans read the one buffer ---------------------------------------------------------------------------


def test_vad_runs_give_what_one_run_gives(monkeypatch):
    rng = np.random.default_rng(0)
    waveform = (rng.standard_normal(40 * SAMPLE_RATE + 123) * np.repeat(rng.random(41), SAMPLE_RATE)[
        : 40 * SAMPLE_RATE + 123]).astype(np.float32)
    vad = SileroVad(find_model(None))
    monkeypatch.setattr(vad_module, "FRAMES_PER_RUN", 10**9)
    whole = vad.probabilities(waveform)
    monkeypatch.setattr(vad_module, "FRAMES_PER_RUN", 100)
    np.testing.assert_array_equal(vad.probabilities(waveform), whole)


def test_vad_inputs_are_each_frame_after_the_end_of_the_one_before():
    waveform = np.arange(3 * FRAME_SAMPLES + 10, dtype=np.float32)
    rows = frame_inputs(waveform, 1, 4)
    assert rows.shape == (3, 64 + FRAME_SAMPLES)
    np.testing.assert_array_equal(rows[0], waveform[FRAME_SAMPLES - 64 : 2 * FRAME_SAMPLES])
    np.testing.assert_array_equal(rows[1], waveform[2 * FRAME_SAMPLES - 64 : 3 * FRAME_SAMPLES])
    np.testing.assert_array_equal(rows[2, :74], waveform[3 * FRAME_SAMPLES - 64 :])
    assert not rows[2, 74:].any()
    assert not frame_inputs(waveform, 0, 1)[0, :64].any()


def test_joined_speech_is_read_through_the_waveform():
    waveform = np.arange(100, dtype=np.float32)
    joined = JoinedAudio(waveform, (Region(10, 30, 10, 30), Region(50, 60, 50, 60)))
    assert joined.shape == (30,)
    inside = joined[2:15]
    assert np.shares_memory(inside, waveform)  # a window within one region: a view, no copy
    np.testing.assert_array_equal(inside, waveform[12:25])
    np.testing.assert_array_equal(joined[15:25], np.concatenate([waveform[25:30], waveform[50:55]]))
    np.testing.assert_array_equal(joined[25:99], waveform[55:60])
    assert joined[40:50].shape == (0,)


def test_the_heap_is_trimmed_after_a_long_request_and_the_audio_let_go(monkeypatch):
    from serving.batching.scheduler import Scheduler, SchedulerOptions
    from serving.endpoint import service as service_module
    from serving.settings import load_settings
    from tests.scheduling import FakeRunner
    from tests.test_admission import audio_request

    trims = []
    monkeypatch.setattr(service_module, "TRIM_AFTER_SECONDS", 3)
    monkeypatch.setattr(service_module, "trim_heap", lambda: trims.append(True))
    service = service_module.TranscriptionService(load_settings({}, {}), Scheduler(FakeRunner(8), SchedulerOptions(0)))
    try:
        exchange = service.prepare(audio_request(4), streaming=False)
        assert exchange.job is not None and service.budget.used == 4
        exchange.finish()
        assert (exchange.job, service.budget.used, trims) == (None, 0, [True])
        service.handle([audio_request(1)])
        assert trims == [True]  # a short request: no trim
    finally:
        service.close()
    assert trim_heap() is True  # glibc here: malloc_trim is found
