"""SIGTERM under load: how long the local server takes to exit, and what the requests in flight get.

    python -m benchmarks.drain [--clients 8] [--drain 25] [--mode async] [--after 3]

Starts ``python -m scripts.serve`` (embedded whisper-base), sends ``--clients`` concurrent requests of every English
clip concatenated (37 s of speech each), sends SIGTERM ``--after`` seconds later, and prints the seconds
from the signal to the process's exit and each request's status. ``--drain`` is ``option.drain_timeout_seconds``
(the requests' own budget is raised out of the way).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter

import httpx

from benchmarks.load_test import HOST, MODE_OPTIONS, concatenated_wav, free_port, server_process
from scripts.material.clips import english_speech_clips

REQUEST_TIMEOUT_S = 900


async def load_then_sigterm(url: str, process, clients: int, after: float) -> tuple[float, list[int | str]]:
    body, _ = concatenated_wav(english_speech_clips())
    async with httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT_S) as client:
        sending = [asyncio.create_task(client.post("/invocations", content=body, headers={"Content-Type": "audio/wav"}))
                   for _ in range(clients)]
        await asyncio.sleep(after)
        signalled = time.monotonic()
        process.terminate()
        answers = await asyncio.gather(*sending, return_exceptions=True)
        await asyncio.to_thread(process.wait)
        exit_s = time.monotonic() - signalled
    return exit_s, [a.status_code if isinstance(a, httpx.Response) else type(a).__name__ for a in answers]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--drain", type=float, default=25.0, help="option.drain_timeout_seconds")
    parser.add_argument("--mode", choices=sorted(MODE_OPTIONS), default="async")
    parser.add_argument("--after", type=float, default=3.0, help="seconds between the requests and SIGTERM")
    arguments = parser.parse_args(argv)
    port = free_port()
    options = (*MODE_OPTIONS[arguments.mode], f"drain_timeout_seconds={arguments.drain:g}",
               f"request_timeout_seconds={REQUEST_TIMEOUT_S}", "max_audio_bytes=8000000")
    with server_process(port, options) as process:
        exit_s, statuses = asyncio.run(load_then_sigterm(f"http://{HOST}:{port}", process, arguments.clients,
                                                         arguments.after))
    print(json.dumps({"mode": arguments.mode, "clients": arguments.clients, "drain_s": arguments.drain,
                      "sigterm_to_exit_s": round(exit_s, 2), "statuses": dict(Counter(map(str, statuses)))}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
