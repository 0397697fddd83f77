import io
import struct
import wave

import av
import numpy as np
import pytest

from scripts.material.clips import REFERENCES, clip_bytes, clips
from serving.audio.decode import AudioLimits, decode_audio, duration_seconds
from serving.constants import SAMPLE_RATE
from serving.errors import AudioTooLarge, AudioTooLong, BadParameter, UndecodableAudio, UnsupportedMediaType

GENEROUS = AudioLimits(max_bytes=10**8, max_seconds=600)


def float_wav_bytes(channels_first: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    """A 32-bit IEEE float WAV of (channels, samples) or (samples,), the samples stored as they are (any range)."""
    channels_first = np.atleast_2d(channels_first)
    count = channels_first.shape[0]
    data = np.ascontiguousarray(channels_first.T, dtype="<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, count, rate, rate * 4 * count, 4 * count, 32)  # format 3: IEEE float
    body = b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def wav_bytes(samples: np.ndarray, rate: int = SAMPLE_RATE, channels: int = 1) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((samples * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


@pytest.mark.parametrize("name", [n for n in clips() if n.startswith("codec_")])
def test_every_codec_decodes_to_mono_16k_of_the_right_length(name):
    waveform = decode_audio(clip_bytes(name), GENEROUS)
    assert waveform.dtype == np.float32 and waveform.ndim == 1
    assert duration_seconds(waveform) == pytest.approx(REFERENCES[name]["seconds"], abs=0.08)
    assert 0.01 < float(np.abs(waveform).max()) <= 1.0


def test_resampling_keeps_a_tone_at_its_frequency():
    rate = 44_100
    t = np.arange(rate) / rate
    waveform = decode_audio(wav_bytes(0.5 * np.sin(2 * np.pi * 440 * t), rate), GENEROUS)
    assert waveform.size == pytest.approx(SAMPLE_RATE, abs=32)
    spectrum = np.abs(np.fft.rfft(waveform[:SAMPLE_RATE]))
    assert np.argmax(spectrum) == pytest.approx(440, abs=2)  # one second of audio: bins are 1 Hz apart


def test_stereo_is_mixed_down_by_the_mean():
    left, right = np.full(SAMPLE_RATE, 0.5), np.full(SAMPLE_RATE, 0.25)
    interleaved = np.stack([left, right], axis=1).reshape(-1)
    waveform = decode_audio(wav_bytes(interleaved, channels=2), GENEROUS)
    assert waveform.size == SAMPLE_RATE
    np.testing.assert_allclose(waveform, 0.375, atol=1e-4)


def test_empty_body_is_a_bad_request():
    with pytest.raises(BadParameter, match="empty body"):
        decode_audio(b"", GENEROUS)


def test_too_many_bytes_is_413_before_decoding():
    with pytest.raises(AudioTooLarge, match="limit is 100 bytes") as caught:
        decode_audio(b"x" * 101, AudioLimits(max_bytes=100, max_seconds=600))
    assert caught.value.status == 413


def test_too_long_is_413():
    with pytest.raises(AudioTooLong, match="limit of 2 s|limit is 2 s") as caught:
        decode_audio(wav_bytes(np.zeros(3 * SAMPLE_RATE)), AudioLimits(max_bytes=10**8, max_seconds=2))
    assert caught.value.status == 413


def test_not_audio_is_415():
    with pytest.raises(UnsupportedMediaType) as caught:
        decode_audio(b"this is plainly not an audio file" * 20, GENEROUS)
    assert caught.value.status == 415


def test_a_picture_is_an_unsupported_format():
    png = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cf"
                        "c0f01f0005000201a5f1b2a60000000049454e44ae426082")
    with pytest.raises(UnsupportedMediaType):
        decode_audio(png, GENEROUS)


def test_a_header_without_samples_is_422():
    with pytest.raises(UndecodableAudio) as caught:
        decode_audio(clip_bytes("codec_wav.wav")[:44], GENEROUS)
    assert caught.value.status == 422


def _mp3(rate: int, seconds: float = 1.0) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=rate, layout="mono")
        tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(int(rate * seconds)) / rate)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(tone[None, :], format="fltp", layout="mono")
        frame.sample_rate, frame.pts = rate, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buffer.getvalue()


def test_a_sample_rate_change_mid_stream_is_resampled_not_a_crash():
    """Regression (fuzzing): PyAV's resampler raised ValueError on the first 48 kHz frame after 44.1 kHz ones (a 500)."""
    waveform = decode_audio(_mp3(44_100) + _mp3(48_000), GENEROUS)
    assert waveform.dtype == np.float32
    assert duration_seconds(waveform) > 1.0  # all of the first part, and what the decoder made of the second


def test_non_finite_samples_are_422():
    """A float WAV can carry NaN and infinity; the model would turn them into noise text with a 200."""
    samples = np.zeros(SAMPLE_RATE, dtype="<f4")
    samples[100:200] = np.nan
    data = samples.tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, SAMPLE_RATE, SAMPLE_RATE * 4, 4, 32)  # format 3: IEEE float
    wav = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " + struct.pack("<I", 16) + fmt + b"data" + \
        struct.pack("<I", len(data)) + data
    with pytest.raises(UndecodableAudio, match="not finite numbers") as caught:
        decode_audio(wav, GENEROUS)
    assert caught.value.status == 422


