"""What a transcription is: segments with timings and quality figures, words with timings, the whole text."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Word:
    word: str  # as in the transcript, with its leading space
    start: float  # seconds from the start of the audio
    end: float
    probability: float
    # The word's tokens, as its segment's tokens hold them (not compared, never rendered): what a segment split at a
    # stretch without speech gives each part (serving.batching.sessions).
    tokens: tuple[int, ...] = field(default=(), compare=False, repr=False)


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    text: str
    tokens: tuple[int, ...]  # text and timestamp tokens, as openai/whisper reports them
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float
    temperature: float
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class Transcription:
    language: str
    duration: float
    segments: tuple[Segment, ...] = field(default_factory=tuple)
    task: str = "transcribe"
    language_probability: float | None = None  # of the detected language; None when the request named it

    @property
    def text(self) -> str:
        return "".join(segment.text for segment in self.segments).strip()

    @property
    def words(self) -> tuple[Word, ...]:
        return tuple(word for segment in self.segments for word in segment.words)
