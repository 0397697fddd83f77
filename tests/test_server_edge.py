"""The local server's HTTP edge over raw sockets: ``Expect: 100-continue`` (a 100 then the final status, or the final
status alone when the head decides it), a body or a head that never arrives whole (408 and closed), clients that
leave (one log line, their work dropped: cancelled in async mode, never batched in sync mode)."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading

import pytest

from scripts.djl.engine import EngineContext
from scripts.paths import PROJECT_ROOT
from scripts.server.app import create_app
from scripts.server.config import build_config
from scripts.server.edge_protocol import header_timeout_protocol
from scripts.server.engine import EngineSettings, LoadedEngine
from serving.djl_compat import Input, Output
from tests.threaded_server import serve_in_thread

LIMIT = 1000
TIMEOUT_S = 1.0  # the server's head and body deadlines in these tests
WAIT_S = 30  # how long a test socket waits for the server at most
HEAD = b"POST /invocations HTTP/1.1\r\nHost: local\r\nContent-Type: text/plain\r\n"
TRACEBACK = "Exception in ASGI application"


class Gate:
    """A stand-in model: ``wait`` bodies block until released (and record being cancelled); others echo."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []
        self.cancelled = threading.Event()
        self.release = threading.Event()

    async def handle_async(self, inputs: Input) -> Output:
        body = inputs.get_as_bytes()
        self.seen.append(body)
        if body == b"stream":
            return self._events()
        if body.startswith(b"wait"):
            try:
                while not self.release.is_set():
                    await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                self.cancelled.set()
                raise
        return _echo(body)

    async def _events(self):
        """Events until the client goes (then the generator is closed: recorded as cancelled)."""
        try:
            for index in range(WAIT_S * 100):
                await asyncio.sleep(0.01)
                yield Output().add_property("Content-Type", "text/event-stream").add(
                    Output.binary_encode({"data": f"data: {index}\n\n", "last": False}))
        finally:
            self.cancelled.set()

    def handle(self, inputs: Input) -> Output:
        bodies = [item.get_as_bytes() for item in inputs.get_batches()] if inputs.is_batch() else [
            inputs.get_as_bytes()]
        self.seen += bodies
        if any(body.startswith(b"wait") for body in bodies):
            assert self.release.wait(WAIT_S)
        output = Output().add_property("Content-Type", "text/plain")
        for index, body in enumerate(bodies):
            output.add(body.upper(), key="data", batch_index=index) if inputs.is_batch() else output.add(body.upper())
        return output


def _echo(body: bytes) -> Output:
    return Output().add_property("Content-Type", "text/plain").add(
        Output.binary_encode({"data": body.decode().upper(), "last": True}))


def _serve(gate: Gate, async_mode: bool = True, batch_size: int = 1):
    settings = EngineSettings("model.py", batch_size, 300, async_mode=async_mode)
    context = EngineContext(model_dir=str(PROJECT_ROOT), handler="handle_async" if async_mode else "handle")
    engine = LoadedEngine(gate, settings, context)
    config = build_config(PROJECT_ROOT, "unused", max_request_bytes=LIMIT, body_timeout_s=TIMEOUT_S)
    return serve_in_thread(create_app(config, lambda: None, lambda _: engine),
                           http=header_timeout_protocol(TIMEOUT_S))


@pytest.fixture(scope="module")
def gate():
    return Gate()


