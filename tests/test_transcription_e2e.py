"""End to end through handle() on the real whisper-base (converted from the PyPI CTranslate2 wheels)."""

import json

import numpy as np
import pytest

from scripts.material.clips import REFERENCES, clip_bytes, clips, english_speech_clips
from scripts.scoring.reference import faster_whisper_transcribe
from scripts.scoring.wer import normalise, wer
from tests.handler import send, send_batch, start_handler, stop_handler

pytestmark = pytest.mark.real_model

AUDIO_WAV = {"Content-Type": "audio/wav"}
DJL_BATCH = 8  # start_handler's batch_size: DJL never hands the handler more requests at once
NOT_ENGLISH = [n for n in clips() if not n.startswith("en_")]
CODECS = [n for n in clips() if n.startswith("codec_")]
GERMAN = clips("de")
CLEAN = "en_slt_lights.wav"  # the clip of the float-WAV and JSON-body tests


@pytest.fixture(scope="module", autouse=True)
def real_handler(whisper_base_dir):
    start_handler(whisper_base_dir)
    yield
    stop_handler()


@pytest.fixture(scope="module")
def english_results():
    """All English clips in one DJL batch (one model pass), and faster-whisper on each."""
    names = english_speech_clips()
    replies = send_batch([(clip_bytes(name), AUDIO_WAV) for name in names])
    ours = [reply.json() for reply in replies]
    theirs = [faster_whisper_transcribe(clip_bytes(name))[0] for name in names]
    return names, ours, theirs


def test_english_wer_is_low_and_not_worse_than_faster_whisper(english_results):
    names, ours, theirs = english_results
    references = [REFERENCES[name]["text"] for name in names]
    our_wer = wer(references, [document["text"] for document in ours])
    their_wer = wer(references, theirs)
    print(f"\nWER ours {our_wer:.3%}  faster-whisper {their_wer:.3%}  over {len(names)} English clips")
    assert our_wer <= their_wer
    assert our_wer < 0.10


def _in_djl_batches(requests: list[tuple[bytes, dict[str, str]]]) -> list:
    """The requests in DJL batches of at most ``DJL_BATCH`` (one model pass each), their replies in order."""
    return [reply for start in range(0, len(requests), DJL_BATCH)
            for reply in send_batch(requests[start : start + DJL_BATCH])]


@pytest.fixture(scope="module")
def not_english():
    """Each clip that is not English, sent as audio/wav (whatever its container), in DJL batches: name -> reply."""
    return dict(zip(NOT_ENGLISH, _in_djl_batches([(clip_bytes(name), AUDIO_WAV) for name in NOT_ENGLISH])))


@pytest.fixture(scope="module")
def clean_text():
    """The clean clip's transcript, sent alone as it is."""
    return send(clip_bytes(CLEAN), AUDIO_WAV).json()["text"]


def test_english_clips_are_detected_as_english(english_results):
    _, ours, _ = english_results
    assert [document["language"] for document in ours] == ["en"] * len(ours)


@pytest.mark.parametrize("name", NOT_ENGLISH)
def test_language_is_detected(name, not_english):
    reply = not_english[name]
    assert reply.code == 200
    assert reply.json()["language"] == REFERENCES[name]["language"]


@pytest.fixture(scope="module")
def codecs():
    """Each codec clip sent as application/octet-stream, in one DJL batch: name -> reply."""
    return dict(zip(CODECS, _in_djl_batches([(clip_bytes(n), {"Content-Type": "application/octet-stream"})
                                             for n in CODECS])))


@pytest.mark.parametrize("name", CODECS)
def test_every_codec_transcribes_to_the_reference(name, codecs):
    reply = codecs[name]
    assert normalise(reply.json()["text"]) == normalise(REFERENCES[name]["text"])


def test_translate_gives_english(not_english):
    replies = send_batch([(clip_bytes(n), {**AUDIO_WAV, "task": "translate"}) for n in GERMAN])
    transcripts = [not_english[n] for n in GERMAN]  # the same clips transcribed
    for reply, transcript in zip(replies, transcripts):
        translated = reply.json()["text"]
        assert reply.json()["language"] == "de"
        assert translated and translated.isascii(), translated
        assert wer([transcript.json()["text"]], [translated]) > 0.5  # not the German transcript again


