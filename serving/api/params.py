"""Per-request transcription parameters: typed, validated before any model work."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from serving.constants import MAX_BEAM_SIZE, MAX_BEST_OF
from serving.errors import BadParameter
from serving.languages import language_code, language_list

ResponseFormat = Literal["json", "text", "verbose_json", "srt", "vtt"]
Task = Literal["transcribe", "translate"]
Granularity = Literal["segment", "word"]
LongForm = Literal["chunked", "sequential"]
TIMED_FORMATS = frozenset({"verbose_json", "srt", "vtt"})  # formats that carry segment timestamps
MAX_PATIENCE = 10.0  # beam search patience: round(beam_size * patience) hypotheses finish a window


class TranscriptionParams(BaseModel):
    """What a client may ask for. ``language=None`` means: detect it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    language: str | None = None
    # Detection chooses among these (codes or English names; a list, or text 'de,fr'); (): the server's option
    # language_candidates, else every language of the model. Unused when ``language`` is given.
    language_candidates: tuple[str, ...] = ()
    task: Task = "transcribe"
    prompt: str | None = Field(None, max_length=2000)
    temperature: float = Field(0.0, ge=0.0, le=1.0)
    response_format: ResponseFormat = "json"
    timestamp_granularities: tuple[Granularity, ...] = ()  # verbose_json only; () means ("segment",)
    long_form: LongForm | None = None  # None: the server's option.long_form
    condition_on_previous_text: bool = True  # sequential long-form: the previous text prompts the next window
    stream: bool = False  # server-sent events as segments are decoded (async mode only)
    # Beam search at temperature 0 (openai/whisper's options; sampling at the fallback temperatures above 0).
    beam_size: int | None = Field(None, ge=1, le=MAX_BEAM_SIZE)  # None: the server's option.beam_size
    patience: float | None = Field(None, gt=0.0, le=MAX_PATIENCE)  # None: 1.0
    length_penalty: float | None = Field(None, ge=0.0, le=1.0)  # None: log-probability over length
    best_of: int | None = Field(None, ge=1, le=MAX_BEST_OF)  # samples above temperature 0; None: option.best_of

    @property
    def timestamps(self) -> bool:
        """Segment timestamps are needed for the response."""
        return self.response_format in TIMED_FORMATS

    @property
    def words(self) -> bool:
        return "word" in self.timestamp_granularities

    @property
    def segments_wanted(self) -> bool:
        """verbose_json lists segments unless only words were asked for (OpenAI's rule)."""
        return not self.timestamp_granularities or "segment" in self.timestamp_granularities

    @field_validator("timestamp_granularities", mode="before")
    @classmethod
    def _granularities(cls, value: Any) -> Any:
        """A list, or text as headers and form fields carry it: 'word', 'segment,word' or '["word", "segment"]'."""
        if isinstance(value, str):
            text = value.strip().strip("[]")
            value = [part.strip().strip("'\"").lower() for part in text.split(",") if part.strip()]
        return tuple(dict.fromkeys(value)) if isinstance(value, (list, tuple)) else value

    @model_validator(mode="after")
    def _granularities_need_verbose_json(self) -> "TranscriptionParams":
        if self.timestamp_granularities and self.response_format != "verbose_json":
            raise ValueError(
                f"timestamp_granularities needs response_format=verbose_json (got {self.response_format!r})"
            )
        return self

    @model_validator(mode="after")
    def _patience_leaves_a_hypothesis(self) -> TranscriptionParams:
        if self.beam_size is not None and self.patience is not None and round(self.beam_size * self.patience) < 1:
            raise ValueError(f"beam_size={self.beam_size} with patience={self.patience} waits for no hypothesis "
                             "(round(beam_size * patience) must be at least 1)")
        return self

    @field_validator("language", mode="before")
    @classmethod
    def _language(cls, value: Any) -> str | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str):
            raise ValueError("must be a string")
        return language_code(value)

    @field_validator("language_candidates", mode="before")
    @classmethod
    def _candidates(cls, value: Any) -> Any:
        return language_list(value)

    @field_validator("prompt", mode="before")
    @classmethod
    def _prompt(cls, value: Any) -> str | None:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("task", "response_format", "long_form", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


PARAMETER_NAMES = tuple(TranscriptionParams.model_fields)


def parse_params(values: Mapping[str, Any]) -> TranscriptionParams:
    """Validate raw values; an unknown name or a bad value is a :class:`BadParameter` naming it."""
    try:
        return TranscriptionParams(**values)
    except BadParameter:
        raise
    except ValidationError as exc:
        raise BadParameter(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        name = ".".join(str(part) for part in error["loc"] if isinstance(part, str))
        if not name:
            problems.append(error["msg"].removeprefix("Value error, "))
        elif error["type"] == "extra_forbidden":
            problems.append(f"unknown parameter {name!r} (accepted: {', '.join(PARAMETER_NAMES)})")
        else:
            problems.append(f"parameter {name!r}={error.get('input')!r}: {error['msg']}")
    return "; ".join(problems)
