"""A window that must decode up to where its speech stops (``speech_until``, the chunked plan's windows cut in a
pause): on real whisper-base, a 30 s window of the benchmark's packed speech whose last sentence ends 0.1 s before
the window does. Left to itself Whisper closes the segment before that sentence and ends (it takes the sentence for
cut by the window's end); told where the speech runs to, it transcribes the sentence too, and everything before it
is unchanged."""

from __future__ import annotations

import pytest

from benchmarks.workload import packed_request
from serving.constants import SAMPLE_RATE, WINDOW_SAMPLES

pytestmark = [pytest.mark.real_model, pytest.mark.usefixtures("one_torch_thread")]

# s: the third window the VAD packing cuts in the compare benchmark's ``packed_request(300)`` (pause: 89.22-90.21 s)
WINDOW_START = 59.33
SPEECH_END = 89.22  # s: where the window's last sentence ends (the VAD's pause starts)
LAST_SENTENCE = "The shop on the corner sells fresh fruit and vegetables."


@pytest.fixture(scope="module")
def decode(whisper_base_loaded):
    from serving.engine.decoding import EngineOptions, WhisperDecoder
    from serving.engine.features import LogMel, window_in_context

    decoder = WhisperDecoder(whisper_base_loaded, EngineOptions(capacity=2, cuda_graphs=False))
    audio = packed_request(90).audio  # the same clips, placed the same way, as the first 90 s of packed_request(300)
    start = round(WINDOW_START * SAMPLE_RATE)
    window = window_in_context(audio, start, WINDOW_SAMPLES)  # as the server cuts it
    states = decoder.encode(LogMel(whisper_base_loaded.processor.feature_extractor.mel_filters, "cpu")(window[None]))

    def text(speech_until: float | None) -> str:
        prompt = decoder.window_prompt("en", "transcribe", (), True, 0.0, speech_until=speech_until)
        (decoded,) = decoder.search.decode(states, [prompt])
        return decoder.text.decode([t for t in decoded.tokens if t < decoder.vocabulary.eot]).strip()

    return text


def test_told_where_its_speech_stops_a_window_keeps_the_last_sentence_whisper_left_out(decode):
    alone = decode(None)
    told = decode(SPEECH_END - WINDOW_START - 1.5)
    assert not alone.endswith(LAST_SENTENCE)
    assert told == f"{alone} {LAST_SENTENCE}"
