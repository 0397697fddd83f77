"""What a long-form transcript gets wrong that a short one would not: n-grams it drops or repeats around the 30 s
seams of a ``scripts.material.longform_audio.LongAudio`` (``seam_errors``), and runs of words dropped or phrases
doubled anywhere (``lost_or_doubled``). Both compare normalised words (``scripts.scoring.wer.normalise``)."""

from __future__ import annotations

import difflib
from collections import Counter
from dataclasses import dataclass

from scripts.material.longform_audio import LongAudio
from scripts.scoring.wer import normalise

# ----------------------------------------------------------------------------------------------------------------
# Seams: what a long-form transcript drops or repeats around the 30 s window edges
# ----------------------------------------------------------------------------------------------------------------

MISSING, REPEATED, INSERTED = "missing", "repeated", "inserted"


@dataclass(frozen=True)
class SeamWords:
    """The normalised reference words of a LongAudio and, per seam, the word position it falls at."""

    words: tuple[str, ...]
    positions: tuple[int, ...]  # per seam: the index of the first word at or after the edge


@dataclass(frozen=True)
class SeamError:
    """One n-gram near a seam that the hypothesis has too few or too many times.

    ``kind`` is MISSING (a reference n-gram near the seam occurs fewer times in the hypothesis than in the
    reference: a dropped or misrecognised word), REPEATED (a hypothesis n-gram near the seam occurs more often than
    in the reference, where it occurs: a doubled phrase) or INSERTED (a hypothesis n-gram near the seam that the
    reference lacks: a doubled phrase shorter than n, an inserted or a misrecognised word).
    """

    seconds: float  # the seam
    kind: str
    ngram: str  # normalised words joined by spaces
    reference_count: int
    hypothesis_count: int


def seam_words(long_audio: LongAudio) -> SeamWords:
    """Each sentence normalised on its own; a seam's word is placed in proportion to its time inside its sentence."""
    words: list[str] = []
    starts: list[int] = []
    for sentence in long_audio.sentences:
        starts.append(len(words))
        words.extend(normalise(sentence.text).split())
    positions = []
    for seam in long_audio.seams:
        sentence = long_audio.sentences[seam.sentence]
        count = (starts[seam.sentence + 1] if seam.sentence + 1 < len(starts) else len(words)) - starts[seam.sentence]
        fraction = (seam.seconds - sentence.start) / (sentence.end - sentence.start)
        positions.append(starts[seam.sentence] + round(fraction * count))
    return SeamWords(tuple(words), tuple(positions))


def seam_errors(hypothesis: str, long_audio: LongAudio, n: int = 3, radius_words: int = 8) -> list[SeamError]:
    """Every n-gram within ``radius_words`` of a seam that the hypothesis misses or has too often.

    The hypothesis is normalised like the reference and aligned to it (difflib, no junk heuristic) to find where
    each seam falls in it. Counts are over the whole texts: the corpus has no repeated 3-gram, so with n >= 3 a
    reference count is 1 (or 0). Errors are listed seam by seam, missing ones first, each n-gram once per seam.
    """
    if n < 1 or radius_words < n:
        raise ValueError(f"need 1 <= n <= radius_words, got n={n}, radius_words={radius_words}")
    reference = seam_words(long_audio)
    hypothesis_words = tuple(normalise(hypothesis).split())
    reference_counts = Counter(_ngrams(reference.words, n, 0, len(reference.words)))
    hypothesis_counts = Counter(_ngrams(hypothesis_words, n, 0, len(hypothesis_words)))
    to_hypothesis = _aligned_positions(reference.words, hypothesis_words)
    errors: list[SeamError] = []
    for seam, position in zip(long_audio.seams, reference.positions):
        near_reference = _ngrams(reference.words, n, position - radius_words, position + radius_words)
        aligned = to_hypothesis[position]
        near_hypothesis = _ngrams(hypothesis_words, n, aligned - radius_words, aligned + radius_words)
        found = [(MISSING, g) for g in near_reference if hypothesis_counts[g] < reference_counts[g]]
        found += [(_excess(reference_counts[g]), g) for g in near_hypothesis
                  if hypothesis_counts[g] > reference_counts[g]]
        errors.extend(
            SeamError(seam.seconds, kind, " ".join(gram), reference_counts[gram], hypothesis_counts[gram])
            for kind, gram in dict.fromkeys(found)
        )
    return errors


def _excess(reference_count: int) -> str:
    return REPEATED if reference_count else INSERTED


def _ngrams(words: tuple[str, ...], n: int, start: int, stop: int) -> list[tuple[str, ...]]:
    """The n-grams lying wholly inside words[start:stop] (bounds clipped to the text)."""
    start, stop = max(start, 0), min(stop, len(words))
    return [words[i : i + n] for i in range(start, stop - n + 1)]


def _aligned_positions(reference: tuple[str, ...], hypothesis: tuple[str, ...]) -> list[int]:
    """For each reference position 0..len(reference), the hypothesis position aligned with it."""
    positions = [0] * (len(reference) + 1)
    matcher = difflib.SequenceMatcher(None, reference, hypothesis, autojunk=False)
    for _, i1, i2, j1, j2 in matcher.get_opcodes():
        for i in range(i1, i2):
            positions[i] = j1 + min(i - i1, max(j2 - j1 - 1, 0))
    positions[len(reference)] = len(hypothesis)
    return positions


# ----------------------------------------------------------------------------------------------------------------
# Words dropped or doubled anywhere in a long-form transcript (misrecognised words are not counted)
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LostOrDoubled:
    kind: str  # "dropped" or "doubled"
    words: str  # normalised
    at_reference_word: int


def lost_or_doubled(hypothesis: str, reference: str, n: int = 3, min_dropped: int = 2) -> list[LostOrDoubled]:
    """Runs of at least ``min_dropped`` reference words that the hypothesis lacks (deleted, or replaced by fewer
    words), and hypothesis n-grams that occur more often than in the reference (a doubled phrase).

    A merge error at a seam shows up as one of these; a misrecognised word (substituted one for one, or split in
    two) does not, so this judges the long-form algorithm rather than the model.
    """
    reference_words = tuple(normalise(reference).split())
    hypothesis_words = tuple(normalise(hypothesis).split())
    problems = []
    matcher = difflib.SequenceMatcher(None, reference_words, hypothesis_words, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op in ("delete", "replace") and (i2 - i1) - (j2 - j1) >= min_dropped:
            problems.append(LostOrDoubled("dropped", " ".join(reference_words[i1:i2]), i1))
    reference_counts = Counter(_ngrams(reference_words, n, 0, len(reference_words)))
    for gram, count in Counter(_ngrams(hypothesis_words, n, 0, len(hypothesis_words))).items():
        if count > max(1, reference_counts[gram]):
            problems.append(LostOrDoubled("doubled", " ".join(gram), -1))
    return problems
