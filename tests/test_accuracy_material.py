"""Issue 15's evaluation set (what it holds, made deterministically) and the tables scored on it."""

from collections import Counter

from scripts.material.eval_corpus import SENTENCES, SPEEDS, VOICES, eval_clips
from scripts.scoring.accuracy import SystemRun, last_word_right, subsets, wer_table


def test_the_set_has_120_clips_of_8_voices_at_3_speeds_each_sentence_three_times():
    clips = eval_clips()
    assert len(clips) == 120 and len({c.name for c in clips}) == 120
    assert Counter(c.voice for c in clips) == {voice: 15 for voice in VOICES}
    assert Counter(c.speed for c in clips) == {speed: 40 for speed in SPEEDS}
    assert Counter(c.text for c in clips) == {sentence: 3 for sentence in SENTENCES}
    assert {c.engine for c in clips} == {"flite", "espeak-ng"}
    for sentence in SENTENCES:  # each sentence by three voices, at the three speeds
        spoken = [c for c in clips if c.text == sentence]
        assert len({c.voice for c in spoken}) == 3 and {c.speed for c in spoken} == set(SPEEDS)


def test_sentences_carry_numbers_and_names():
    assert sum(any(ch.isdigit() for ch in s) for s in SENTENCES) >= 20
    assert len(SENTENCES) == len(set(SENTENCES)) == 40


REFERENCES = [
    {"text": "Say yes.", "voice": "a", "speed": "slow"},
    {"text": "Count to 3.", "voice": "b", "speed": "slow"},
    {"text": "Go home now.", "voice": "a", "speed": "fast"},
]


def test_subsets_are_every_clip_then_each_speed_then_each_voice():
    assert [(s.label, s.indices) for s in subsets(REFERENCES)] == [
        ("all (3 clips)", (0, 1, 2)), ("speed slow (2)", (0, 1)), ("speed fast (1)", (2,)),
        ("voice a (2)", (0, 2)), ("voice b (1)", (1,)),
    ]


def test_the_last_word_is_compared_after_normalisation():
    assert last_word_right("Count to 3.", "count to three")
    assert not last_word_right("Say yes.", "Say yet")
    assert not last_word_right("Say yes.", "")


def test_a_system_not_measured_is_a_column_of_dashes():
    exact = SystemRun("exact", tuple(r["text"] for r in REFERENCES))
    table = wer_table(REFERENCES, [exact, SystemRun("beam", None)], against=exact)
    assert table[2] == "| all (3 clips) | 0.00% | — |"
    assert table[-3] == "| last word right | 3/3 | — |"
    assert table[-2] == "| WER against exact | 0.00% | — |"
