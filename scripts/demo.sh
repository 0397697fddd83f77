#!/usr/bin/env bash
# The main job on a fresh machine: set up .venv, build the embedded whisper-base on first use (cached), and
# transcribe the bundled samples through DJL's handle() on the CPU. Extra arguments are audio files.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup-env.sh"
cd "$root"
export HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error
exec "${WHISPER_LMI_VENV:-$root/.venv}/bin/python" -m scripts.transcribe_samples "$@"
