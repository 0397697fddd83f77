"""Audio in range before features: float audio far beyond full scale is scaled back (and logged once per request),
and channels that cancel in their mean fall back to the loudest channel (serving.audio.pcm, serving.audio.decode)."""

import io
import logging

import av
import numpy as np
import pytest

from serving.audio import pcm
from serving.audio.decode import AudioLimits, decode_audio
from serving.constants import SAMPLE_RATE
from serving.errors import UndecodableAudio
from tests.test_audio import float_wav_bytes

GENEROUS = AudioLimits(max_bytes=10**8, max_seconds=600)


def speechlike(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    """Noise under a slow envelope, peak 0.7 (the committed clips' peak): full-band, so resampling keeps it."""
    rng = np.random.default_rng(seed)
    samples = int(seconds * SAMPLE_RATE)
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * np.arange(samples) / SAMPLE_RATE)
    signal = rng.standard_normal(samples) * envelope
    return (0.7 * signal / np.abs(signal).max()).astype(np.float32)


def scaling_logs(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "full scale" in r.getMessage()]


# --- far beyond full scale -------------------------------------------------------------------------------------


@pytest.mark.parametrize("factor", [1e3, 1e18, 1e30])
def test_a_mis_scaled_float_wav_is_brought_to_full_scale_and_logged_once(factor, caplog):
    original = speechlike()
    with caplog.at_level(logging.INFO, logger="serving.audio.decode"):
        waveform = decode_audio(float_wav_bytes(original * np.float32(factor)), GENEROUS)
    assert float(np.abs(waveform).max()) == pytest.approx(1.0, rel=1e-6)
    np.testing.assert_allclose(waveform, original / np.abs(original).max(), rtol=1e-5, atol=1e-6)
    (message,) = scaling_logs(caplog)
    assert f"{0.7 * factor:.3g} times full scale" in message


@pytest.mark.parametrize("peak", [0.7, 1.0, 1.5, pcm.MAX_PEAK])
def test_audio_up_to_the_bound_is_left_as_it_is_without_a_log(peak, caplog):
    original = speechlike()
    original *= np.float32(peak / np.abs(original).max())
    with caplog.at_level(logging.INFO, logger="serving.audio.decode"):
        waveform = decode_audio(float_wav_bytes(original), GENEROUS)
    np.testing.assert_array_equal(waveform, original)
    assert scaling_logs(caplog) == []


def test_just_above_the_bound_is_scaled():
    original = speechlike()
    original *= np.float32(1.01 * pcm.MAX_PEAK / np.abs(original).max())
    waveform = decode_audio(float_wav_bytes(original), GENEROUS)
    assert float(np.abs(waveform).max()) == pytest.approx(1.0, rel=1e-6)


def test_a_negative_peak_counts_as_much_as_a_positive_one():
    original = np.zeros(SAMPLE_RATE, dtype=np.float32)
    original[100], original[200] = 0.5, -5000.0
    waveform = decode_audio(float_wav_bytes(original), GENEROUS)
    assert (waveform[100], waveform[200]) == pytest.approx((0.5 / 5000, -1.0))


def test_a_resampled_mis_scaled_file_is_scaled_after_resampling():
    original = speechlike(seed=1)
    waveform = decode_audio(float_wav_bytes(np.repeat(original, 3) * np.float32(1e6), rate=48_000), GENEROUS)
    assert waveform.size == original.size
    assert float(np.abs(waveform).max()) == pytest.approx(1.0, rel=1e-6)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_samples_that_are_not_finite_are_still_422(bad):
    original = speechlike()
    original[500] = bad
    with pytest.raises(UndecodableAudio, match="not finite numbers") as caught:
        decode_audio(float_wav_bytes(original), GENEROUS)
    assert caught.value.status == 422


def test_finite_samples_whose_mix_overflows_float32_are_422_naming_the_overflow():
    loud = np.full(SAMPLE_RATE, 3e38, dtype=np.float32)
    with pytest.raises(UndecodableAudio, match="overflows"):
        decode_audio(float_wav_bytes(np.stack([loud, loud])), GENEROUS)