@pytest.fixture(scope="module")
def port(gate):
    with _serve(gate) as url:
        yield int(url.rsplit(":", 1)[1])


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(WAIT_S)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection."""
    received = b""
    while data := sock.recv(65536):
        received += data
    return received


def _status_lines(received: bytes) -> list[bytes]:
    return [line for line in received.split(b"\r\n") if line.startswith(b"HTTP/1.1 ")]


def test_expect_continue_gets_a_100_then_the_final_status(port):
    with _connect(port) as sock:
        sock.sendall(HEAD + b"Connection: close\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        assert sock.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(b"hello")
        received = _read_all(sock)
    assert _status_lines(received) == [b"HTTP/1.1 200 OK"] and received.endswith(b"\r\n\r\nHELLO")


def test_expect_continue_over_the_limit_gets_the_final_413_and_no_100(port):
    with _connect(port) as sock:
        sock.sendall(HEAD + b"Connection: close\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n")
        received = _read_all(sock)
    assert _status_lines(received) == [b"HTTP/1.1 413 Request Entity Too Large"]


def test_an_unknown_expectation_is_417(port):
    with _connect(port) as sock:
        sock.sendall(HEAD + b"Expect: something-else\r\nContent-Length: 5\r\n\r\nhello")
        received = _read_all(sock)  # answered, then closed
    assert _status_lines(received) == [b"HTTP/1.1 417 Expectation Failed"]
    assert "something-else" in json.loads(received.split(b"\r\n\r\n", 1)[1])["message"]


def test_a_body_shorter_than_its_content_length_gets_408_and_the_connection_closed(port, caplog):
    with caplog.at_level(logging.INFO), _connect(port) as sock:
        sock.sendall(HEAD + b"Content-Length: 100\r\n\r\nhello")
        received = _read_all(sock)
    assert _status_lines(received) == [b"HTTP/1.1 408 Request Timeout"]
    assert TRACEBACK not in caplog.text and "sent no whole body within 1 s: 408" in caplog.text


def test_a_head_that_never_ends_gets_408_and_the_connection_closed(port):
    with _connect(port) as sock:
        sock.sendall(HEAD)
        assert _status_lines(_read_all(sock)) == [b"HTTP/1.1 408 Request Timeout"]


def test_an_idle_connection_is_closed_without_an_answer(port):
    with _connect(port) as sock:
        assert _read_all(sock) == b""


def test_connections_dribbling_their_heads_are_all_closed(port):
    """Forty connections sending a byte every 0.2 s: the deadline is for the whole head, not between bytes."""

    async def dribble() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        received = b""
        try:
            for byte in HEAD * 10:
                writer.write(bytes([byte]))
                try:
                    received += await asyncio.wait_for(reader.read(65536), 0.2)
                except asyncio.TimeoutError:
                    continue
                if reader.at_eof():
                    return received
            return b"still open"
        except ConnectionError:
            return received or b"reset"
        finally:
            writer.close()

    async def all_of_them():
        return await asyncio.gather(*(dribble() for _ in range(40)))

    assert {bytes(_status_lines(answer)[0]) for answer in asyncio.run(all_of_them())} == {
        b"HTTP/1.1 408 Request Timeout"}


def test_a_keep_alive_connection_answers_again_within_its_deadlines(port):
    with _connect(port) as sock:
        for word in (b"one", b"two"):
            sock.sendall(HEAD + b"Content-Length: 3\r\n\r\n" + word)
            received = b""
            while not received.endswith(word.upper()) and (data := sock.recv(65536)):
                received += data
            assert _status_lines(received) == [b"HTTP/1.1 200 OK"]


def _wait_for(condition, what: str) -> None:
    for _ in range(WAIT_S * 20):
        if condition():
            return
        threading.Event().wait(0.05)
    raise AssertionError(f"never happened: {what}")


def test_a_client_that_leaves_while_waiting_is_one_log_line_and_its_work_is_cancelled(gate, port, caplog):
    with caplog.at_level(logging.INFO):
        with _connect(port) as sock:
            sock.sendall(HEAD + b"Content-Length: 4\r\n\r\nwait")
            _wait_for(lambda: b"wait" in gate.seen, "the handler got the request")
        _wait_for(gate.cancelled.is_set, "the handler's call was cancelled")
        _wait_for(lambda: "waited for the model: its work was dropped" in caplog.text, "the log line")
    assert TRACEBACK not in caplog.text
    (line,) = [record for record in caplog.records if "waited for the model" in record.getMessage()]
    assert line.exc_info is None and "\n" not in line.getMessage()


def test_a_client_that_leaves_a_stream_ends_it_without_a_traceback(caplog):
    gate = Gate()
    with caplog.at_level(logging.INFO), _serve(gate) as url:
        with _connect(int(url.rsplit(":", 1)[1])) as sock:
            sock.sendall(HEAD + b"Content-Length: 6\r\n\r\nstream")
            assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
        _wait_for(gate.cancelled.is_set, "the handler's generator was closed")
    assert TRACEBACK not in caplog.text


def test_a_client_that_leaves_during_its_upload_is_one_log_line(port, caplog):
    with caplog.at_level(logging.INFO):
        with _connect(port) as sock:
            sock.sendall(HEAD + b"Content-Length: 100\r\n\r\nhel")
        _wait_for(lambda: "left during POST /invocations, before its answer" in caplog.text, "the log line")
    assert TRACEBACK not in caplog.text


def test_sync_mode_drops_a_queued_request_whose_client_left_before_it_is_batched(caplog):
    gate = Gate()
    with caplog.at_level(logging.INFO), _serve(gate, async_mode=False, batch_size=1) as url:
        port = int(url.rsplit(":", 1)[1])
        with _connect(port) as first:
            first.sendall(HEAD + b"Connection: close\r\nContent-Length: 4\r\n\r\nwait")
            _wait_for(lambda: gate.seen == [b"wait"], "the first request is in handle()")
            with _connect(port) as leaver:
                leaver.sendall(HEAD + b"Content-Length: 5\r\n\r\nqueue")
                threading.Event().wait(0.5)  # queued behind the first (not a timing assertion: either way it waits)
            _wait_for(lambda: "waited for the model" in caplog.text, "the second client's leaving is seen")
            gate.release.set()
            assert _read_all(first).endswith(b"WAIT")
        with _connect(port) as third:
            third.sendall(HEAD + b"Connection: close\r\nContent-Length: 5\r\n\r\nthird")
            assert _read_all(third).endswith(b"THIRD")
    assert gate.seen == [b"wait", b"third"]  # the queued request never reached handle()
    assert "dropped before it was batched" in caplog.text and TRACEBACK not in caplog.text
