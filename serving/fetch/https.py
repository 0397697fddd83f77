"""Fetch ``https://`` audio without letting a client reach the endpoint's own network.

* The host is resolved once; if ANY of its addresses is not public (see :mod:`serving.fetch.addresses`) the fetch is
  refused, and the connection goes to a checked address, so a second DNS answer cannot redirect it (DNS
  rebinding). TLS still verifies the certificate against the host name.
* Redirects are not followed: a 3xx is refused with a message asking for the final URL.
* A declared Content-Length over the limit is refused before the body is read; the body is read in chunks and
  refused as soon as it passes the limit.
* One deadline covers resolving, connecting, TLS, headers and body: a watchdog shuts the socket down when it
  passes, so a server that trickles bytes cannot hold a worker longer than ``timeout_seconds``.
"""

from __future__ import annotations

import http.client
import logging
import socket
import ssl
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from ipaddress import ip_address

from serving.errors import (
    AudioTooLarge,
    RequestError,
    SourceNotAllowed,
    SourceNotFound,
    SourceRejected,
    SourceTimeout,
    SourceUnavailable,
)
from serving.fetch.addresses import IPAddress, forbidden_reason
from serving.fetch.audio_url import HttpsUrl
from serving.fetch.limits import Deadline, FetchLimits, read_capped

logger = logging.getLogger(__name__)

REQUEST_HEADERS = {"Accept": "audio/*, application/octet-stream, */*;q=0.1", "Accept-Encoding": "identity",
                   "User-Agent": "whisper-lmi"}
NOT_FOUND_STATUSES = frozenset({404, 410})
RESOLVER_THREADS = 4  # getaddrinfo has no timeout of its own: it runs here, waited on until the deadline
_NO_SUCH_HOST = frozenset(
    code for code in (getattr(socket, "EAI_NONAME", None), getattr(socket, "EAI_NODATA", None)) if code is not None
)

AddressCheck = Callable[[IPAddress], "str | None"]
SocketAddress = tuple[int, tuple]  # (family, sockaddr) as getaddrinfo gives them


