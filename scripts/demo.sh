#!/usr/bin/env bash
# The main job on a fresh machine: set up .venv, start the local DJL-compatible server on the embedded whisper-base
# (built on first use, cached) in the background, wait for /ping, transcribe the bundled samples over HTTP, then
# stop the server with SIGTERM. Extra arguments are audio files. WHISPER_LMI_PORT picks the port (default 8080).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$root/scripts/setup-env.sh"
cd "$root"
export HF_HUB_OFFLINE=1 TRANSFORMERS_VERBOSITY=error
python="${WHISPER_LMI_VENV:-$root/.venv}/bin/python"
port="${WHISPER_LMI_PORT:-8080}"
url="http://127.0.0.1:$port"
log="${TMPDIR:-/tmp}/whisper-lmi-serve.$$.log"

"$python" -m scripts.serve --host 127.0.0.1 --port "$port" >"$log" 2>&1 &
server=$!
stop_server() {
  if kill -0 "$server" 2>/dev/null; then
    kill -TERM "$server"
    wait "$server" || true
  fi
}
trap stop_server EXIT

started=$SECONDS
until "$python" -c "import httpx, sys; sys.exit(httpx.get('$url/ping', timeout=2).status_code != 200)" 2>/dev/null; do
  if ! kill -0 "$server" 2>/dev/null; then
    echo "the server exited before it was ready; its log ($log):" >&2
    cat "$log" >&2
    exit 1
  fi
  if (( SECONDS - started > 300 )); then
    echo "the server was not ready within 300 s; its log: $log" >&2
    exit 1
  fi
  sleep 0.5
done
echo "server ready at $url in $(( SECONDS - started )) s (log: $log)"
"$python" -m scripts.transcribe_samples --url "$url" "$@"
