"""The local server's HTTP edge under clients that misbehave, over raw sockets: for each case, the status the
client gets (or that it gets none, or that the server closed the connection) and after how many seconds.

* ``expect``: ``Expect: 100-continue``, headers only (a well-behaved client waits for the 100, then sends the body);
* ``expect_unknown``: ``Expect: something-else`` (Netty: 417);
* ``expect_too_large``: ``Expect: 100-continue`` with a Content-Length over the limit (Netty: 413, never a 100);
* ``short_body``: a Content-Length larger than the body sent;
* ``partial_headers``: headers that never end;
* ``dribble``: 200 connections sending their headers one byte a second: when the last one is closed;
* ``leave_upload``: 20 clients that send half their body and leave: the log's tracebacks;
* ``disconnect``: 20 clients that send a long request and leave after a second: the log's tracebacks, and the
  latency of a normal request sent right after them against the same request alone (work still done for the
  clients that left delays it).

    python -m benchmarks.http_edge [--url http://127.0.0.1:8080 | (starts its own server)] [--cap 40]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.load_test import HOST, concatenated_wav, free_port, server_process
from scripts.material.clips import clip_bytes, english_speech_clips

DEFAULT_CAP_SECONDS = 40.0
DRIBBLERS = 200
DRIBBLE_INTERVAL_SECONDS = 1.0
LEAVERS = 20
LEAVE_AFTER_SECONDS = 1.0
LONG_CLIPS = 6  # clips concatenated into one long request (about 20 s of speech)
REQUEST_HEAD = "POST /invocations HTTP/1.1\r\nHost: local\r\nConnection: close\r\nContent-Type: audio/wav\r\n"
TRACEBACK_MARK = b"Exception in ASGI application"


@dataclass(frozen=True)
class Outcome:
    case: str
    answer: str  # the status line(s) received, "closed" or "no answer"
    seconds: float

    def line(self) -> str:
        return f"{self.case:18} {self.answer:48} {self.seconds:7.2f} s"


async def _exchange(port: int, chunks: Sequence[bytes], cap: float, then: bytes | None = None) -> tuple[str, float]:
    """Send ``chunks``; read status lines until the server closes or ``cap`` passes; ``then`` is sent after a 100."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection(HOST, port)
    for chunk in chunks:
        writer.write(chunk)
    await writer.drain()
    statuses, received = [], b""
    try:
        while True:
            data = await asyncio.wait_for(reader.read(65536), cap - (time.monotonic() - started))
            if not data:
                statuses.append("closed")
                break
            received += data
            lines = [line for line in received.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")]
            statuses[:] = [line[9:].decode() for line in lines]
            if then is not None and statuses and statuses[-1].startswith("100"):
                writer.write(then)
                then = None
    except (asyncio.TimeoutError, ValueError):
        statuses.append("no answer")
    except ConnectionError:
        statuses.append("reset")
    writer.close()
    return " -> ".join(statuses), time.monotonic() - started


async def _dribble(port: int, cap: float) -> tuple[str, float]:
    """``DRIBBLERS`` connections sending a request's head one byte each interval; when is the last one closed?"""
    started = time.monotonic()
    head = (REQUEST_HEAD + "Content-Length: 5\r\n\r\nhello").encode()

    async def one() -> float | None:
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            for byte in head:
                if time.monotonic() - started > cap:
                    return None
                writer.write(bytes([byte]))
                await writer.drain()
                try:
                    if not await asyncio.wait_for(reader.read(65536), DRIBBLE_INTERVAL_SECONDS):
                        return time.monotonic() - started
                except asyncio.TimeoutError:
                    continue
            return None
        except ConnectionError:
            return time.monotonic() - started
        finally:
            writer.close()

    closed = await asyncio.gather(*(one() for _ in range(DRIBBLERS)))
    open_at_cap = sum(seconds is None for seconds in closed)
    last = max((seconds for seconds in closed if seconds is not None), default=cap)
    return f"{DRIBBLERS - open_at_cap} closed by the server, {open_at_cap} still open", last


async def _leave(port: int, body: bytes) -> None:
    _, writer = await asyncio.open_connection(HOST, port)
    writer.write(f"{REQUEST_HEAD}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    await writer.drain()
    await asyncio.sleep(LEAVE_AFTER_SECONDS)
    writer.close()


async def _leave_upload(port: int, body: bytes) -> None:
    _, writer = await asyncio.open_connection(HOST, port)
    writer.write(f"{REQUEST_HEAD}Content-Length: {len(body)}\r\n\r\n".encode() + body[: len(body) // 2])
    await writer.drain()
    await asyncio.sleep(LEAVE_AFTER_SECONDS)
    writer.close()


async def _timed_request(url: str, body: bytes) -> float:
    async with httpx.AsyncClient(timeout=600) as client:
        started = time.monotonic()
        response = await client.post(f"{url}/invocations", content=body, headers={"Content-Type": "audio/wav"})
        response.raise_for_status()
        return time.monotonic() - started


async def raw_cases(port: int, cap: float, limit: int, log: Path) -> list[Outcome]:
    expect = REQUEST_HEAD + "Expect: {}\r\nContent-Length: {}\r\n\r\n"
    body = clip_bytes(english_speech_clips()[0])
    cases = {
        "expect": ([expect.format("100-continue", len(body)).encode()], body),
        "expect_unknown": ([expect.format("something-else", 5).encode()], None),
        "expect_too_large": ([expect.format("100-continue", limit + 1).encode()], None),
        "short_body": ([f"{REQUEST_HEAD}Content-Length: 100\r\n\r\nhello".encode()], None),
        "partial_headers": ([REQUEST_HEAD.encode()], None),
    }
    outcomes = []
    for case, (chunks, then) in cases.items():
        answer, seconds = await _exchange(port, chunks, cap, then)
        outcomes.append(Outcome(case, answer, seconds))
    outcomes.append(Outcome("dribble", *await _dribble(port, cap)))
    before = log.read_bytes().count(TRACEBACK_MARK)
    started = time.monotonic()
    await asyncio.gather(*(_leave_upload(port, body) for _ in range(LEAVERS)))
    await asyncio.sleep(1)
    tracebacks = log.read_bytes().count(TRACEBACK_MARK) - before
    outcomes.append(Outcome("leave_upload", f"{tracebacks} tracebacks logged", time.monotonic() - started))
    return outcomes


async def disconnect_case(url: str, port: int, log: Path) -> list[Outcome]:
    long_body, _ = concatenated_wav(english_speech_clips()[:LONG_CLIPS])
    short = clip_bytes(english_speech_clips()[0])
    alone = await _timed_request(url, short)
    before = log.read_bytes().count(TRACEBACK_MARK)
    await asyncio.gather(*(_leave(port, long_body) for _ in range(LEAVERS)))
    beside = await _timed_request(url, short)
    await asyncio.sleep(1)
    tracebacks = log.read_bytes().count(TRACEBACK_MARK) - before
    return [Outcome("normal alone", "200", alone),
            Outcome("normal after 20 left", f"200 ({tracebacks} tracebacks logged)", beside)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cap", type=float, default=DEFAULT_CAP_SECONDS, help="seconds a case waits at most")
    parser.add_argument("--limit", type=int, default=6_000_000, help="the server's request limit (bytes)")
    parser.add_argument("--no-disconnect", action="store_true", help="skip the real-model disconnect case")
    arguments = parser.parse_args(argv)
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "server.log"
        with server_process(port, log_path=str(log)):
            outcomes = asyncio.run(raw_cases(port, arguments.cap, arguments.limit, log))
            if not arguments.no_disconnect:
                outcomes += asyncio.run(disconnect_case(f"http://{HOST}:{port}", port, log))
        for outcome in outcomes:
            print(outcome.line())
        if os.environ.get("HTTP_EDGE_LOG"):
            print(log.read_text()[-4000:])


if __name__ == "__main__":
    main()
