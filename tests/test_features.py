import numpy as np
import pytest
from transformers import WhisperFeatureExtractor

from serving.constants import FRAMES_PER_WINDOW, HOP_LENGTH, SAMPLE_RATE, WINDOW_SAMPLES
from serving.engine.features import (
    CONTEXT_SAMPLES,
    CONTEXT_WINDOW_SAMPLES,
    PAD_AUDIO,
    PAD_FEATURES,
    PADDINGS,
    LogMel,
    window_in_context,
)


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
    equal that slice: a bare window's all but the two frames at each edge (whose STFT sees the audio beyond the
    window there), a window in context every frame; with the window's own maximum its floor sits lower and frames
    differ."""
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
    in_context = log_mel(window_in_context(waveform, start, WINDOW_SAMPLES)[None], [WINDOW_SAMPLES], [ceiling])
    np.testing.assert_allclose(in_context[0].numpy(), expected, atol=1e-4)  # the edge frames too


def long_waveform(seconds: float, seed: int) -> np.ndarray:
    """Speech-like sound: tones that change every 0.1 s over noise, so that frames differ from their neighbours."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    pitch = np.repeat(rng.uniform(100, 3000, int(seconds * 10) + 1), SAMPLE_RATE // 10)[: t.size]
    return (0.3 * np.sin(2 * np.pi * pitch * t) + 0.05 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.mark.parametrize("start", [0, HOP_LENGTH, 27 * HOP_LENGTH, 45 * SAMPLE_RATE, 50 * SAMPLE_RATE + 7 * HOP_LENGTH])
def test_a_window_in_context_is_faster_whisper_s_slice_of_the_whole_file_s_features(start):
    """openai/whisper's and faster-whisper's transcribe take the log-mel of the whole file (160 samples of padding)
    once and slice 3000 frames at each seek, zero-padding the last window's features. A window in context, with the
    request's ceiling, gives exactly that slice: every frame, the edge ones included, at any seek (one close enough
    to the file's start that the first frames see its reflection too), for whole windows and the file's last one."""
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.feature_extractor import FeatureExtractor

    waveform = long_waveform(67.3, seed=4)
    whole = FeatureExtractor(feature_size=80)(waveform, padding=HOP_LENGTH)[:, :-1]  # transcribe's content frames
    log_mel = LogMel(WhisperFeatureExtractor(feature_size=80).mel_filters, "cpu", PAD_FEATURES)
    ceiling = log_mel.ceiling(waveform)
    assert ceiling == pytest.approx(float(whole.max()) * 4.0 - 4.0, abs=1e-5)
    length = min(WINDOW_SAMPLES, waveform.size - start)
    window = window_in_context(waveform, start, length)
    assert window.shape == (CONTEXT_WINDOW_SAMPLES,) and window.dtype == np.float32
    ours = log_mel(window[None], [length], [ceiling])[0].numpy()
    seek = start // HOP_LENGTH
    expected = pad_or_trim(whole[:, seek : seek + length // HOP_LENGTH])
    np.testing.assert_allclose(ours, expected, atol=1e-4)


def test_the_last_window_of_a_long_file_in_context_is_faster_whisper_s_zero_padded_slice():
    from faster_whisper.audio import pad_or_trim
    from faster_whisper.feature_extractor import FeatureExtractor

    waveform = long_waveform(47.51, seed=5)
    whole = FeatureExtractor(feature_size=80)(waveform, padding=HOP_LENGTH)[:, :-1]
    log_mel = LogMel(WhisperFeatureExtractor(feature_size=80).mel_filters, "cpu", PAD_FEATURES)
    start = 20 * SAMPLE_RATE + 3 * HOP_LENGTH
    length = waveform.size - start
    ours = log_mel(window_in_context(waveform, start, length)[None], [length], [log_mel.ceiling(waveform)])[0]
    expected = pad_or_trim(whole[:, start // HOP_LENGTH :])
    assert not ours[:, length // HOP_LENGTH :].any()
    np.testing.assert_allclose(ours.numpy(), expected, atol=1e-4)


def test_audio_of_one_window_in_context_has_the_features_of_the_bare_window():
    """A clip shorter than 30 s: its window in context (reflected before, zeros after) gives the same features as
    the bare window reflect-padded, in both paddings: short clips' front end is unchanged. (A clip of exactly 30 s
    differs in its last frame: in context it sees zeros after the audio, as faster-whisper's 160 samples of padding
    give, where the bare window reflects its own end.)"""
    extractor = WhisperFeatureExtractor(feature_size=80)
    for waveform in (long_waveform(7.3, seed=6), long_waveform(29.99, seed=7)):
        for padding in PADDINGS:
            log_mel = LogMel(extractor.mel_filters, "cpu", padding)
            bare = log_mel(padded_window(waveform), [waveform.size]).numpy()
            in_context = log_mel(window_in_context(waveform, 0, waveform.size)[None], [waveform.size]).numpy()
            np.testing.assert_allclose(in_context, bare, atol=1e-6)


def test_a_window_in_context_sees_zeros_after_a_short_window_and_the_next_samples_after_a_whole_one():
    waveform = np.arange(1, 40 * SAMPLE_RATE + 1, dtype=np.float32)
    short = window_in_context(waveform, 1_000, 5_000)
    np.testing.assert_array_equal(short[:CONTEXT_SAMPLES], waveform[1_000 - CONTEXT_SAMPLES : 1_000])
    np.testing.assert_array_equal(short[CONTEXT_SAMPLES : CONTEXT_SAMPLES + 5_000], waveform[1_000:6_000])
    assert not short[CONTEXT_SAMPLES + 5_000 :].any()
    whole = window_in_context(waveform, 1_000, WINDOW_SAMPLES)
    np.testing.assert_array_equal(whole, waveform[1_000 - CONTEXT_SAMPLES : 1_000 + WINDOW_SAMPLES + CONTEXT_SAMPLES])
    at_start = window_in_context(waveform, 0, WINDOW_SAMPLES)
    np.testing.assert_array_equal(at_start[:CONTEXT_SAMPLES], waveform[CONTEXT_SAMPLES:0:-1])  # reflected
    at_end = window_in_context(waveform, waveform.size - WINDOW_SAMPLES, WINDOW_SAMPLES)
    assert not at_end[CONTEXT_SAMPLES + WINDOW_SAMPLES :].any()  # past the file: zeros
