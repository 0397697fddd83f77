"""The container's environment, the LMI way: whisper-lmi options as ``OPTION_<NAME>`` variables, checked against the
artifact's serving.properties (a line there would silently win, so an option it shadows is an error)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from whisper_lmi.artifact.layout import PROPERTIES_FILE
from whisper_lmi.artifact.option_names import known_options
from whisper_lmi.artifact.properties import OPTION_PREFIX, option_names
from whisper_lmi.errors import WhisperLmiError
from whisper_lmi.sagemaker.constants import (
    ASYNC_DEFAULT_OPTIONS,
    ASYNC_MAX_REQUEST_BYTES,
    DEFAULT_OPTIONS,
    MAX_REQUEST_ENV,
    MODEL_ID_OPTION,
    OPTION_ENV_PREFIX,
    WEIGHTS_DIR_IN_CONTAINER,
)


@dataclass(frozen=True)
class ContainerInputs:
    """What the environment is made of: the user's options and raw variables, and what the artifact says."""

    options: Mapping[str, str] = field(default_factory=dict)  # max_batch_windows -> "32"
    variables: Mapping[str, str] = field(default_factory=dict)  # raw KEY=VALUE (OPTION_* among them)
    properties: Mapping[str, str] = field(default_factory=dict)  # the artifact's serving.properties
    has_weights: bool = False  # weights mirrored under the artifact prefix
    is_async: bool = False
    source: str = PROPERTIES_FILE  # where the properties came from, for messages


def parse_pairs(pairs: Sequence[str], flag: str) -> dict[str, str]:
    """``KEY=VALUE`` strings from a repeated flag; a key given twice is an error."""
    result: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise WhisperLmiError(f"{flag} {pair!r}: expected KEY=VALUE")
        if key in result and result[key] != value:
            raise WhisperLmiError(f"{flag} {key} given twice ({result[key]!r} and {value!r})")
        result[key] = value
    return result


def option_variable(name: str) -> str:
    return f"{OPTION_ENV_PREFIX}{name.upper()}"


def container_environment(inputs: ContainerInputs) -> dict[str, str]:
    """Raw variables, then ``OPTION_*`` for defaults and the user's options; DJL's request limit for async."""
    chosen = _user_options(inputs)
    shadowed = sorted(set(chosen) & option_names(dict(inputs.properties)))
    if shadowed:
        name = shadowed[0]
        raise WhisperLmiError(
            f"{option_variable(name)} would lose to {OPTION_PREFIX}{name}={inputs.properties[OPTION_PREFIX + name]} "
            f"in {inputs.source}: remove that line from the artifact (package and upload again) or drop the option")
    defaults = {key: value for key, value in _defaults(inputs).items()
                if key not in chosen and key not in option_names(dict(inputs.properties))}
    plain = {key: value for key, value in inputs.variables.items() if not key.startswith(OPTION_ENV_PREFIX)}
    environment = {**plain, **{option_variable(key): value for key, value in {**defaults, **chosen}.items()}}
    if inputs.is_async:
        environment.setdefault(MAX_REQUEST_ENV, str(ASYNC_MAX_REQUEST_BYTES))
    return dict(sorted(environment.items()))


def _user_options(inputs: ContainerInputs) -> dict[str, str]:
    """``--option`` and ``OPTION_*`` variables as one mapping of known option names."""
    from_variables = {key[len(OPTION_ENV_PREFIX):].lower(): value for key, value in inputs.variables.items()
                      if key.startswith(OPTION_ENV_PREFIX)}
    chosen = {key.strip(): value for key, value in inputs.options.items()}
    for key, value in from_variables.items():
        if key in chosen and chosen[key] != value:
            raise WhisperLmiError(f"{option_variable(key)}={value} and option {key}={chosen[key]} disagree")
    merged = {**from_variables, **chosen}
    _check_known(merged)
    return merged


def _check_known(options: Mapping[str, str]) -> None:
    known = known_options()
    for key in sorted(options):
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f" (did you mean {close[0]}?)" if close else " (docs/options.md lists them)"
            raise WhisperLmiError(f"unknown option {key!r}{hint}")


def _defaults(inputs: ContainerInputs) -> dict[str, str]:
    defaults = dict(DEFAULT_OPTIONS)
    if inputs.is_async:
        defaults.update(ASYNC_DEFAULT_OPTIONS)
    if inputs.has_weights:
        defaults[MODEL_ID_OPTION] = WEIGHTS_DIR_IN_CONTAINER
    return defaults
