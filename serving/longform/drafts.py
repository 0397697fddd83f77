"""One decoded window turned into draft segments: split at its timestamp tokens, timed from the start of the
audio, each with its text; a draft becomes a frozen :class:`~serving.results.Segment` once its words are placed."""

from __future__ import annotations

from dataclasses import dataclass, field

from serving.constants import SAMPLE_RATE
from serving.engine.decoded import DecodedWindow
from serving.longform.plans import PlanContext, WindowTask
from serving.longform.quality import compression_ratio
from serving.longform.segmenting import split_segments
from serving.results import Segment, Word


@dataclass
class Draft:
    """A segment under construction (times in seconds from the start of the audio)."""

    start: float
    end: float
    tokens: tuple[int, ...]
    text: str
    text_tokens: tuple[int, ...]
    decoded: DecodedWindow
    words: list[Word] = field(default_factory=list)
    word_tokens: list[tuple[int, ...]] = field(default_factory=list)

    def freeze(self, with_words: bool) -> Segment:
        d = self.decoded
        return Segment(
            start=round(self.start, 3), end=round(self.end, 3), text=self.text, tokens=self.tokens,
            avg_logprob=d.avg_logprob, no_speech_prob=d.no_speech_prob,
            compression_ratio=compression_ratio(self.text), temperature=d.temperature,
            words=tuple(self.words) if with_words else (),
        )


def window_drafts(
    context: PlanContext, task: WindowTask, decoded: DecodedWindow, keep_tail: bool = False
) -> tuple[list[Draft], int | None]:
    """The window's segments (absolute times) and the mel frames consumed (None: all of them)."""
    content = task.length / SAMPLE_RATE
    if task.timestamps:
        parsed = split_segments(decoded.tokens, context.vocabulary.timestamp_begin, content, keep_tail)
        pieces, consumed = parsed.segments, parsed.consumed_frames
    else:
        pieces, consumed = None, None
    drafts = []
    for start, end, tokens in _pieces(pieces, decoded, content):
        text_tokens = tuple(t for t in tokens if t < context.vocabulary.eot)
        end = min(max(end, start), content)
        drafts.append(Draft(task.offset + min(start, content), task.offset + end, tokens,
                            context.text.decode(text_tokens), text_tokens, decoded))
    return drafts, consumed


def _pieces(pieces, decoded: DecodedWindow, content: float):
    if pieces is None:
        return [(0.0, content, decoded.tokens)]
    return [(piece.start, piece.end, piece.tokens) for piece in pieces]
