"""Our beam search on the real whisper-base chooses, token for token, what faster-whisper's CTranslate2 model chooses
on the same log-mel features (beam 5, patience 1, length penalty 1 = openai's default ranking, faster-whisper's
logit options), with CTranslate2's rule for finishing hypotheses (``option.beam_rule=ctranslate2``), in text and in
timestamp mode; greedy windows decoded in the same batch keep their greedy tokens.

The clips are some of the committed material where beam search and greedy decoding, or the two finishing rules,
disagree (found by decoding tests/data/audio and the first ten long-form sentences every way).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from scripts.material.audio_files import read_audio
from scripts.material.data import AUDIO_DIR
from scripts.scoring.reference import faster_whisper_model
from scripts.scoring.reference_cache import cached
from serving.constants import WINDOW_SAMPLES

pytestmark = pytest.mark.real_model

LONGFORM_DIR = AUDIO_DIR.parent / "longform"
CLIPS = (  # (file, language): the rules differ on all but fr_cafe; beam and greedy differ on fr_cafe and 07_rms
    (AUDIO_DIR / "en_kal_dog.wav", "en"),
    (AUDIO_DIR / "es_despacio.flac", "es"),
    (AUDIO_DIR / "fr_cafe.flac", "fr"),
    (LONGFORM_DIR / "07_rms.ogg", "en"),
)
BEAM_SIZE = 5
MAX_INITIAL_TIMESTAMP_INDEX = 50  # faster-whisper's max_initial_timestamp (1 s) in 0.02 s steps


@pytest.fixture(scope="module")
def decoder(whisper_base_loaded):
    from serving.engine.decoding import EngineOptions, WhisperDecoder

    return WhisperDecoder(whisper_base_loaded, EngineOptions(capacity=16, cuda_graphs=False, beam_rule="ctranslate2"))


@pytest.fixture(scope="module")
def features(whisper_base_loaded) -> torch.Tensor:
    """The clips' first 30 s, padded: one window each, the same features for both decoders."""
    from serving.engine.features import LogMel

    windows = []
    for path, _ in CLIPS:
        audio = read_audio(path)[:WINDOW_SAMPLES]
        windows.append(np.pad(audio, (0, WINDOW_SAMPLES - audio.shape[0])))
    return LogMel(whisper_base_loaded.processor.feature_extractor.mel_filters, "cpu")(np.stack(windows))


@pytest.fixture(scope="module")
def states(decoder, features) -> torch.Tensor:
    """Our encoder's states for the features, computed once for both modes (text and timestamps)."""
    return decoder.encode(features)


def ct2_tokens(features: torch.Tensor, prompts: list[tuple[int, ...]], beam_size: int) -> list[tuple[int, ...]]:
    """CTranslate2's choice for each window, cached on disk like every faster-whisper reference (keyed by the features,
    the prompts and the options, the model and faster-whisper's version): computed once per machine."""
    array = np.ascontiguousarray(features.numpy(), dtype=np.float32)
    options = {"beam_size": beam_size, "patience": 1, "length_penalty": 1, "max_length": 448, "suppress_blank": True,
               "suppress_tokens": [-1], "max_initial_timestamp_index": MAX_INITIAL_TIMESTAMP_INDEX}
    key = array.tobytes() + json.dumps({"shape": array.shape, "prompts": prompts, **options}).encode()
    chosen = cached("reference-ct2-generate", key, lambda: _generate(array, prompts, options))
    return [tuple(tokens) for tokens in chosen]


def _generate(array: np.ndarray, prompts: list[tuple[int, ...]], options: dict) -> list[list[int]]:
    import ctranslate2

    results = faster_whisper_model().model.generate(
        ctranslate2.StorageView.from_array(array), [list(p) for p in prompts], **options)
    return [list(r.sequences_ids[0]) for r in results]


@pytest.mark.parametrize("timestamps", [False, True])
def test_beam_tokens_equal_faster_whisper_s(decoder, features, states, timestamps):
    """Four windows with 5 beams each (two passes: three windows fill 15 of the 16 rows), and the same windows
    greedy, in one call."""
    from serving.engine.decoding import SearchOptions

    beams = [decoder.window_prompt(language, "transcribe", (), timestamps, 0.0, SearchOptions(BEAM_SIZE))
             for _, language in CLIPS]
    greedy = [decoder.window_prompt(language, "transcribe", (), timestamps, 0.0) for _, language in CLIPS]
    decoded = decoder.decode(torch.cat([states, states]), beams + greedy)
    ours_beam, ours_greedy = [d.tokens for d in decoded[: len(CLIPS)]], [d.tokens for d in decoded[len(CLIPS) :]]
    prefixes = [p.prefix for p in beams]
    assert ours_beam == ct2_tokens(features, prefixes, BEAM_SIZE)
    assert ours_greedy == ct2_tokens(features, prefixes, 1)
    assert ours_beam != ours_greedy  # beam search changes some window: the comparison is not greedy's again
    assert all(d.ended for d in decoded)


def test_beams_are_for_temperature_zero_only(decoder):
    """openai/whisper's fallback: beam search at temperature 0, sampling above."""
    from serving.engine.decoding import SearchOptions

    assert decoder.window_prompt("en", "transcribe", (), False, 0.0, SearchOptions(5)).beam_size == 5
    assert decoder.window_prompt("en", "transcribe", (), False, 0.2, SearchOptions(5)).beam_size == 1


def test_a_request_s_beams_reach_the_decoder(whisper_base_dir, whisper_base_loaded, features):
    """Through the runner (VAD off, so that the window is the clip padded): ``beam_size=5`` in the request gives the
    beam tokens, the server's ``option.beam_size`` stands in when the request names none."""
    from serving.api.params import parse_params
    from serving.batching.runner import Runner
    from serving.batching.sessions import Job
    from serving.endpoint.service import runner_options
    from serving.settings import load_settings

    settings = load_settings({"model_id": str(whisper_base_dir), "vad": "off", "beam_rule": "ctranslate2",
                              "beam_size": "5", "timestamps_in_every_format": "false",  # text mode
                              "log_mel_padding": "audio"}, environ={})  # the features above pad the audio
    runner = Runner(whisper_base_loaded, runner_options(settings))  # the module's model: loading reads none of these options
    path, language = CLIPS[2]
    prefix = runner.decoder.vocabulary.initial_tokens(language, "transcribe", False)[0]
    expected = {5: ct2_tokens(features[2:3], [prefix], 5)[0], 1: ct2_tokens(features[2:3], [prefix], 1)[0]}
    assert expected[5] != expected[1]
    for values, beams in (({}, 5), ({"beam_size": "1"}, 1)):
        params = parse_params({"language": language, **values})
        session = runner.open(Job.new(read_audio(path), params))
        outcome = runner.run(session.pending(), {session.request: session}).outcomes[0]
        assert outcome.decoded.tokens == expected[beams], values
