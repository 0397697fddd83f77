"""Hand-made material for driving the per-request plans without a model: a small vocabulary, a text table, request
options, decoded windows built from timestamp-token sequences, and a speech "script" that windows hear.

Text token ``k`` (below :data:`EOT`) is the word ``" w{k}"``; timestamp tokens are :data:`TIMESTAMP_BEGIN` plus the
time in 0.02 s steps, as in Whisper. A script is a list of sentences, each a list of words ``(token, start, end)`` in
seconds from the start of the audio; :func:`heard` turns the part of a script inside a window into what Whisper would
give for it: one closed segment per whole sentence, and the words of a sentence cut by the window's end as an
unclosed tail, with each word's timing.
"""

from __future__ import annotations

import numpy as np

from serving.constants import SAMPLE_RATE, SECONDS_PER_TIMESTAMP
from serving.engine.decoded import DecodedWindow, WordTiming
from serving.engine.token_text import TokenText
from serving.engine.vocabulary import Vocabulary
from serving.identity import RequestId
from serving.longform.plans import PlanContext, RequestOptions, WindowOutcome, WindowTask
from serving.longform.quality import Thresholds

EOT = 1000
TIMESTAMP_BEGIN = 1009
VOCABULARY = Vocabulary(
    eot=EOT, sot=1001, sot_prev=1002, no_timestamps=1008, no_speech=1007, timestamp_begin=TIMESTAMP_BEGIN,
    size=TIMESTAMP_BEGIN + 1501, tasks={"translate": 1003, "transcribe": 1004}, languages={"en": 1005, "de": 1006},
    suppress=(1001, 1002, 1003, 1004, 1007), suppress_at_begin=(EOT,),
)
SPEECH_LOGPROB = -0.2  # average log-probability of a confidently decoded window
Script = list[list[tuple[int, float, float]]]


class WordTable:
    """A stand-in tokenizer for :class:`TokenText`: token k is the byte-level piece 'Ġw{k}' (' w{k}')."""

    def convert_ids_to_tokens(self, ids: list[int]) -> list[str]:
        return [f"\u0120w{k}" for k in ids]


TEXT = TokenText(WordTable(), EOT)


def context(overlap: float = 5.0, thresholds: Thresholds = Thresholds()) -> PlanContext:
    return PlanContext(VOCABULARY, TEXT, thresholds, overlap)


def options(**changes) -> RequestOptions:
    values = dict(language="en", task="transcribe", prompt=(), temperature=0.0, timestamps=True, words=False,
                  long_form="sequential", condition_on_previous_text=True)
    values.update(changes)
    return RequestOptions(**values)


def audio(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * SAMPLE_RATE), dtype=np.float32)


def request() -> RequestId:
    return RequestId.new("plan-spec")


def ts(seconds: float) -> int:
    """The timestamp token of a time in the window."""
    return TIMESTAMP_BEGIN + round(seconds / SECONDS_PER_TIMESTAMP)


def words(*tokens: int) -> str:
    return "".join(f" w{k}" for k in tokens)


def decoded(tokens, avg_logprob: float = SPEECH_LOGPROB, no_speech: float = 0.05,
            temperature: float = 0.0) -> DecodedWindow:
    tokens = tuple(tokens)
    return DecodedWindow(tokens, avg_logprob * (len(tokens) + 1), no_speech, temperature, ended=True)


def outcome(tokens, timings=(), language: str | None = "en", **scores) -> WindowOutcome:
    return WindowOutcome(decoded(tokens, **scores), tuple(timings), language)


def silent(tokens=(ts(0.0), 7, ts(2.0)), language: str | None = "en") -> WindowOutcome:
    """A window Whisper finds silent: <|nospeech|> likely (0.9) and the decoded text unlikely (-1.5)."""
    return outcome(tokens, language=language, avg_logprob=-1.5, no_speech=0.9)


def timing(token: int, start: float, end: float) -> WordTiming:
    """One word's timing, in seconds from the window's start."""
    return WordTiming(f" w{token}", (token,), start, end, 0.9)


# ---- scripts --------------------------------------------------------------------------------------------------


def every_second(first: int, last: int, sentence_starts: int = 3, sentence_words: int = 5) -> Script:
    """Word k (token k) spoken at [k, k + 0.6) s for k in [first, last], in sentences that start at every k with
    k % sentence_words == sentence_starts % sentence_words (and at ``first``)."""
    sentences: Script = []
    for k in range(first, last + 1):
        if not sentences or k % sentence_words == sentence_starts % sentence_words:
            sentences.append([])
        sentences[-1].append((k, float(k), k + 0.6))
    return sentences


def heard(task: WindowTask, script: Script, since: float = 0.0, until: float = float("inf"), shift: float = 0.0,
          language: str | None = "en", **scores) -> WindowOutcome:
    """What Whisper gives for a window over a script: the words inside the window (and in [since, until)), one
    closed segment per sentence heard whole, the words of a sentence cut by the window's end as an unclosed tail;
    every time ``shift`` seconds later (a window that times the words differently)."""
    offset, end = task.offset, task.offset + task.length / SAMPLE_RATE
    tokens: list[int] = []
    timings: list[WordTiming] = []
    for sentence in script:
        inside = [(k, s, e) for k, s, e in sentence if s >= offset and e <= end and since <= s < until]
        if not inside:
            continue
        tokens.append(ts(inside[0][1] - offset + shift))
        tokens.extend(k for k, _, _ in inside)
        timings.extend(timing(k, s - offset + shift, e - offset + shift) for k, s, e in inside)
        cut = any(s < end < e or s >= end for k, s, e in sentence)
        if cut:
            break
        tokens.append(ts(inside[-1][2] - offset + shift))
    return WindowOutcome(decoded(tokens, **scores), tuple(timings), language)


def segment_words(segments) -> list[str]:
    return [w.word for s in segments for w in s.words]
