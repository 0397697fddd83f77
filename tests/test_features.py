import numpy as np
import pytest
from transformers import WhisperFeatureExtractor

from serving.constants import FRAMES_PER_WINDOW, HOP_LENGTH, SAMPLE_RATE, WINDOW_SAMPLES
from serving.engine.features import PAD_AUDIO, PAD_FEATURES, LogMel


def padded_window(waveform: np.ndarray) -> np.ndarray:
    window = np.zeros((1, WINDOW_SAMPLES), np.float32)
    window[0, : waveform.size] = waveform
    return window


@pytest.mark.parametrize("n_mels", [80, 128])
def test_log_mel_matches_transformers_feature_extractor(n_mels):
    extractor = WhisperFeatureExtractor(feature_size=n_mels)
    t = np.arange(7 * SAMPLE_RATE) / SAMPLE_RATE
    waveform = (0.3 * np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 0.5 * t)).astype(np.float32)
    expected = extractor(waveform, sampling_rate=SAMPLE_RATE, return_tensors="np").input_features
    ours = LogMel(extractor.mel_filters, "cpu", PAD_AUDIO)(padded_window(waveform)).numpy()
    assert ours.shape == (1, n_mels, FRAMES_PER_WINDOW)
    np.testing.assert_allclose(ours, expected, atol=1e-4)


def test_windows_of_a_batch_are_normalised_independently():
    extractor = WhisperFeatureExtractor(feature_size=80)
    rng = np.random.default_rng(1)
    loud, quiet = rng.standard_normal((2, WINDOW_SAMPLES)).astype(np.float32) * np.array([[1.0], [1e-3]], np.float32)
    log_mel = LogMel(extractor.mel_filters, "cpu")
    batch = log_mel(np.stack([loud, quiet])).numpy()
    np.testing.assert_allclose(batch[1], log_mel(quiet[None])[0].numpy(), atol=1e-5)


def test_wrong_window_shape_is_rejected():
    with pytest.raises(ValueError, match="expected"):
        LogMel(WhisperFeatureExtractor(feature_size=80).mel_filters, "cpu")(np.zeros((1, 1000), np.float32))


def test_padded_features_match_faster_whisper_front_end():
    """PAD_FEATURES: the frames holding audio as faster-whisper computes them (160 samples of padding, the
    log-mel, features zero-padded to 3000 frames), every later frame zero."""
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.feature_extractor import FeatureExtractor

    extractor = WhisperFeatureExtractor(feature_size=80)
    t = np.arange(7 * SAMPLE_RATE + 123) / SAMPLE_RATE
    waveform = (0.3 * np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 0.5 * t)).astype(np.float32)
    frames = waveform.size // HOP_LENGTH
    expected = pad_or_trim(FeatureExtractor(feature_size=80)(waveform)[:, :frames])
    ours = LogMel(extractor.mel_filters, "cpu", PAD_FEATURES)(padded_window(waveform), [waveform.size])[0].numpy()
    assert not ours[:, frames:].any()
    np.testing.assert_allclose(ours[:, : frames - 1], expected[:, : frames - 1], atol=1e-4)


def test_padded_audio_keeps_the_log_mel_of_the_silence_whatever_the_lengths():
    extractor = WhisperFeatureExtractor(feature_size=80)
    waveform = np.random.default_rng(2).standard_normal(SAMPLE_RATE).astype(np.float32) * 0.1
    log_mel = LogMel(extractor.mel_filters, "cpu", PAD_AUDIO)
    np.testing.assert_array_equal(log_mel(padded_window(waveform), [waveform.size]).numpy(),
                                  log_mel(padded_window(waveform)).numpy())


def test_unknown_padding_is_rejected():
    with pytest.raises(ValueError, match="padding"):
        LogMel(WhisperFeatureExtractor(feature_size=80).mel_filters, "cpu", "zeros")


def test_with_the_requests_ceiling_a_window_of_long_audio_is_faster_whisper_s_slice_of_the_whole_file():
    """90 s whose loudness varies: faster-whisper takes the log-mel of the whole file once (one maximum) and slices
    windows out of it. With the request's ceiling (LogMel.ceiling over the whole audio) a quiet window's frames
    equal that slice (all but the two frames at each edge, whose STFT sees the audio beyond the window there); with the window's
    own maximum its floor sits lower and frames differ."""
    from faster_whisper.feature_extractor import FeatureExtractor

    extractor = WhisperFeatureExtractor(feature_size=80)
    t = np.arange(90 * SAMPLE_RATE) / SAMPLE_RATE
    rng = np.random.default_rng(3)
    loudness = np.where(t < 30.0, 1.0, 0.05)  # the loudest part first: later windows are quieter than the file
    waveform = (loudness * (0.3 * np.sin(2 * np.pi * 330 * t) + 0.02 * rng.standard_normal(t.size))).astype(np.float32)
    whole = FeatureExtractor(feature_size=80)(waveform, padding=160)
    log_mel = LogMel(extractor.mel_filters, "cpu", PAD_FEATURES)
    ceiling = log_mel.ceiling(waveform)
    assert ceiling == pytest.approx(float(whole.max()) * 4.0 - 4.0, abs=1e-3)
    start = 45 * SAMPLE_RATE
    window = waveform[start : start + WINDOW_SAMPLES][None]
    expected = whole[:, start // HOP_LENGTH : start // HOP_LENGTH + FRAMES_PER_WINDOW]
    given = log_mel(window, [WINDOW_SAMPLES], [ceiling])[0].numpy()
    own = log_mel(window, [WINDOW_SAMPLES], [None])[0].numpy()
    np.testing.assert_allclose(given[:, 2:-2], expected[:, 2:-2], atol=1e-4)
    assert np.abs(own - expected)[:, 2:-2].max() > 0.05
    np.testing.assert_array_equal(own, log_mel(window, [WINDOW_SAMPLES])[0].numpy())  # None: as before
