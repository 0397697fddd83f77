"""The English evaluation set of issue 15: forty sentences with numbers, names and short final words, spoken by
eight synthetic voices (four flite voices, four espeak-ng voices and variants) at three speeds (slow, normal, fast).

Each of the 24 (voice, speed) pairs speaks five sentences, taken in turn from the list, so every sentence is spoken
three times by different voices at different speeds: 120 clips, each with its reference text (the sentence given
to the engine). Data only: ``scripts.material.eval_speech`` speaks them into the cache (``python -m
scripts.evaluate_accuracy`` does it on first use).

The sentences were written for this set, not picked by trying them on a model: the set measures the model and the
decoding around it, so hard words stay. Numbers are written as digits or as words (Whisper's English normaliser
makes both agree); most sentences end on a short word, where the issue found ours garbling the last words.
"""

from __future__ import annotations

from dataclasses import dataclass

# voice label -> (engine, engine voice); espeak-ng variants after "+" (f3: a female variant).
VOICES: dict[str, tuple[str, str]] = {
    "slt": ("flite", "slt"),
    "rms": ("flite", "rms"),
    "awb": ("flite", "awb"),
    "kal16": ("flite", "kal16"),
    "en-us": ("espeak-ng", "en-us"),
    "en-gb": ("espeak-ng", "en-gb-x-rp"),
    "en-us-f3": ("espeak-ng", "en-us+f3"),
    "en-scotland": ("espeak-ng", "en-gb-scotland"),
}

# speed label -> (flite duration stretch, espeak-ng words per minute)
SPEEDS: dict[str, tuple[float, int]] = {
    "slow": (1.35, 115),
    "normal": (1.0, 150),
    "fast": (0.75, 200),
}

SENTENCES_PER_PAIR = 5

SENTENCES: tuple[str, ...] = (
    "Sarah bought 3 apples and 2 pears at the market on Monday, and that was all.",
    "The train to Boston leaves at 7:45 from platform 9, so do not be late.",
    "Doctor Patel asked me to come back in 2 weeks for a check.",
    "We counted 48 birds on the lake before the storm came in.",
    "My brother David lives in Chicago with his wife and their cat.",
    "The recipe needs 250 grams of sugar and 4 eggs, nothing else.",
    "Please call Michael before noon and tell him the answer is yes.",
    "In 1998 the old bridge over the river was finally closed.",
    "Anna painted the kitchen blue because her son liked the color.",
    "There are 12 chairs in the hall, but we need at least 20.",
    "The meeting with Mr. Johnson moved from Tuesday to Friday at 3.",
    "Peter ran 5 miles this morning and then slept until ten.",
    "Our flight from London to Tokyo took almost 13 hours.",
    "Emily found a small gray kitten under the car and took it in.",
    "The shop on Main Street sells bread, cheese and fresh fish.",
    "Turn left at the church, walk 300 meters and you will see it.",
    "Grandpa Joe turned 90 last spring and still walks every day.",
    "The final score was 3 to 1, and the fans went home happy.",
    "Lisa left her keys at the office, so she had to go back.",
    "The museum opens at 9 and closes at 5 on weekdays.",
    "Kevin spent 40 dollars on a new jacket and a red hat.",
    "We drove from Denver to Dallas in one long day by car.",
    "The teacher asked the class to read chapter 6 before Monday.",
    "Maria speaks Spanish, French and a little German too.",
    "About 70 people came to the party, more than we planned.",
    "James fixed the broken fence with a hammer and some nails.",
    "The library has over 10,000 books and a quiet garden.",
    "Oliver missed the bus twice this week, and his boss was not glad.",
    "Add a pinch of salt, stir for 2 minutes and then stop.",
    "The hotel in Paris gave us a room on the 8th floor with a view.",
    "Rachel wrote a letter to her aunt in Canada last night.",
    "It rained for 6 days in a row, and the garden loved it.",
    "Thomas and Kate planted 15 trees behind the school in May.",
    "The doctor said to drink more water and rest, that is all.",
    "On the 4th of July the town has a parade and fireworks.",
    "Ben sold his old guitar for 120 dollars to a friend.",
    "The children sang a song about the sea, then they sat down.",
    "Laura keeps 3 goldfish and a turtle in her small flat.",
    "The road to Seattle was closed for 2 hours after the crash.",
    "Mark looked at the sky, shook his head and said no.",
)


@dataclass(frozen=True)
class EvalClip:
    name: str  # file name in the cache: <index>_<voice>_<speed>.flac
    voice: str  # a key of VOICES
    speed: str  # a key of SPEEDS
    text: str  # the sentence spoken: the reference transcript

    @property
    def engine(self) -> str:
        return VOICES[self.voice][0]


def eval_clips() -> tuple[EvalClip, ...]:
    """The 120 clips, pair by pair (voices in order, each at the three speeds)."""
    clips = []
    pairs = [(voice, speed) for voice in VOICES for speed in SPEEDS]
    for p, (voice, speed) in enumerate(pairs):
        for k in range(SENTENCES_PER_PAIR):
            index = (p * SENTENCES_PER_PAIR + k) % len(SENTENCES)
            clips.append(EvalClip(f"{len(clips):03d}_{voice}_{speed}.flac", voice, speed, SENTENCES[index]))
    return tuple(clips)
