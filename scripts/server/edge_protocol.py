"""uvicorn's h11 protocol with a deadline for the request head: a connection must complete each request's headers
within ``header_timeout`` seconds of opening (or of its previous answer), however it dribbles them, else it is
answered ``408 Request Timeout`` (when part of a head came) and closed. uvicorn alone only times out idle
keep-alive connections, and any byte disarms that: 200 connections sending a byte a second were held for minutes.
Pass the class as ``uvicorn.Config(http=header_timeout_protocol(seconds))``."""

from __future__ import annotations

import asyncio
import logging

from uvicorn.protocols.http.h11_impl import H11Protocol

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


def header_timeout_protocol(seconds: float) -> type[H11Protocol]:
    """An :class:`H11Protocol` whose request heads must arrive within ``seconds``."""

    class HeaderTimeoutProtocol(H11Protocol):
        header_timeout = seconds
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_header_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm_header_timer()
            super().connection_lost(exc)

        def handle_events(self) -> None:
            cycle = self.cycle
            super().handle_events()
            if self.cycle is not cycle:  # a request's head is complete
                self._disarm_header_timer()

        def on_response_complete(self) -> None:
            if not self.transport.is_closing():
                self._arm_header_timer()  # before super(): a pipelined request it starts disarms it again
            super().on_response_complete()

        def _arm_header_timer(self) -> None:
            self._disarm_header_timer()
            self._header_timer = self.loop.call_later(self.header_timeout, self._head_overdue)

        def _disarm_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _head_overdue(self) -> None:
            self._header_timer = None
            if self.transport.is_closing():
                return
            partial = bool(self.conn.trailing_data[0])
            if partial:
                logger.info("%s: no complete request head within %g s: 408, connection closed",
                            _peer(self.client), self.header_timeout)
                self.transport.write(REQUEST_TIMEOUT)
            self.transport.close()

    return HeaderTimeoutProtocol


def _peer(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "a client"