def test_forced_language_is_honoured(not_english):
    """The German clip forced to English is decoded with the English token: no German transcript comes back (the
    model guesses, so the English text is judged unreliable and decoded again hotter, two samples at a time,
    deterministically)."""
    name = GERMAN[0]
    forced_english = {**AUDIO_WAV, "language": "english", "best_of": "2"}
    forced = send(clip_bytes(name), forced_english).json()
    detected = not_english[name].json()  # the same clip, its language not given
    assert (forced["language"], detected["language"]) == ("en", "de")
    assert "Bahnhof" in detected["text"] and "Bahnhof" not in forced["text"]
    assert send(clip_bytes(name), forced_english).json() == forced


def test_json_and_hugging_face_bodies_give_the_same_transcript_as_raw_audio(clean_text):
    import base64

    encoded = base64.b64encode(clip_bytes(CLEAN)).decode()
    raw = clean_text  # the clip as a raw audio/wav body
    plain = send(json.dumps({"audio": encoded, "language": "en"}).encode(), {"Content-Type": "application/json"})
    hf = send(json.dumps({"inputs": encoded, "parameters": {"response_format": "text"}}).encode(),
              {"Content-Type": "application/json"})
    assert plain.json()["text"] == raw
    assert hf.body.decode() == raw and hf.content_type.startswith("text/plain")


def test_mixed_batch_keeps_good_items_correct():
    english = english_speech_clips()[:2]
    requests = [
        (clip_bytes(english[0]), AUDIO_WAV),
        (b"\x00\x01garbage" * 64, AUDIO_WAV),
        (clip_bytes(english[1]), {**AUDIO_WAV, "X-Amzn-SageMaker-Custom-Attributes": "language=en; temperature=2"}),
        (clip_bytes(english[1]), {"CONTENT-TYPE": "AUDIO/WAV", "X-Amzn-SageMaker-Custom-Attributes": "language=en"}),
    ]
    replies = send_batch(requests)
    documents = [reply.json() for reply in replies]
    alone = [send(clip_bytes(name), AUDIO_WAV).json()["text"] for name in english]
    assert documents[0]["text"] == alone[0]
    assert documents[1]["error"]["code"] == 415
    assert documents[2]["error"]["code"] == 400 and "temperature" in documents[2]["error"]["message"]
    assert documents[3]["text"] == alone[1]


def test_audio_longer_than_one_window_is_transcribed_to_the_end():
    """Six sentences with pauses, ~40 s: both windows are transcribed; the last sentence is in the result."""
    from serving.audio.decode import AudioLimits, decode_audio
    from tests.test_audio import wav_bytes

    names = english_speech_clips()[:8]
    pause = np.zeros(16_000, dtype=np.float32)
    parts = []
    for name in names:
        parts += [decode_audio(clip_bytes(name), AudioLimits(10**8, 60)), pause]
    waveform = np.concatenate(parts)
    assert waveform.size / 16_000 > 35
    document = send(wav_bytes(waveform), AUDIO_WAV).json()
    text = normalise(document["text"])
    assert normalise(REFERENCES[names[0]]["text"]) in text
    assert normalise(REFERENCES[names[-1]]["text"]) in text
    assert document["duration"] == pytest.approx(waveform.size / 16_000, abs=0.01)


@pytest.mark.parametrize("variant", ["x1000", "x1e18", "cancelling-stereo"])
def test_mis_scaled_and_cancelling_float_wavs_transcribe_as_the_original(variant, clean_text):
    """A float WAV of the clip scaled far beyond full scale (before: 73 s of 'leave leave...' at x1000, 98 s of
    '!!!!' with a NaN score at x1e18), and a stereo one whose channels cancel (before: nothing), give the clip's text."""
    from serving.audio.decode import AudioLimits, decode_audio
    from tests.test_audio import float_wav_bytes

    waveform = decode_audio(clip_bytes(CLEAN), AudioLimits(10**8, 60))
    channels = {"x1000": waveform * np.float32(1e3), "x1e18": waveform * np.float32(1e18),
                "cancelling-stereo": np.stack([waveform, -waveform])}[variant]
    original = clean_text
    assert original == REFERENCES[CLEAN]["text"]
    assert send(float_wav_bytes(channels), AUDIO_WAV).json()["text"] == original


def test_a_prompt_of_control_token_text_does_not_steer_the_decoder():
    """Before: prompt="<|translate|>" was tokenized to the task token and German speech came back in English."""
    flac = {"Content-Type": "audio/flac"}
    plain = send(clip_bytes("de_bahnhof.flac"), flac).json()
    prompted = send(clip_bytes("de_bahnhof.flac"), {**flac, "prompt": "<|translate|>"}).json()
    assert prompted["language"] == "de" and "Bahnhof" in prompted["text"]
    assert prompted["text"] == plain["text"]
