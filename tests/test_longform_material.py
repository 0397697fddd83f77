"""The issue 3 test material: the sentence corpus, the long file, the non-speech samples and the scoring helpers."""

import json
from collections import Counter

import numpy as np
import pytest

from scripts.material.audio_files import encode_audio, read_audio
from scripts.material.longform_audio import (
    LONGFORM_DIR,
    REFERENCES,
    TRIM_DB,
    TRIM_FRAME_SAMPLES,
    build_long_audio,
    trim_silence,
    with_silence,
)
from scripts.material.longform_corpus import SENTENCES, VOICES
from scripts.material.nonspeech import NOISE_LEVELS_DBFS, pink_noise, samples, speech_in_silence, tone, white_noise
from scripts.scoring.longform_errors import INSERTED, MISSING, REPEATED, seam_errors, seam_words
from scripts.scoring.wer import normalise
from scripts.scoring.word_reference import Word, faster_whisper_words, match_words, timing_difference, word_key
from serving.audio.decode import AudioLimits, decode_audio
from serving.constants import SAMPLE_RATE, WINDOW_SECONDS

MAX_COMMITTED_BYTES = 2_500_000
GENEROUS = AudioLimits(max_bytes=10**9, max_seconds=3600)


@pytest.fixture(scope="module")
def long_audio():
    return build_long_audio()


def rms_dbfs(waveform: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(waveform.astype(np.float64) ** 2)))


# ---------------------------------------------------------------------------------------------------------------
# The corpus and its clips
# ---------------------------------------------------------------------------------------------------------------


def test_corpus_has_enough_distinct_sentences_of_everyday_length():
    texts = [text for _, text in SENTENCES]
    assert len(set(texts)) == len(texts) >= 70
    assert all(8 <= len(text.split()) <= 20 for text in texts)
    assert not any(character.isdigit() for text in texts for character in text)  # numbers are words
    assert set(voice for voice, _ in SENTENCES) == set(VOICES)


def test_no_three_word_sequence_occurs_twice_in_the_long_text():
    words = normalise(" ".join(text for _, text in SENTENCES)).split()
    repeated = [gram for gram, count in Counter(zip(words, words[1:], words[2:])).items() if count > 1]
    assert repeated == []
    # Each sentence normalised alone gives the same words as the whole text: seam positions are exact.
    assert [w for _, text in SENTENCES for w in normalise(text).split()] == words


def test_references_describe_the_committed_clips_in_corpus_order():
    references = json.loads(REFERENCES.read_text(encoding="utf-8"))
    assert [(entry["voice"].split(":")[1], entry["text"]) for entry in references.values()] == list(SENTENCES)
    files = [LONGFORM_DIR / name for name in references]
    assert all(path.suffix == ".ogg" for path in files)
    assert sum(path.stat().st_size for path in LONGFORM_DIR.iterdir()) < MAX_COMMITTED_BYTES
    first = read_audio(files[0])
    assert first.size / SAMPLE_RATE == pytest.approx(next(iter(references.values()))["seconds"], abs=0.02)
    assert np.array_equal(first, read_audio(files[0]))  # decoding is deterministic


# ---------------------------------------------------------------------------------------------------------------
# The long file
# ---------------------------------------------------------------------------------------------------------------


def test_long_audio_is_the_sentences_joined_without_pauses(long_audio):
    waveform = long_audio.waveform
    assert waveform.dtype == np.float32 and waveform.ndim == 1 and not waveform.flags.writeable
    assert 300.0 <= long_audio.seconds < 300.0 + 30.0
    sentences = long_audio.sentences
    assert [s.text for s in sentences] == [text for _, text in SENTENCES[: len(sentences)]]
    assert sentences[0].start == 0.0 and sentences[-1].end == pytest.approx(long_audio.seconds)
    assert all(a.end == b.start and a.start < a.end for a, b in zip(sentences, sentences[1:]))
    assert long_audio.text == " ".join(s.text for s in sentences)


