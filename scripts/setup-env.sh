#!/usr/bin/env bash
# Create (or refresh) the project's virtual environment in .venv: torch 2.13.0 (CPU) first, then the project with
# its dev extras. Re-runs are quick: pip is skipped while pyproject.toml is unchanged.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${WHISPER_LMI_VENV:-$root/.venv}"
python="${PYTHON:-python3}"
stamp="$venv/.whisper-lmi-installed"
want="$(sha256sum "$root/pyproject.toml" | cut -c1-16)"

if [ ! -x "$venv/bin/python" ]; then
  echo "== creating $venv" >&2
  "$python" -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "== installing torch 2.13.0 (CPU) and whisper-lmi[dev] into $venv" >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  # torch first, pinned: a bare 'torch' requirement would pull a multi-GB CUDA build.
  "$venv/bin/python" -m pip install -q --disable-pip-version-check "torch==2.13.0"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -e "$root[dev]"
  echo "$want" > "$stamp"
fi
