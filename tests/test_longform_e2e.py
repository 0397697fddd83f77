"""Issue 3 end to end on the real whisper-base: two and a half minutes of speech whose sentences run across every
30 s edge (five edges), in both long-form algorithms; word timestamps against faster-whisper's. Through the handler:
``tests/test_longform_handler_e2e.py``."""

from __future__ import annotations

import pytest

from scripts.material.audio_files import encode_audio
from scripts.material.clips import clip_bytes, clips
from scripts.material.longform_audio import build_long_audio
from scripts.scoring.longform_errors import lost_or_doubled
from scripts.scoring.reference import faster_whisper_transcribe
from scripts.scoring.wer import wer
from scripts.scoring.word_reference import Word, faster_whisper_words, match_words, timing_difference
from serving.api.params import parse_params
from serving.audio.decode import AudioLimits, decode_audio
from serving.batching.sessions import Job
from serving.constants import SAMPLE_RATE
from serving.endpoint.service import start_scheduler
from serving.settings import load_settings

pytestmark = pytest.mark.real_model

LONG_SECONDS = 150.0  # five window edges, each inside a sentence; the cost grows with the length
# The codec clips are one sentence in six containers (tests/test_transcription_e2e.py decodes each): its words are
# compared once.
CODEC_PREFIX, CODEC_KEPT = "codec_", "codec_wav.wav"
VERBOSE_WORDS = {"response_format": "verbose_json", "timestamp_granularities": "word,segment"}


@pytest.fixture(scope="module")
def transcriber(whisper_base_dir):
    settings = load_settings({"model_id": str(whisper_base_dir)}, environ={})
    scheduler = start_scheduler(settings, "-1")
    yield scheduler
    scheduler.close()


@pytest.fixture(scope="module")
def long_audio():
    return build_long_audio(LONG_SECONDS)


@pytest.fixture(scope="module")
def long_runs(transcriber, long_audio) -> dict:
    """The long file in both algorithms, submitted together (their windows share the model's batches)."""
    modes = ("chunked", "sequential")
    jobs = [Job.new(long_audio.waveform, parse_params({**VERBOSE_WORDS, "long_form": mode, "language": "en"}))
            for mode in modes]
    return dict(zip(modes, transcriber.transcribe_all(jobs)))


@pytest.fixture(scope="module")
def sentence_by_sentence(long_audio):
    """The same sentences, each transcribed alone by the reference decoder (faster-whisper on the same weights,
    cached on disk): what short-form decoding of this speech achieves."""
    pieces = [long_audio.waveform[round(s.start * SAMPLE_RATE) : round(s.end * SAMPLE_RATE)] for s in long_audio.sentences]
    return [faster_whisper_transcribe(encode_audio(piece), language="en")[0] for piece in pieces]


@pytest.fixture(scope="module", params=["chunked", "sequential"])
def long_result(request, long_runs):
    return long_runs[request.param]


def test_the_long_file_crosses_every_window_edge_mid_sentence(long_audio):
    assert long_audio.seconds >= LONG_SECONDS
    assert len(long_audio.seams) >= 5
    assert sum(seam.inside for seam in long_audio.seams) >= 0.8 * len(long_audio.seams)


def test_long_file_wer_is_within_one_point_of_the_sentences_decoded_alone(long_result, sentence_by_sentence, long_audio):
    references = [s.text for s in long_audio.sentences]
    alone = wer(references, sentence_by_sentence)
    whole = wer([long_audio.text], [long_result.text])
    assert whole <= alone + 0.01, (whole, alone)


def test_no_word_is_dropped_or_doubled(long_result, long_audio):
    assert lost_or_doubled(long_result.text, long_audio.text) == []


def test_timestamps_are_monotonic_and_inside_the_audio(long_result, long_audio):
    duration = long_audio.seconds
    segments, words = long_result.segments, long_result.words
    assert len(segments) >= LONG_SECONDS / 5 and len(words) >= 2 * LONG_SECONDS  # 300 s: 60 and 600
    assert all(0 <= s.start <= s.end <= duration for s in segments)
    assert all(a.start <= b.start for a, b in zip(segments, segments[1:]))
    assert all(0 <= w.start <= w.end <= duration for w in words)
    assert all(a.end <= b.start for a, b in zip(words, words[1:]))
    assert segments[-1].end > duration - 5.0  # the last sentence is there, up to the end


def test_segments_and_words_spell_the_transcript(long_result):
    assert "".join(s.text for s in long_result.segments).strip() == long_result.text
    assert "".join(w.word for w in long_result.words).split() == long_result.text.split()


def test_word_timestamps_agree_with_faster_whisper_on_the_bundled_clips(transcriber):
    names = [name for name in clips() if not name.startswith(CODEC_PREFIX) or name == CODEC_KEPT]
    audio = [decode_audio(clip_bytes(n), AudioLimits(10**9, 3600)) for n in names]
    params = parse_params(VERBOSE_WORDS)
    pairs = []
    for waveform, result in zip(audio, transcriber.transcribe_all([Job.new(a, params) for a in audio])):
        ours = [Word(w.word, w.start, w.end, w.probability) for w in result.words]
        pairs += match_words(ours, faster_whisper_words(waveform))
    difference = timing_difference(pairs)
    assert difference.pairs >= 175  # of faster-whisper's 210 words
    assert difference.mean_start <= 0.06 and difference.mean_end <= 0.06, difference