def test_each_sentence_starts_and_ends_with_sound(long_audio):
    for sentence in long_audio.sentences:
        start, end = round(sentence.start * SAMPLE_RATE), round(sentence.end * SAMPLE_RATE)
        assert rms_dbfs(long_audio.waveform[start : start + TRIM_FRAME_SAMPLES]) > TRIM_DB
        assert rms_dbfs(long_audio.waveform[end - TRIM_FRAME_SAMPLES : end]) > TRIM_DB


def test_seams_are_the_window_edges_and_most_fall_inside_a_sentence(long_audio):
    edges = [float(WINDOW_SECONDS * k) for k in range(1, int(long_audio.seconds // WINDOW_SECONDS) + 1)]
    assert [seam.seconds for seam in long_audio.seams] == edges
    for seam in long_audio.seams:
        sentence = long_audio.sentences[seam.sentence]
        assert sentence.start <= seam.seconds < sentence.end
    assert sum(seam.inside for seam in long_audio.seams) >= 0.8 * len(long_audio.seams)


def test_a_shorter_build_is_a_prefix_of_a_longer_one(long_audio):
    short = build_long_audio(95.0)
    assert 95.0 <= short.seconds < long_audio.seconds
    assert np.array_equal(short.waveform, long_audio.waveform[: short.waveform.size])
    assert short.sentences == long_audio.sentences[: len(short.sentences)]
    assert short.seams == long_audio.seams[: len(short.seams)]


def test_asking_for_more_than_the_corpus_names_the_corpus():
    with pytest.raises(ValueError, match="add sentences"):
        build_long_audio(10_000.0)
    with pytest.raises(ValueError, match="positive"):
        build_long_audio(0.0)


def test_trim_silence_keeps_the_loud_frames_only():
    frame = TRIM_FRAME_SAMPLES
    loud = np.full(3 * frame, 0.5, dtype=np.float32)
    padded = np.concatenate([np.zeros(5 * frame), np.full(frame, 1e-4), loud, np.zeros(2 * frame)]).astype(np.float32)
    assert np.array_equal(trim_silence(padded), loud)  # 1e-4 is -80 dBFS: silence
    assert trim_silence(np.zeros(10 * frame, dtype=np.float32)).size == 0


def test_with_silence_pads_with_zeros():
    speech = np.linspace(-0.5, 0.5, SAMPLE_RATE, dtype=np.float32)
    padded = with_silence(speech, 1.5, 0.25)
    lead, trail = int(1.5 * SAMPLE_RATE), int(0.25 * SAMPLE_RATE)
    assert padded.dtype == np.float32 and padded.size == lead + speech.size + trail
    assert not padded[:lead].any() and not padded[-trail:].any()
    assert np.array_equal(padded[lead:-trail], speech)
    with pytest.raises(ValueError):
        with_silence(speech, -1.0, 0.0)


# ---------------------------------------------------------------------------------------------------------------
# Non-speech samples and encoding
# ---------------------------------------------------------------------------------------------------------------


def test_samples_are_deterministic_mono_16k_and_10_to_45_seconds():
    first, second = samples(), samples()
    assert [s.name for s in first] == [s.name for s in second] and len({s.name for s in first}) == len(first)
    for a, b in zip(first, second):
        assert a.waveform.dtype == np.float32 and a.waveform.ndim == 1
        assert 10.0 <= a.waveform.size / SAMPLE_RATE <= 45.0
        assert np.array_equal(a.waveform, b.waveform)
        assert float(np.abs(a.waveform).max()) <= 1.0
    assert [s.name for s in first if s.text] == ["speech_in_silence"]
    assert not next(s for s in first if s.name == "digital_silence").waveform.any()


@pytest.mark.parametrize("level", NOISE_LEVELS_DBFS)
def test_white_noise_has_its_level_and_a_flat_spectrum(level):
    noise = white_noise(10.0, level)
    assert rms_dbfs(noise) == pytest.approx(level, abs=0.1)
    power = np.abs(np.fft.rfft(noise)) ** 2
    low, high = power[: power.size // 2].mean(), power[power.size // 2 :].mean()
    assert 10 * np.log10(low / high) == pytest.approx(0.0, abs=0.5)
    assert not np.array_equal(noise, white_noise(10.0, level, seed=1))


def test_tone_is_at_440_hz():
    signal = tone(10.0)
    spectrum = np.abs(np.fft.rfft(signal))
    assert np.argmax(spectrum) * SAMPLE_RATE / signal.size == pytest.approx(440.0, abs=0.2)


def test_pink_noise_falls_three_db_per_octave():
    noise = pink_noise(20.0, -20.0)
    assert rms_dbfs(noise) == pytest.approx(-20.0, abs=0.1)
    power = np.abs(np.fft.rfft(noise)) ** 2
    frequencies = np.fft.rfftfreq(noise.size, d=1 / SAMPLE_RATE)

    def band_density(low_hz: float) -> float:
        return float(power[(frequencies >= low_hz) & (frequencies < 2 * low_hz)].mean())

    octaves = [10 * np.log10(band_density(f) / band_density(2 * f)) for f in (250.0, 500.0, 1000.0, 2000.0)]
    assert octaves == pytest.approx([3.0] * 4, abs=0.5)


def test_speech_in_silence_has_five_silent_seconds_each_side():
    sample = speech_in_silence()
    silence = 5 * SAMPLE_RATE
    assert not sample.waveform[:silence].any() and not sample.waveform[-silence:].any()
    speech = build_long_audio(10.0)
    assert np.array_equal(sample.waveform[silence:-silence], speech.waveform)
    assert sample.text == speech.text


@pytest.mark.parametrize("container", ["wav", "flac"])
def test_encoded_audio_decodes_to_the_same_samples_on_the_serving_path(container):
    waveform = white_noise(10.0, -10.0)
    data = encode_audio(waveform, container)
    assert data == encode_audio(waveform, container)
    decoded = decode_audio(data, GENEROUS)
    assert decoded.size == waveform.size
    assert float(np.abs(decoded - waveform).max()) <= 0.5 / 32768


def test_encode_audio_refuses_what_it_cannot_write():
    with pytest.raises(ValueError, match="container"):
        encode_audio(np.zeros(10, dtype=np.float32), "mp3")
    with pytest.raises(ValueError, match="1-D"):
        encode_audio(np.zeros((2, 10), dtype=np.float32), "wav")


# ---------------------------------------------------------------------------------------------------------------
# Seam errors
# ---------------------------------------------------------------------------------------------------------------


def found(errors) -> set[tuple[float, str, str]]:
    return {(error.seconds, error.kind, error.ngram) for error in errors}


def trigrams_over(words: list[str], start: int, stop: int) -> set[str]:
    return {" ".join(words[i : i + 3]) for i in range(start, stop - 2)}


def test_the_reference_itself_has_no_seam_errors(long_audio):
    assert seam_errors(long_audio.text, long_audio) == []
    assert seam_errors(long_audio.text.upper().replace(".", ""), long_audio) == []


def test_seam_positions_fall_in_the_sentence_across_the_seam(long_audio):
    reference = seam_words(long_audio)
    assert len(reference.positions) == len(long_audio.seams)
    for seam, position in zip(long_audio.seams, reference.positions):
        start = len(normalise(" ".join(s.text for s in long_audio.sentences[: seam.sentence])).split())
        assert start <= position <= start + len(normalise(long_audio.sentences[seam.sentence].text).split())


def test_a_word_dropped_at_a_seam_is_found_there_only(long_audio):
    reference = seam_words(long_audio)
    words, p = list(reference.words), reference.positions[3]
    hypothesis = words[:p] + words[p + 1 :]
    seconds = long_audio.seams[3].seconds
    missing = {(seconds, MISSING, gram) for gram in trigrams_over(words, p - 2, p + 3)}
    inserted = {(seconds, INSERTED, gram) for gram in trigrams_over(hypothesis, p - 2, p + 2)}
    assert found(seam_errors(" ".join(hypothesis), long_audio)) == missing | inserted


def test_a_phrase_doubled_at_a_seam_is_found_as_repeated(long_audio):
    reference = seam_words(long_audio)
    words, p = list(reference.words), reference.positions[5]
    hypothesis = words[: p + 2] + words[p - 2 : p + 2] + words[p + 2 :]  # four words around the seam, twice
    errors = seam_errors(" ".join(hypothesis), long_audio)
    seconds = long_audio.seams[5].seconds
    assert {(e.ngram, e.reference_count, e.hypothesis_count) for e in errors if e.kind == REPEATED} == {
        (gram, 1, 2) for gram in trigrams_over(words, p - 2, p + 2)
    }
    assert {e.kind for e in errors} == {REPEATED, INSERTED} and {e.seconds for e in errors} == {seconds}


def test_a_misrecognised_word_at_a_seam_is_missing_and_inserted(long_audio):
    reference = seam_words(long_audio)
    words, p = list(reference.words), reference.positions[0]
    hypothesis = words[:p] + ["zebra"] + words[p + 1 :]
    errors = seam_errors(" ".join(hypothesis), long_audio)
    assert {e.kind for e in errors} == {MISSING, INSERTED}
    assert all("zebra" in e.ngram for e in errors if e.kind == INSERTED)
    assert len([e for e in errors if e.kind == MISSING]) == 3


def test_an_error_far_from_every_seam_is_not_a_seam_error(long_audio):
    reference = seam_words(long_audio)
    words = list(reference.words)
    p = (reference.positions[1] + reference.positions[2]) // 2  # about fifteen seconds from both seams
    assert min(abs(p - q) for q in reference.positions) > 8 + 3
    assert seam_errors(" ".join(words[:p] + words[p + 1 :]), long_audio) == []
    assert seam_errors(" ".join(words[:p] + words[p + 1 :]), long_audio, radius_words=80) != []


def test_seam_errors_checks_its_arguments(long_audio):
    with pytest.raises(ValueError):
        seam_errors(long_audio.text, long_audio, n=0)
    with pytest.raises(ValueError):
        seam_errors(long_audio.text, long_audio, n=4, radius_words=3)


# ---------------------------------------------------------------------------------------------------------------
# Word timestamps
# ---------------------------------------------------------------------------------------------------------------


def test_match_words_pairs_equal_words_in_order():
    ours = [Word(" Hello,", 0.0, 0.4, 0.9), Word(" big", 0.4, 0.6, 0.9), Word(" World!", 0.6, 1.0, 0.9)]
    theirs = [Word("hello", 0.1, 0.5, 0.8), Word(" -", 0.5, 0.5, 0.1), Word(" world", 0.5, 1.2, 0.8),
              Word(" again", 1.2, 1.5, 0.8)]
    pairs = match_words(ours, theirs)
    assert pairs == [(ours[0], theirs[0]), (ours[2], theirs[2])]
    difference = timing_difference(pairs)
    assert difference.pairs == 2
    assert (difference.mean_start, difference.max_start) == pytest.approx((0.1, 0.1))
    assert (difference.mean_end, difference.max_end) == pytest.approx((0.15, 0.2))
    assert word_key(" Don't.") == "don't"
    with pytest.raises(ValueError):
        timing_difference([])


@pytest.mark.real_model
def test_faster_whisper_words_time_the_first_sentence():
    speech = build_long_audio(1.0)
    audio = with_silence(speech.waveform, 0.5, 0.5)
    words = faster_whisper_words(audio)
    assert normalise(" ".join(w.word for w in words)) == normalise(speech.text)
    assert all(0.0 <= w.start <= w.end <= audio.size / SAMPLE_RATE and 0.0 <= w.probability <= 1.0 for w in words)
    assert all(a.start <= b.start for a, b in zip(words, words[1:]))
    assert faster_whisper_words(audio) == words
