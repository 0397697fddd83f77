"""Per-request transcription parameters: typed, validated before any model work."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from serving.errors import BadParameter
from serving.languages import language_code

ResponseFormat = Literal["json", "text"]
Task = Literal["transcribe", "translate"]


class TranscriptionParams(BaseModel):
    """What a client may ask for. ``language=None`` means: detect it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    language: str | None = None
    task: Task = "transcribe"
    prompt: str | None = Field(None, max_length=2000)
    temperature: float = Field(0.0, ge=0.0, le=1.0)
    response_format: ResponseFormat = "json"

    @field_validator("language", mode="before")
    @classmethod
    def _language(cls, value: Any) -> str | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str):
            raise ValueError("must be a string")
        return language_code(value)

    @field_validator("prompt", mode="before")
    @classmethod
    def _prompt(cls, value: Any) -> str | None:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("task", "response_format", mode="before")
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
        name = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            problems.append(f"unknown parameter {name!r} (accepted: {', '.join(PARAMETER_NAMES)})")
        else:
            problems.append(f"parameter {name!r}={error.get('input')!r}: {error['msg']}")
    return "; ".join(problems)