def test_the_peak_of_a_waveform():
    assert pcm.peak(np.array([0.1, -0.3, 0.2], np.float32)) == pytest.approx(0.3)
    assert np.isnan(pcm.peak(np.array([0.1, np.nan], np.float32)))
    assert pcm.peak(np.zeros(0, np.float32)) == 0.0


# --- channels that cancel in their mean ------------------------------------------------------------------------


def test_a_stereo_wav_whose_channels_cancel_falls_back_to_a_channel_and_is_logged(caplog):
    left = speechlike()
    with caplog.at_level(logging.INFO, logger="serving.audio.decode"):
        waveform = decode_audio(float_wav_bytes(np.stack([left, -left])), GENEROUS)
    np.testing.assert_array_equal(waveform, left)
    (message,) = [r.getMessage() for r in caplog.records if "cancel" in r.getMessage()]
    assert message == "the 2 channels cancel in their mean: channel 0 (the loudest) is used alone"


def test_the_loudest_channel_is_the_one_used():
    left = speechlike()
    mix = pcm.mono_float32(np.stack([0.95 * left, -left]))
    assert mix.channel == 1
    np.testing.assert_allclose(mix.samples, -left)


@pytest.mark.parametrize(("dtype", "full_scale", "offset"), [(np.int16, 2**15, 0), (np.int32, 2**31, 0),
                                                             (np.uint8, 2**7, 2**7), (np.float64, 1, 0)])
def test_cancelling_channels_of_every_sample_format_fall_back(dtype, full_scale, offset):
    left = speechlike() if full_scale == 1 else np.round(speechlike() * (full_scale - 1))
    channels = np.stack([offset + left, offset - left]).astype(dtype)
    mix = pcm.mono_float32(channels)
    assert mix.channel == 0
    np.testing.assert_allclose(mix.samples, left / full_scale, atol=1e-6)


@pytest.mark.parametrize("name", ["equal", "independent", "one-silent", "half-inverted-and-quieter"])
def test_channels_that_do_not_cancel_are_mixed_by_their_mean(name):
    left = speechlike(seed=2)
    right = {"equal": left, "independent": speechlike(seed=3), "one-silent": np.zeros_like(left),
             "half-inverted-and-quieter": -0.5 * left}[name]
    mix = pcm.mono_float32(np.stack([left, right]))
    assert mix.channel is None
    np.testing.assert_allclose(mix.samples, (left + right) / 2, atol=1e-6)


def test_silence_in_every_channel_stays_the_mean():
    mix = pcm.mono_float32(np.zeros((2, SAMPLE_RATE), np.float32))
    assert mix.channel is None and not mix.samples.any()


def test_a_mono_channel_is_never_a_fallback():
    assert pcm.mono_float32(speechlike()[None]).channel is None


def test_cancelling_channels_far_beyond_full_scale_fall_back_and_are_scaled():
    left = speechlike() * np.float32(1e18)
    waveform = decode_audio(float_wav_bytes(np.stack([left, -left])), GENEROUS)
    np.testing.assert_allclose(waveform, left / np.abs(left).max(), rtol=1e-5, atol=1e-6)


def test_a_stereo_flac_whose_channels_cancel_falls_back_through_ffmpeg(caplog):
    left = speechlike()
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="flac") as out:
        stream = out.add_stream("flac", rate=SAMPLE_RATE, layout="stereo")
        stream.codec_context.format = "s16"
        frame = av.AudioFrame.from_ndarray(np.round(np.stack([left, -left]) * 32767).astype(np.int16).T.reshape(1, -1),
                                           format="s16", layout="stereo")
        frame.sample_rate, frame.pts = SAMPLE_RATE, 0
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with caplog.at_level(logging.INFO, logger="serving.audio.av_decoding"):
        waveform = decode_audio(buffer.getvalue(), GENEROUS)
    np.testing.assert_allclose(waveform, np.round(left * 32767) / 32768, atol=1e-6)
    assert [r.getMessage() for r in caplog.records if "cancel" in r.getMessage()] == [
        "the channels cancel in their mean in 1 of 1 chunk(s): the loudest channel is used alone there"]
