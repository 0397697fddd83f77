"""``TranscriptionParams``: every request parameter the endpoint accepts, checked lightly here (the endpoint checks
everything again and answers a 400 naming the problem), and written the three ways a request can carry them:
SageMaker custom attributes (ASCII, at most 1024 characters, ``;`` separates pairs), form fields, JSON fields.

``None`` (and the empty tuple) means: the endpoint's default, and nothing is sent. The endpoint's own model is
``serving.api.params.TranscriptionParams``; this mirror is kept in step with it by ``tests/test_sagemaker_invoke.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from whisper_lmi.errors import WhisperLmiError
from whisper_lmi.sagemaker.constants import CUSTOM_ATTRIBUTES_MAX

TASKS = ("transcribe", "translate")
RESPONSE_FORMATS = ("json", "text", "verbose_json", "srt", "vtt")
JSON_FORMATS = frozenset({"json", "verbose_json"})
SUBTITLE_FORMATS = frozenset({"srt", "vtt"})
GRANULARITIES = ("segment", "word")
LONG_FORM_MODES = ("chunked", "sequential")
DEFAULT_RESPONSE_FORMAT = "json"
PROMPT_MAX_CHARS = 2000
ATTRIBUTE_SEPARATOR = "; "
LIST_FIELDS = ("language_candidates", "timestamp_granularities")
BEAMS_MAX = 16  # the endpoint's MAX_BEAM_SIZE and MAX_BEST_OF
FORBIDDEN_IN_ATTRIBUTES = ";"  # separates the pairs; DJL trims each side of '=' too


@dataclass(frozen=True)
class TranscriptionParams:
    """What to ask the endpoint for (OpenAI's names). ``language=None``: detect it; ``long_form=None``: the
    endpoint's ``option.long_form``; ``timestamp_granularities`` needs ``response_format="verbose_json"``;
    ``stream`` is set by ``Endpoint.stream`` (server-sent events)."""

    language: str | None = None
    language_candidates: tuple[str, ...] = ()  # detection chooses among these (codes or names)
    task: str | None = None
    prompt: str | None = None
    temperature: float | None = None
    response_format: str | None = None
    timestamp_granularities: tuple[str, ...] = ()
    long_form: str | None = None
    condition_on_previous_text: bool | None = None
    stream: bool = False
    beam_size: int | None = None  # beams at temperature 0 (None: the endpoint's option.beam_size)
    patience: float | None = None
    length_penalty: float | None = None
    best_of: int | None = None  # samples per window above temperature 0

    def __post_init__(self) -> None:
        for name in LIST_FIELDS:  # "word" or "segment,word", as a header carries them
            value = getattr(self, name)
            if isinstance(value, str):
                value = [part.strip() for part in value.split(",") if part.strip()]
            object.__setattr__(self, name, tuple(value))
        for problem in _problems(self):
            raise WhisperLmiError(problem)

    @property
    def format(self) -> str:
        """The response format the endpoint will answer in."""
        return self.response_format or DEFAULT_RESPONSE_FORMAT

    def values(self) -> dict[str, Any]:
        """The parameters to send, typed as a JSON body carries them (defaults left out)."""
        sent: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is None or value == () or (item.name == "stream" and not value):
                continue
            sent[item.name] = list(value) if isinstance(value, tuple) else value
        return sent

    def text_values(self) -> dict[str, str]:
        """The parameters as text, as custom attributes and form fields carry them."""
        return {name: _text(value) for name, value in self.values().items()}

    def attributes_problem(self) -> str | None:
        """Why these parameters cannot travel as custom attributes (None when they can)."""
        for name, value in self.text_values().items():
            if FORBIDDEN_IN_ATTRIBUTES in value:
                return f"{name} contains ';', which separates custom attributes"
            if value != value.strip():
                return f"{name} has leading or trailing spaces, which custom attributes lose"
        text = _join(self.text_values())
        if not text.isascii():
            return "custom attributes must be ASCII (SageMaker's limit)"
        if len(text) > CUSTOM_ATTRIBUTES_MAX:
            return f"custom attributes are {len(text)} characters, SageMaker allows {CUSTOM_ATTRIBUTES_MAX}"
        return None

    def custom_attributes(self) -> str | None:
        """``language=de; task=translate``, or None when nothing is to be sent; an error when they do not fit."""
        problem = self.attributes_problem()
        if problem is not None:
            raise WhisperLmiError(f"{problem}; send the parameters in a JSON body (body='json')")
        return _join(self.text_values()) or None


def _problems(params: TranscriptionParams) -> list[str]:
    problems = [
        _choice("task", params.task, TASKS),
        _choice("response_format", params.response_format, RESPONSE_FORMATS),
        _choice("long_form", params.long_form, LONG_FORM_MODES),
        *(_choice("timestamp_granularities", g, GRANULARITIES) for g in params.timestamp_granularities),
    ]
    if params.temperature is not None and not 0.0 <= params.temperature <= 1.0:
        problems.append(f"temperature must be between 0 and 1 (got {params.temperature})")
    for name in ("beam_size", "best_of"):
        value = getattr(params, name)
        if value is not None and not 1 <= value <= BEAMS_MAX:
            problems.append(f"{name} must be between 1 and {BEAMS_MAX} (got {value})")
    if params.prompt is not None and len(params.prompt) > PROMPT_MAX_CHARS:
        problems.append(f"prompt is {len(params.prompt)} characters; the endpoint takes at most {PROMPT_MAX_CHARS}")
    if params.timestamp_granularities and params.format != "verbose_json":
        problems.append(f"timestamp_granularities needs response_format='verbose_json' (got {params.format!r})")
    return [problem for problem in problems if problem]


def _choice(name: str, value: str | None, accepted: tuple[str, ...]) -> str | None:
    if value is None or value in accepted:
        return None
    return f"{name} must be one of {', '.join(accepted)} (got {value!r})"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(value)
    return str(value)


def _join(values: dict[str, str]) -> str:
    return ATTRIBUTE_SEPARATOR.join(f"{name}={value}" for name, value in values.items())