def test_a_stereo_mp3_is_mixed_down_by_the_mean_and_resampled_once():
    rate = 48_000
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=rate, layout="stereo")
        tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(np.stack([tone, tone]), format="fltp", layout="stereo")
        frame.sample_rate, frame.pts = rate, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    waveform = decode_audio(buffer.getvalue(), GENEROUS)
    assert duration_seconds(waveform) == pytest.approx(1.0, abs=0.1)
    assert float(np.abs(waveform).max()) == pytest.approx(0.5, abs=0.05)  # lossy; FFmpeg's float mono: 0.71


def _flac(channels_first: np.ndarray, rate: int, sample_format: str = "s16") -> bytes:
    layout = "mono" if channels_first.shape[0] == 1 else "stereo"
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="flac") as out:
        stream = out.add_stream("flac", rate=rate, layout=layout)
        stream.codec_context.format = sample_format
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(channels_first, np.float32), format="fltp", layout=layout)
        frame.sample_rate, frame.pts = rate, 0
        resampler = av.AudioResampler(format=sample_format, layout=layout, rate=rate)
        for converted in [*resampler.resample(frame), *resampler.resample(None)]:
            out.mux(stream.encode(converted))
        out.mux(stream.encode(None))
    return buffer.getvalue()


@pytest.mark.parametrize("sample_format", ["s16", "s32"])  # packed, interleaved frames (s32: 24-bit FLAC)
def test_interleaved_stereo_frames_are_mixed_down_by_the_mean(sample_format):
    left, right = np.full(SAMPLE_RATE, 0.5), np.full(SAMPLE_RATE, 0.25)
    waveform = decode_audio(_flac(np.stack([left, right]), SAMPLE_RATE, sample_format), GENEROUS)
    assert waveform.size == SAMPLE_RATE
    np.testing.assert_allclose(waveform, 0.375, atol=1e-4)


def test_a_long_stream_is_resampled_in_chunks_exactly_as_in_one_call():
    from serving.audio.av_decoding import CHUNK_SECONDS
    from serving.audio.resampling import resample

    rate = 48_000
    samples = (0.1 * np.random.default_rng(0).standard_normal(int(rate * (2.5 * CHUNK_SECONDS)))).astype(np.float32)
    data = _flac(samples[None], rate)
    with av.open(io.BytesIO(data)) as container:  # the 16-bit samples the file holds
        stored = np.concatenate([frame.to_ndarray().reshape(-1) for frame in container.decode(audio=0)])
    waveform = decode_audio(data, GENEROUS)
    np.testing.assert_array_equal(waveform, resample(stored.astype(np.float32) / 32768, rate))
