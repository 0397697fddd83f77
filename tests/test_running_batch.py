"""The decoder's running batch (``serving.engine.running_batch``): windows that join between steps and leave when they
end get, token for token, what the whole-batch search gives the same windows (real whisper-base, real speech, greedy,
text and timestamp mode); a window's slot is free again once read, and a slot released mid-decode (its request gone)
stops costing anything without changing the others' tokens.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scripts.material.audio_files import read_audio
from scripts.material.data import AUDIO_DIR
from serving.constants import WINDOW_SAMPLES

pytestmark = [pytest.mark.real_model, pytest.mark.usefixtures("one_torch_thread")]

CLIPS = ("en_slt_weather.wav", "en_kal_dog.wav", "es_despacio.flac", "fr_cafe.flac", "de_bahnhof.flac",
         "en_rms_garden.wav")


@pytest.fixture(scope="module")
def decoder(whisper_base_loaded):
    from serving.engine.decoding import EngineOptions, WhisperDecoder

    return WhisperDecoder(whisper_base_loaded, EngineOptions(capacity=4, cuda_graphs=False))


@pytest.fixture(scope="module")
def states(whisper_base_loaded, decoder) -> torch.Tensor:
    from serving.engine.features import LogMel

    windows = []
    for name in CLIPS:
        audio = read_audio(AUDIO_DIR / name)[:WINDOW_SAMPLES]
        windows.append(np.pad(audio, (0, WINDOW_SAMPLES - audio.shape[0])))
    features = LogMel(whisper_base_loaded.processor.feature_extractor.mel_filters, "cpu")(np.stack(windows))
    return decoder.encode(features)


def prompts(decoder, timestamps: bool):
    languages = [name[:2] for name in CLIPS]
    return [decoder.window_prompt(language, "transcribe", (), timestamps, 0.0) for language in languages]


@pytest.fixture(scope="module")
def whole_batches(decoder, states):
    """The reference, once per mode: the whole-batch search, at most ``capacity`` windows at a time."""
    found = {}

    def decoded(timestamps: bool):
        if timestamps not in found:
            windows, out = prompts(decoder, timestamps), []
            for start in range(0, len(windows), decoder.running.capacity):
                part = slice(start, start + decoder.running.capacity)
                out += decoder.search.decode(states[part], windows[part])
            found[timestamps] = out
        return found[timestamps]

    return decoded


def join(running, states, indices, windows) -> dict[int, int]:
    slots = running.reserve(len(indices))
    running.bind(slots, states[indices])
    running.start(slots, [windows[i] for i in indices])
    return dict(zip(slots, indices))


def collect(running, at_slot: dict[int, int], results: dict, steps: int) -> None:
    """Some steps; the windows that ended are read into ``results`` (by window index) and leave their slots."""
    ended = running.run(steps)
    for slot, window in zip(ended, running.windows(ended)):
        results[at_slot.pop(slot)] = window
    running.release(ended)


def drain(running, states, windows, first: list[int], later: list[int], steps: int):
    """Windows ``first`` join at once; every ``steps`` steps the ended ones leave and windows of ``later`` take their
    slots (oldest first), until every window has ended."""
    results, waiting = {}, list(later)
    at_slot = join(running, states, first, windows)
    while at_slot:
        collect(running, at_slot, results, steps)
        if waiting and running.free:
            taken, waiting = waiting[: running.free], waiting[running.free :]
            at_slot.update(join(running, states, taken, windows))
    return [results[i] for i in range(len(windows))]


@pytest.mark.parametrize("timestamps", [False, True])
def test_windows_joining_between_steps_get_the_whole_batch_tokens(decoder, states, whole_batches, timestamps):
    windows = prompts(decoder, timestamps)
    expected = whole_batches(timestamps)
    got = drain(decoder.running, states, windows, first=[0, 1, 2], later=[3, 4, 5], steps=3)
    assert [w.tokens for w in got] == [w.tokens for w in expected]
    assert all(w.ended for w in got)
    for ours, reference in zip(got, expected):
        assert ours.sum_logprob == pytest.approx(reference.sum_logprob, abs=1e-3)
        assert ours.no_speech_prob == pytest.approx(reference.no_speech_prob, abs=1e-5)
    assert decoder.running.free == decoder.running.capacity
    texts = [decoder.text.decode(w.tokens).strip() for w in got if not timestamps]
    if texts:
        assert texts[0] == "The weather was warm and sunny, so we walked down to the river after lunch."


def test_language_detection_in_slots_leaves_decoding_rows_alone(decoder, states, whole_batches):
    """Detection on a window that joins while others decode: the probabilities of the whole-batch detection, and
    the decoding rows' tokens unchanged."""
    windows = prompts(decoder, False)
    expected = whole_batches(False)
    reference = decoder.search.detect_languages(states[[3]])[0]
    running = decoder.running
    at_slot = join(running, states, [0, 1], windows)
    running.run(2)
    slot = running.reserve(1)
    running.bind(slot, states[[3]])
    detected = running.detect_languages(slot)[0]
    assert max(detected, key=detected.get) == "fr" == max(reference, key=reference.get)
    assert detected["fr"] == pytest.approx(reference["fr"], abs=1e-5)
    running.start(slot, [windows[3]])
    at_slot[slot[0]] = 3
    results = {}
    while at_slot:
        collect(running, at_slot, results, 4)
    assert [results[i].tokens for i in (0, 1, 3)] == [expected[i].tokens for i in (0, 1, 3)]


def test_a_released_slot_stops_and_the_others_keep_their_tokens(decoder, states, whole_batches):
    windows = prompts(decoder, False)
    expected = whole_batches(False)
    running = decoder.running
    at_slot = join(running, states, [0, 1, 2], windows)
    running.run(2)
    gone = next(slot for slot, i in at_slot.items() if i == 1)
    running.release([gone])
    del at_slot[gone]
    assert running.free == running.capacity - 2
    results = {}
    while at_slot:
        collect(running, at_slot, results, 5)
    assert [results[0].tokens, results[2].tokens] == [expected[0].tokens, expected[2].tokens]


def test_slots_are_the_lowest_free_and_refuse_overbooking(decoder):
    running = decoder.running
    first = running.reserve(3)
    assert first == [0, 1, 2]
    running.release([1])
    assert running.reserve(1) == [1]
    with pytest.raises(ValueError, match="free slots"):
        running.reserve(running.free + 1)
    running.release(running.occupied)
    assert running.free == running.capacity