class HttpsFetcher:
    def __init__(
        self,
        limits: FetchLimits,
        *,
        address_check: AddressCheck = forbidden_reason,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """``address_check`` and ``ssl_context`` exist for tests against a local server (loopback, own CA); the
        service never passes them."""
        self.limits = limits
        self._address_check = address_check
        self._ssl_context = ssl_context or ssl.create_default_context()
        self._resolver = ThreadPoolExecutor(RESOLVER_THREADS, thread_name_prefix="https-resolve")

    def fetch(self, url: HttpsUrl) -> bytes:
        deadline = Deadline(self.limits.timeout_seconds)
        addresses = self._checked_addresses(url, deadline)
        try:
            return self._download(url, addresses, deadline)
        except RequestError:
            raise
        except ssl.SSLCertVerificationError:
            raise SourceUnavailable(f"the TLS certificate of {url.host!r} could not be verified") from None
        except (OSError, http.client.HTTPException) as exc:
            if isinstance(exc, TimeoutError) or deadline.expired():
                raise SourceTimeout(f"{url} did not arrive within {deadline.seconds:g} s") from None
            logger.info("fetching %s failed: %r", url, exc)
            raise SourceUnavailable(f"{url} could not be read ({type(exc).__name__})") from None

    def _checked_addresses(self, url: HttpsUrl, deadline: Deadline) -> list[SocketAddress]:
        addresses = self._resolve(url, deadline)
        for _, sockaddr in addresses:
            reason = self._address_check(ip_address(sockaddr[0]))
            if reason:
                raise SourceNotAllowed(f"{url.host!r} resolves to a {reason} address; only public hosts are fetched")
        return addresses

    def _resolve(self, url: HttpsUrl, deadline: Deadline) -> list[SocketAddress]:
        pending = self._resolver.submit(
            socket.getaddrinfo, url.host, url.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        try:
            found = pending.result(timeout=max(deadline.remaining(), 0.0))
        except FutureTimeout:
            raise SourceTimeout(f"{url.host!r} did not resolve within {deadline.seconds:g} s") from None
        except socket.gaierror as exc:
            if exc.errno in _NO_SUCH_HOST:
                raise SourceNotFound(f"host {url.host!r} does not resolve") from None
            raise SourceUnavailable(f"host {url.host!r} could not be resolved ({exc.strerror})") from None
        except UnicodeError:
            raise SourceNotFound(f"host {url.host!r} does not resolve") from None
        addresses = list(dict.fromkeys((family, sockaddr) for family, _, _, _, sockaddr in found))
        if not addresses:
            raise SourceNotFound(f"host {url.host!r} does not resolve")
        return addresses

    def _download(self, url: HttpsUrl, addresses: list[SocketAddress], deadline: Deadline) -> bytes:
        connection = _PinnedConnection(url, addresses, deadline, self._ssl_context)
        with _watchdog(connection, deadline):
            try:
                connection.request("GET", url.target, headers=REQUEST_HEADERS)
                response = connection.getresponse()
                self._check_response(url, response)
                body = read_capped(response.read1, self.limits, deadline, url)
                if response.length:  # the server closed before its declared Content-Length
                    raise SourceUnavailable(f"{url} ended after {len(body)} bytes, before its declared length")
                return body
            finally:
                connection.close()

    def _check_response(self, url: HttpsUrl, response: http.client.HTTPResponse) -> None:
        status = response.status
        if 300 <= status < 400:
            raise SourceNotAllowed(f"{url} answered {status} (a redirect); redirects are not followed: send the "
                                   "final https URL")
        if status in NOT_FOUND_STATUSES:
            raise SourceNotFound(f"{url} answered {status} (not found)")
        if 400 <= status < 500:
            raise SourceRejected(f"{url} answered {status} {response.reason[:60]}")
        if status != 200:
            raise SourceUnavailable(f"{url} answered {status} {response.reason[:60]}")
        if response.length is not None and response.length > self.limits.max_bytes:
            raise AudioTooLarge(
                f"{url} is {response.length} bytes (Content-Length); the limit is {self.limits.max_bytes} bytes"
            )


class _PinnedConnection(http.client.HTTPSConnection):
    """HTTPS to the host name of ``url`` (Host header, SNI, certificate check) over a TCP connection to one of the
    already checked ``addresses``: no second DNS lookup."""

    def __init__(self, url: HttpsUrl, addresses: list[SocketAddress], deadline: Deadline,
                 context: ssl.SSLContext) -> None:
        super().__init__(url.host, url.port, timeout=max(deadline.remaining(), 0.001), context=context)
        self._addresses = addresses
        self._deadline = deadline
        self._tls = context
        self._handle: socket.socket | None = None  # a duplicate of the TCP socket, to shut it down from outside

    def connect(self) -> None:
        raw = self._connect_any()
        self._handle = raw.dup()
        if self._deadline.expired():  # the watchdog may have fired before there was a socket to shut down
            raw.close()
            raise TimeoutError("the deadline passed while connecting")
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)

    def _connect_any(self) -> socket.socket:
        failure: OSError | None = None
        for family, sockaddr in self._addresses:
            raw = socket.socket(family, socket.SOCK_STREAM)
            raw.settimeout(max(self._deadline.remaining(), 0.001))
            try:
                raw.connect(sockaddr)
                return raw
            except OSError as exc:
                raw.close()
                failure = exc
        raise failure or ConnectionError("no address to connect to")

    def abort(self) -> None:
        """Wake any blocked read or write: shutting the TCP connection down ends the TLS session under it."""
        handle = self._handle
        if handle is not None:
            try:
                handle.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed

    def close(self) -> None:
        super().close()
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()


@contextmanager
def _watchdog(connection: _PinnedConnection, deadline: Deadline):
    timer = threading.Timer(max(deadline.remaining(), 0.0), connection.abort)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
