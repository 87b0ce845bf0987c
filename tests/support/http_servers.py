"""Local HTTP servers for tests: real sockets on 127.0.0.1, routes that misbehave on purpose.

    with LocalHTTPServer() as server:
        server.route("/look.jpg", fixed_body(jpeg_bytes, "image/jpeg"))
        server.route("/old.jpg", redirect("/look.jpg"))
        url = server.url("/old.jpg")
        ...
        assert server.requests[0].headers["Host"] == ...

Each request is answered on its own thread and the connection is closed after it. Routes
that wait (slow drip, endless, delayed) stop when the server stops or the client hangs up.
For a pytest fixture, wrap it: ``with LocalHTTPServer() as server: yield server``. For
HTTPS, pass ``tls=make_test_certificate(tmp_path, "shop.example.test").server_context()``
and point SSL_CERT_FILE at the certificate's ``ca_file`` so clients trust it.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

# A route answers one request; the event is set when the server is stopping.
Route = Callable[[BaseHTTPRequestHandler, threading.Event], None]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str  # as on the request line, query included
    headers: dict[str, str]


class LocalHTTPServer:
    """A threaded HTTP server on 127.0.0.1 and a free port, serving the routes it is given.

    Unknown paths answer 404. Routes may be added while it runs (a redirect that needs the
    server's own URL).
    """

    def __init__(
        self, routes: Mapping[str, Route] | None = None, *, tls: ssl.SSLContext | None = None
    ) -> None:
        self._server = _Server(dict(routes or {}))
        self.scheme = "https" if tls else "http"
        if tls is not None:
            # The handshake waits for the handler thread (_Handler.setup), so a client that
            # never finishes one cannot stall the accept loop.
            self._server.socket = tls.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() waits for one poll: keep teardown quick
            name="local-http-server",
            daemon=True,
        )

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests received so far, in order."""
        with self._server.lock:
            return list(self._server.recorded)

    def url(self, path: str = "/", *, host: str | None = None) -> str:
        """The URL of `path` on this server; `host` replaces 127.0.0.1 (for a fake resolver)."""
        return f"{self.scheme}://{host or self.host}:{self.port}{path}"

    def route(self, path: str, route: Route) -> str:
        """Serve `route` at `path` (query ignored when matching); returns its URL."""
        self._server.routes[path] = route
        return self.url(path)

    def start(self) -> LocalHTTPServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.stopping.set()
        if self._thread.is_alive():  # shutdown() waits for serve_forever, forever if never run
            self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LocalHTTPServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def fixed_body(
    body: bytes,
    content_type: str | None,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
    content_length: int | None = None,
) -> Route:
    """`body` with `content_type` (None: no Content-Type header). `content_length` declares
    another length than the body's, to test clients that trust it."""

    def respond(handler: BaseHTTPRequestHandler, stopping: threading.Event) -> None:
        length = len(body) if content_length is None else content_length
        _send_head(handler, status, content_type, length, headers)
        handler.wfile.write(body)

    return respond


def redirect(location: str, *, status: int = 302) -> Route:
    """A redirect to `location`, absolute or relative, sent as is."""
    return fixed_body(b"", None, status=status, headers={"Location": location})


def slow_drip(
    body: bytes, *, interval_s: float, content_type: str | None = "application/octet-stream"
) -> Route:
    """Declares the full length, then sends `body` one byte every `interval_s` seconds."""

    def respond(handler: BaseHTTPRequestHandler, stopping: threading.Event) -> None:
        _send_head(handler, 200, content_type, len(body), None)
        for index in range(len(body)):
            handler.wfile.write(body[index : index + 1])
            if stopping.wait(interval_s):
                return

    return respond


def slow_headers(*, interval_s: float) -> Route:
    """A status line and headers sent one byte every `interval_s` seconds, never finished."""

    def respond(handler: BaseHTTPRequestHandler, stopping: threading.Event) -> None:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n" + b"X-Padding: " + b"a" * 60_000
        for index in range(len(head)):
            handler.wfile.write(head[index : index + 1])
            if stopping.wait(interval_s):
                return

    return respond


def endless_body(
    *,
    content_type: str | None = "application/octet-stream",
    prefix: bytes = b"",
    chunk_size: int = 64 * 1024,
) -> Route:
    """No Content-Length and a body that never ends: `prefix`, then zero bytes, forever."""

    def respond(handler: BaseHTTPRequestHandler, stopping: threading.Event) -> None:
        _send_head(handler, 200, content_type, None, None)
        handler.wfile.write(prefix)
        chunk = bytes(chunk_size)
        while not stopping.is_set():
            handler.wfile.write(chunk)

    return respond


def delayed_first_byte(route: Route, *, delay_s: float) -> Route:
    """`route`, after `delay_s` seconds of silence (not even the status line)."""

    def respond(handler: BaseHTTPRequestHandler, stopping: threading.Event) -> None:
        if not stopping.wait(delay_s):
            route(handler, stopping)

    return respond


@dataclass(frozen=True)
class LocalCertificate:
    """A throwaway certificate authority and a server certificate it signed."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_test_certificate(directory: Path, hostname: str) -> LocalCertificate:
    """A CA and a certificate for `hostname` signed by it, made with the openssl command line
    (EC keys: a few milliseconds). Raises FileNotFoundError where openssl is missing."""
    ca_key, ca_file = directory / "ca.key", directory / "ca.pem"
    key_file, cert_file = directory / f"{hostname}.key", directory / f"{hostname}.pem"
    request, extensions = directory / f"{hostname}.csr", directory / f"{hostname}.ext"
    extensions.write_text(
        f"subjectAltName=DNS:{hostname}\nbasicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
        "authorityKeyIdentifier=keyid,issuer\nsubjectKeyIdentifier=hash\n"
    )
    new_ec_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    commands = [
        ["req", "-x509", *new_ec_key, "-keyout", ca_key, "-out", ca_file, "-days", "2"]
        + ["-subj", "/CN=ShopALook test CA"],
        ["req", *new_ec_key, "-keyout", key_file, "-out", request, "-subj", f"/CN={hostname}"],
        ["x509", "-req", "-in", request, "-CA", ca_file, "-CAkey", ca_key, "-CAcreateserial"]
        + ["-out", cert_file, "-days", "2", "-extfile", extensions],
    ]
    for command in commands:
        subprocess.run(["openssl", *map(str, command)], check=True, capture_output=True)
    return LocalCertificate(ca_file=ca_file, cert_file=cert_file, key_file=key_file)


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections: bound, never listening, held until exit
    so nothing else can take it meanwhile."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def _send_head(
    handler: BaseHTTPRequestHandler,
    status: int,
    content_type: str | None,
    content_length: int | None,
    headers: Mapping[str, str] | None,
) -> None:
    handler.send_response(status)
    if content_type is not None:
        handler.send_header("Content-Type", content_type)
    if content_length is not None:
        handler.send_header("Content-Length", str(content_length))
    handler.send_header("Connection", "close")
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()


def _not_found(handler: BaseHTTPRequestHandler, stopping: threading.Event) -> None:
    fixed_body(b"<h1>Not found</h1>", "text/html", status=404)(handler, stopping)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(5)  # a client that stalls mid-handshake frees the thread
            self.request.do_handshake()
        super().setup()

    def do_GET(self) -> None:
        self.server.record(self)
        route = self.server.routes.get(urlsplit(self.path).path, _not_found)
        self.close_connection = True
        # Clients under test hang up on purpose (too large, too slow): not an error here.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            route(self, self.server.stopping)

    def do_HEAD(self) -> None:
        self.do_GET()

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("%s " + format, self.address_string(), *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a dripping handler must not keep the test process alive

    def __init__(self, routes: dict[str, Route]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes = routes
        self.recorded: list[RecordedRequest] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def record(self, handler: BaseHTTPRequestHandler) -> None:
        request = RecordedRequest(handler.command, handler.path, dict(handler.headers.items()))
        with self.lock:
            self.recorded.append(request)

    def handle_error(self, request: object, client_address: object) -> None:
        logger.debug("error while serving %s", client_address, exc_info=True)
