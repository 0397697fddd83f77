"""The https ``audio_url`` fetcher against a local TLS server on 127.0.0.1.

Production refuses loopback, so these tests reach the server through the fetcher's test-only seam: an address check
that lets 127.0.0.1 through and an SSL context that trusts the test certificate. Size cap, time limit, redirect
refusal and upstream failures are checked here; the address guard itself in tests/test_addresses.py.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from scripts.hostile.boundary import WaveformCheckingRunner
from scripts.material.clips import REFERENCES, clip_bytes
from serving.api.requests import RawRequest
from serving.batching.scheduler import Scheduler
from serving.endpoint.service import TranscriptionService
from serving.errors import (
    AudioTooLarge,
    SourceNotAllowed,
    SourceNotFound,
    SourceRejected,
    SourceTimeout,
    SourceUnavailable,
)
from serving.fetch.addresses import forbidden_reason
from serving.fetch.audio_url import HttpsUrl, parse_audio_url
from serving.fetch.https import HttpsFetcher, _PinnedConnection
from serving.fetch.limits import Deadline, FetchLimits
from serving.fetch.s3 import S3Fetcher
from serving.fetch.sources import AudioSources
from serving.settings import load_settings

CLIP = clip_bytes("codec_wav.wav")
LIMITS = FetchLimits(max_bytes=1_000_000, timeout_seconds=1.0)
CERT_NAMES = ("localhost", "rebinding.invalid")
TRICKLE_SECONDS = 0.1  # the slow handlers send one byte this often, for up to ten seconds


def _certificate(directory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1 and CERT_NAMES: (cert file, key file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "whisper-lmi test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))] + [x509.DNSName(n) for n in CERT_NAMES]
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


class AudioHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep the test output clean
        pass

    def do_GET(self) -> None:
        route = {
            "/clip.wav": lambda: self._send(200, CLIP),
            "/chunked.wav": self._chunked,
            "/declared-big.wav": lambda: self._send(200, b"", length=LIMITS.max_bytes + 1),
            "/undeclared-big.wav": self._endless,
            "/slow-body.wav": lambda: self._trickle(headers_first=True),
            "/slow-headers.wav": lambda: self._trickle(headers_first=False),
            "/redirect.wav": lambda: self._send(302, b"", extra={"Location": "/clip.wav"}),
            "/missing.wav": lambda: self._send(404, b"not found"),
            "/forbidden.wav": lambda: self._send(403, b"no"),
            "/broken.wav": lambda: self._send(500, b"oops"),
            "/short.wav": lambda: self._send(200, CLIP[:100], length=len(CLIP)),
        }.get(self.path.split("?")[0])
        if route is None:
            self._send(404, b"")
        else:
            route()

    def _send(self, status: int, body: bytes, length: int | None = None, extra: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def _chunked(self) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for start in range(0, len(CLIP), 50_000):
            part = CLIP[start : start + 50_000]
            self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def _endless(self) -> None:
        self.send_response(200)
        self.send_header("Connection", "close")
        self.end_headers()
        self._until_disconnected(lambda: self.wfile.write(bytes(64 * 1024)), pause=0)

    def _trickle(self, headers_first: bool) -> None:
        if headers_first:
            self.send_response(200)
            self.send_header("Content-Length", str(len(CLIP)))
            self.end_headers()
            self.wfile.flush()
        payload = iter(CLIP if headers_first else b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 10_000)
        self._until_disconnected(lambda: self.wfile.write(bytes([next(payload)])), pause=TRICKLE_SECONDS)

    def _until_disconnected(self, write, pause: float) -> None:
        deadline = time.monotonic() + 10
        try:
            while time.monotonic() < deadline:
                write()
                self.wfile.flush()
                time.sleep(pause)
        except (OSError, StopIteration):
            pass  # the fetcher hung up: what these handlers wait for
        self.close_connection = True


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    cert_file, key_file = _certificate(tmp_path_factory.mktemp("tls"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), AudioHandler)
    httpd.daemon_threads = True
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1], ssl.create_default_context(cafile=cert_file)
    httpd.shutdown()
    httpd.server_close()


def loopback_allowed(address) -> str | None:
    """The test-only address check: loopback passes, every other rule of the real guard holds."""
    return None if address.is_loopback else forbidden_reason(address)


@pytest.fixture
def fetcher(server) -> HttpsFetcher:
    _, trusted = server
    return HttpsFetcher(LIMITS, address_check=loopback_allowed, ssl_context=trusted)


def url(server, path: str, host: str = "127.0.0.1") -> HttpsUrl:
    port, _ = server
    return parse_audio_url(f"https://{host}:{port}{path}")


def test_a_file_is_fetched_whole(fetcher, server):
    assert fetcher.fetch(url(server, "/clip.wav?X-Amz-Signature=secret")) == CLIP


def test_a_chunked_body_is_fetched_whole(fetcher, server):
    assert fetcher.fetch(url(server, "/chunked.wav")) == CLIP


def test_a_declared_length_over_the_limit_is_refused_before_the_body(fetcher, server):
    with pytest.raises(AudioTooLarge, match=r"is 1000001 bytes \(Content-Length\); the limit is 1000000"):
        fetcher.fetch(url(server, "/declared-big.wav"))


def test_an_undeclared_body_is_cut_off_at_the_limit(fetcher, server):
    with pytest.raises(AudioTooLarge, match="larger than the limit of 1000000 bytes"):
        fetcher.fetch(url(server, "/undeclared-big.wav"))


@pytest.mark.parametrize("path", ["/slow-body.wav", "/slow-headers.wav"])
def test_a_trickling_server_is_abandoned_at_the_deadline(fetcher, server, path):
    with pytest.raises(SourceTimeout, match="did not arrive within 1 s") as caught:
        fetcher.fetch(url(server, path))
    assert caught.value.status == 504


def test_a_redirect_is_not_followed(fetcher, server):
    with pytest.raises(SourceNotAllowed, match="answered 302 .* redirects are not followed") as caught:
        fetcher.fetch(url(server, "/redirect.wav"))
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("path", "error", "status"),
    [("/missing.wav", SourceNotFound, 400), ("/forbidden.wav", SourceRejected, 400),
     ("/broken.wav", SourceUnavailable, 502), ("/short.wav", SourceUnavailable, 502)],
)
def test_upstream_answers_map_to_statuses(fetcher, server, path, error, status):
    with pytest.raises(error) as caught:
        fetcher.fetch(url(server, f"{path}?token=secret"))
    assert caught.value.status == status
    assert path in str(caught.value) and "secret" not in str(caught.value)  # the query may hold a signature


def test_the_certificate_is_verified(server):
    untrusting = HttpsFetcher(LIMITS, address_check=loopback_allowed)
    with pytest.raises(SourceUnavailable, match="TLS certificate of '127.0.0.1' could not be verified"):
        untrusting.fetch(url(server, "/clip.wav"))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "127.1", "2130706433"])
def test_production_refuses_loopback_however_it_is_written(server, host):
    with pytest.raises(SourceNotAllowed, match="loopback address; only public hosts are fetched"):
        HttpsFetcher(LIMITS).fetch(url(server, "/clip.wav", host=host))


def test_the_connection_goes_to_the_checked_address_without_a_second_lookup(server):
    """The host name never resolves (.invalid), yet the connection works: it goes to the address it was given, and
    TLS still checks the certificate against the name."""
    port, trusted = server
    target = parse_audio_url(f"https://rebinding.invalid:{port}/clip.wav")
    connection = _PinnedConnection(target, [(socket.AF_INET, ("127.0.0.1", port))], Deadline(5), trusted)
    try:
        connection.request("GET", target.target)
        assert connection.getresponse().read() == CLIP
    finally:
        connection.close()


def test_https_input_is_off_by_default():
    sources = AudioSources.from_settings(load_settings({}, {}))
    with pytest.raises(SourceNotAllowed, match=r"https input is off on this endpoint \(option.https_input=false\)"):
        sources.audio_bytes(parse_audio_url("https://example.com/a.wav"))


def test_an_https_url_through_the_service_is_fetched_then_decoded(fetcher, server):
    settings = load_settings({"https_input": "true"}, {})
    sources = AudioSources(S3Fetcher(frozenset(), LIMITS), fetcher)
    service = TranscriptionService(settings, Scheduler(WaveformCheckingRunner()), sources)
    port, _ = server
    body = json.dumps({"audio_url": f"https://127.0.0.1:{port}/clip.wav"}).encode()
    (response,) = service.handle([RawRequest({"Content-Type": "application/json"}, body)])
    assert response.status == 200
    assert json.loads(response.body)["duration"] == pytest.approx(REFERENCES["codec_wav.wav"]["seconds"], abs=0.01)
