"""The option names the shipped handler knows, read from the ``serving`` package's settings module as source (it is
shipped, not imported: importing it needs pydantic and the rest of the serving stack)."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from whisper_lmi.artifact.layout import SETTINGS_MODULE, serving_source
from whisper_lmi.errors import WhisperLmiError

SETTINGS_CLASS = "Settings"
# Keys of DJL, LMI and SageMaker that the handler accepts and leaves to them.
FOREIGN_KEYS_NAME = "FOREIGN_KEYS"
NOT_OPTIONS = frozenset({"model_config"})


@cache
def known_options(settings_module: Path | None = None) -> frozenset[str]:
    """Every ``option.<name>`` the handler reads, plus the DJL/LMI keys it passes through."""
    path = settings_module or serving_source().parent / SETTINGS_MODULE
    tree = ast.parse(path.read_text(), str(path))
    return frozenset(_settings_fields(tree) | _foreign_keys(tree))


def _settings_fields(tree: ast.Module) -> set[str]:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == SETTINGS_CLASS:
            return {item.target.id for item in node.body if isinstance(item, ast.AnnAssign)
                    and isinstance(item.target, ast.Name) and item.target.id not in NOT_OPTIONS}
    raise WhisperLmiError(f"the serving package has no {SETTINGS_CLASS} class; reinstall whisper-lmi")


def _foreign_keys(tree: ast.Module) -> set[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == FOREIGN_KEYS_NAME for t in node.targets):
            call = node.value
            if isinstance(call, ast.Call) and call.args:
                return set(ast.literal_eval(call.args[0]))
    return set()
