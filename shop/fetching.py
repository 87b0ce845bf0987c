"""Download image URLs that strangers send us without letting them reach our own network.

Each hop is resolved once with the policy's resolver, every address is checked, and the
connection goes to a checked address: the name travels only in the Host header, the TLS
SNI and the certificate check, so a DNS answer that changes between check and connect
(rebinding) cannot send us elsewhere. Redirects are followed by hand and checked again;
time and size are capped for the whole fetch. Pure Python + urllib3: the caller builds the
`FetchPolicy` from its settings.

Longer than our ~400 lines on purpose: the address checks and the connection that relies
on them are reviewed together, and a split would invite calling one without the other.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from urllib.parse import quote, urljoin, urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import NewConnectionError, SSLError
from urllib3.exceptions import TimeoutError as Urllib3TimeoutError

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_URL_LENGTH = 2048
_CHUNK_SIZE = 64 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_UNTYPED = ("", "application/octet-stream")
_HOSTNAME = re.compile(r"[a-z0-9_.-]+")
_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT, RFC 6598
_NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the last 32 bits are IPv4
# Instance metadata services hand out cloud credentials: refused even inside allowed_networks.
_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(text) for text in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
# Most specific first, so the message says what the address is.
_NON_PUBLIC_KINDS: tuple[tuple[str, Callable[[IPAddress], bool]], ...] = (
    ("an unspecified address", lambda address: address.is_unspecified),
    ("a loopback address", lambda address: address.is_loopback),
    ("a link-local address", lambda address: address.is_link_local),
    ("a multicast address", lambda address: address.is_multicast),  # "global" to Python
    ("a shared (carrier-grade NAT) address", lambda address: address in _SHARED_ADDRESS_SPACE),
    ("a private address", lambda address: address.is_private),
    ("a reserved address", lambda address: address.is_reserved or not address.is_global),
)
# (media type, test on the first bytes); the formats recommender.images.load_image decodes.
_IMAGE_SIGNATURES: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    ("image/jpeg", lambda head: head.startswith(b"\xff\xd8\xff")),
    ("image/png", lambda head: head.startswith(b"\x89PNG\r\n\x1a\n")),
    ("image/gif", lambda head: head[:6] in (b"GIF87a", b"GIF89a")),
    ("image/webp", lambda head: head[:4] == b"RIFF" and head[8:12] == b"WEBP"),
    ("image/bmp", lambda head: head.startswith(b"BM")),
    ("image/tiff", lambda head: head[:4] in (b"II*\x00", b"MM\x00*")),
    ("image/avif", lambda head: head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis")),
)


def system_resolver(host: str, port: int) -> list[str]:
    """Every A and AAAA answer for `host`, in getaddrinfo's preference order, without repeats."""
    addresses: list[str] = []
    for family, _, _, _, sockaddr in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        address = str(sockaddr[0]).split("%")[0]  # drop an IPv6 scope id
        if family in (socket.AF_INET, socket.AF_INET6) and address not in addresses:
            addresses.append(address)
    return addresses


@dataclass(frozen=True)
class FetchPolicy:
    """Limits for one fetch. Strings in `allowed_networks` are accepted and parsed.

    `allowed_networks` are explicit exceptions to the ban on non-public addresses (tests,
    an intranet shop); a host whose addresses all lie inside them may also use any port,
    other hosts only `allowed_ports`. Cloud metadata addresses are never allowed.
    """

    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 3
    connect_timeout: float = 3.0  # seconds
    read_timeout: float = 5.0  # per socket read
    total_timeout: float = 15.0  # whole fetch including redirects (defeats slow-drip)
    allowed_networks: tuple[IPNetwork, ...] = ()
    user_agent: str = "ShopALook-image-fetcher/1"
    resolver: Callable[[str, int], list[str]] = system_resolver
    allowed_ports: tuple[int, ...] = (80, 443)

    def __post_init__(self) -> None:
        networks = tuple(ipaddress.ip_network(network) for network in self.allowed_networks)
        object.__setattr__(self, "allowed_networks", networks)


class FetchError(Exception):
    """A URL we will not or could not fetch.

    `code` is stable: url_invalid, address_refused, too_many_redirects, timeout, too_large,
    not_an_image, http_error, connection_failed. `message` is one sentence for people.
    `http_status` is the upstream status where there was one (http_error).
    """

    def __init__(self, code: str, message: str, *, http_status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status


@dataclass(frozen=True)
class FetchedImage:
    url: str  # final URL after redirects
    content_type: str  # from the magic bytes, which outrank the server's Content-Type
    data: bytes


@dataclass(frozen=True)
class _Target:
    """One checked hop: where to connect and what to say once connected."""

    url: str
    scheme: str
    host: str  # lower-case ASCII (IDNA) name or IP literal without brackets
    port: int
    request_target: str  # path and query, as sent on the request line
    addresses: tuple[IPAddress, ...]

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


def check_url(url: str, *, policy: FetchPolicy) -> None:
    """Cheap up-front check at request time: scheme http/https, a host, port allowed, no
    credentials in the URL, host resolves and every address is public (or allowed).
    Raises FetchError."""
    _checked_target(url, policy)


def fetch_image(url: str, *, policy: FetchPolicy) -> FetchedImage:
    """Download an image URL safely. Raises FetchError."""
    with _Deadline(policy.total_timeout) as deadline:
        current_url = url
        for _ in range(policy.max_redirects + 1):
            target = _checked_target(current_url, policy)
            deadline.check(target)
            result = _fetch_hop(target, policy, deadline)
            if isinstance(result, FetchedImage):
                logger.info("fetched image %s (%d bytes)", result.url, len(result.data))
                return result
            current_url = urljoin(target.url, result)
            logger.info("image URL %s redirects to %s", target.url, current_url)
    raise FetchError(
        "too_many_redirects",
        f"the image URL {_shorten(url)} redirected more than {policy.max_redirects} times",
    )


def sniff_image_type(data: bytes) -> str | None:
    """The media type the first bytes announce, or None when they are no image we accept."""
    head = data[:16]
    return next((media_type for media_type, matches in _IMAGE_SIGNATURES if matches(head)), None)


# --- URL and address checks -------------------------------------------------------------


def _checked_target(url: str, policy: FetchPolicy) -> _Target:
    try:
        target = _parse(url)
        addresses = _resolve(target.host, target.port, policy)
        for address in addresses:
            _check_address(target.host, address, policy)
        _check_port(target, addresses, policy)
    except FetchError as error:
        logger.info("refused image URL %s: %s", _shorten(url), error.code)
        raise
    return replace(target, addresses=addresses)


def _parse(url: str) -> _Target:
    if len(url) > MAX_URL_LENGTH:
        raise _invalid(f"the image URL is longer than {MAX_URL_LENGTH} characters")
    if any(character.isspace() or not character.isprintable() for character in url):
        raise _invalid("the image URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise _invalid(f"the image URL {_shorten(url)} is malformed ({error})") from error
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise _invalid(f"only http and https image URLs are allowed, not {_shorten(url)}")
    if "@" in parts.netloc:
        raise _invalid("the image URL contains a user name or password, which is not allowed")
    host = _normalised_host(parts.hostname or "", url)
    path = quote(parts.path or "/", safe="/%!$&'()*+,;=:@-._~")  # only non-ASCII is encoded
    query = quote(parts.query, safe="/?%!$&'()*+,;=:@-._~")
    request_target = f"{path}?{query}" if query else path
    return _Target(url, scheme, host, port or _DEFAULT_PORTS[scheme], request_target, ())


def _normalised_host(host: str, url: str) -> str:
    if not host:
        raise _invalid(f"the image URL {_shorten(url)} has no host")
    if ":" in host:  # urlsplit has taken the brackets off an IPv6 literal
        try:
            return str(ipaddress.IPv6Address(host))
        except ValueError as error:
            raise _invalid(f"the image URL has an invalid IPv6 address ({host})") from error
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError as error:
        raise _invalid(f"the image URL has an invalid host name ({host})") from error
    if not _HOSTNAME.fullmatch(ascii_host):
        raise _invalid(f"the image URL has an invalid host name ({host})")
    return ascii_host


def _resolve(host: str, port: int, policy: FetchPolicy) -> tuple[IPAddress, ...]:
    with contextlib.suppress(ValueError):
        return (ipaddress.ip_address(host),)
    try:
        answers = policy.resolver(host, port)
        addresses = tuple(ipaddress.ip_address(answer) for answer in answers)
    except (OSError, UnicodeError, ValueError) as error:
        raise FetchError(
            "connection_failed", f"the image host {host} could not be resolved ({error})"
        ) from error
    if not addresses:
        raise FetchError("connection_failed", f"the image host {host} has no addresses")
    return addresses


def _check_address(host: str, address: IPAddress, policy: FetchPolicy) -> None:
    reason = _refusal_reason(address, policy.allowed_networks)
    if reason is None:
        return
    if host == str(address):
        message = f"the image URL points at {reason} ({address}), which is not allowed"
    else:
        message = f"the image host {host} resolves to {reason} ({address}), which is not allowed"
    raise FetchError("address_refused", message)


def _refusal_reason(address: IPAddress, allowed: tuple[IPNetwork, ...]) -> str | None:
    """Why we may not connect to `address`, or None when we may."""
    meanings = _ipv4_meanings(address)
    if any(candidate in _METADATA_ADDRESSES for candidate in meanings):
        return "the cloud metadata address"
    if _is_allowed(address, allowed):
        return None
    return next(filter(None, map(_non_public_kind, meanings)), None)


def _is_allowed(address: IPAddress, allowed: tuple[IPNetwork, ...]) -> bool:
    return any(candidate in network for candidate in _ipv4_meanings(address) for network in allowed)


def _ipv4_meanings(address: IPAddress) -> tuple[IPAddress, ...]:
    """The address plus the IPv4 address it carries, for the forms that reach IPv4 hosts."""
    if isinstance(address, ipaddress.IPv4Address):
        return (address,)
    if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d is a.b.c.d to the kernel
        return (address.ipv4_mapped,)
    if address in _NAT64_PREFIX:  # a NAT64 gateway forwards to the embedded IPv4 address
        return (ipaddress.IPv4Address(int(address) & 0xFFFFFFFF),)
    if address.sixtofour is not None:
        return (address, address.sixtofour)
    return (address,)


def _non_public_kind(address: IPAddress) -> str | None:
    return next((kind for kind, test in _NON_PUBLIC_KINDS if test(address)), None)


def _check_port(target: _Target, addresses: tuple[IPAddress, ...], policy: FetchPolicy) -> None:
    if target.port in policy.allowed_ports:
        return
    if all(_is_allowed(address, policy.allowed_networks) for address in addresses):
        return
    allowed = ", ".join(map(str, policy.allowed_ports))
    raise _invalid(f"the image URL uses port {target.port}, which is not allowed (only {allowed})")


# --- Network ----------------------------------------------------------------------------


class _Deadline:
    """The whole fetch's time limit.

    Between reads we check it ourselves; a read that blocks inside http.client or ssl
    (headers sent a byte at a time, a TLS handshake) is woken at expiry by a timer thread
    that shuts down the sockets of the connections this fetch opened.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._expires_at = time.monotonic() + seconds
        self._connections: list[HTTPConnection] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._timer.cancel()

    def remaining(self) -> float:
        return self._expires_at - time.monotonic()

    def watch(self, connection: HTTPConnection) -> None:
        with self._lock:
            self._connections.append(connection)

    def check(self, target: _Target) -> None:
        if self.expired or self.remaining() <= 0:
            raise self.error(target)

    def error(self, target: _Target) -> FetchError:
        return FetchError(
            "timeout",
            f"fetching the image from {target.host} took longer than {self.seconds:g} seconds",
        )

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            connections = list(self._connections)
        for connection in connections:
            sock = connection.sock
            if sock is not None:
                # The plain socket call, not SSLSocket.shutdown, which would unwrap TLS under
                # the feet of the reading thread.
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watched:
    """A connection that hands itself to the deadline (the pool passes `deadline` through)."""

    def __init__(self, *args: object, deadline: _Deadline, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        deadline.watch(self)  # type: ignore[arg-type]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _PinnedHTTPConnectionPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _PinnedHTTPSConnectionPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


def _pool_for(
    target: _Target, address: IPAddress, deadline: _Deadline
) -> urllib3.HTTPConnectionPool:
    # A pool for the checked address, never the name: urllib3 would resolve the name again.
    # Pools, unlike PoolManager and requests, read no proxy settings from the environment.
    if target.scheme == "http":
        return _PinnedHTTPConnectionPool(str(address), target.port, maxsize=1, deadline=deadline)
    return _PinnedHTTPSConnectionPool(
        str(address),
        target.port,
        maxsize=1,
        cert_reqs="CERT_REQUIRED",
        server_hostname=target.host,  # SNI, and the name the certificate must carry
        assert_hostname=target.host,
        deadline=deadline,
    )


def _fetch_hop(target: _Target, policy: FetchPolicy, deadline: _Deadline) -> FetchedImage | str:
    """Request one hop: the image, or the Location it redirects to."""
    pool: urllib3.HTTPConnectionPool | None = None
    response: urllib3.BaseHTTPResponse | None = None
    try:
        with _network_errors(target, deadline):
            pool, response = _connect(target, policy, deadline)
            # Headers cut short by the deadline's shutdown parse as complete: do not trust them.
            deadline.check(target)
            location = _redirect_location(response, target)
            if location is not None:
                return location
            return _read_image(response, target, policy, deadline)
    finally:
        if response is not None:
            response.close()  # never drained: the rest of an endless body stays unread
        if pool is not None:
            pool.close()


def _connect(
    target: _Target, policy: FetchPolicy, deadline: _Deadline
) -> tuple[urllib3.HTTPConnectionPool, urllib3.BaseHTTPResponse]:
    """Send the request to the first checked address that accepts a connection."""
    headers = {
        "Host": target.host_header,
        "User-Agent": policy.user_agent,
        "Accept": "image/*",
        "Accept-Encoding": "identity",  # no decompression here: byte counts stay honest
    }
    for attempt, address in enumerate(target.addresses, start=1):
        deadline.check(target)
        remaining = deadline.remaining()
        connect, read = min(policy.connect_timeout, remaining), min(policy.read_timeout, remaining)
        pool = _pool_for(target, address, deadline)
        try:
            response = pool.urlopen(
                "GET",
                target.request_target,
                headers=headers,
                retries=False,
                redirect=False,
                timeout=urllib3.Timeout(connect=connect, read=read),
                preload_content=False,
                decode_content=False,
            )
            return pool, response
        except BaseException as error:
            pool.close()
            if attempt == len(target.addresses) or not isinstance(error, NewConnectionError):
                raise
            logger.info("cannot connect to %s for %s, trying the next", address, target.host)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _redirect_location(response: urllib3.BaseHTTPResponse, target: _Target) -> str | None:
    status = response.status
    if status in _REDIRECT_STATUSES:
        location = response.headers.get("Location", "").strip()
        if not location:
            raise FetchError(
                "http_error",
                f"the image server {target.host} redirected (HTTP {status}) without a Location",
                http_status=status,
            )
        return location
    if not 200 <= status < 300:
        reason = f" {response.reason}" if response.reason else ""
        raise FetchError(
            "http_error",
            f"the image server {target.host} answered HTTP {status}{reason} "
            f"for {_shorten(target.url)}",
            http_status=status,
        )
    return None


def _read_image(
    response: urllib3.BaseHTTPResponse, target: _Target, policy: FetchPolicy, deadline: _Deadline
) -> FetchedImage:
    declared_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    # A missing or generic type is settled by the magic bytes; any other must be image/*.
    if not declared_type.startswith("image/") and declared_type not in _UNTYPED:
        raise FetchError(
            "not_an_image",
            f"the image URL {_shorten(target.url)} returned {declared_type}, not an image",
        )
    data = _read_body(response, target, policy, deadline)
    content_type = sniff_image_type(data)
    if content_type is None:
        raise FetchError(
            "not_an_image",
            f"the file at {_shorten(target.url)} is not a JPEG, PNG, GIF, WebP, BMP, TIFF "
            "or AVIF image",
        )
    return FetchedImage(url=target.url, content_type=content_type, data=data)


def _read_body(
    response: urllib3.BaseHTTPResponse, target: _Target, policy: FetchPolicy, deadline: _Deadline
) -> bytes:
    declared_length = response.headers.get("Content-Length", "")
    if declared_length.isdigit() and int(declared_length) > policy.max_bytes:
        raise _too_large(target, policy)  # before reading a byte of it
    chunks: list[bytes] = []
    received = 0
    while True:
        deadline.check(target)
        # read1 returns after one socket read, so a drip of single bytes reaches this loop's
        # deadline check instead of piling up inside a read waiting for a full chunk.
        chunk = response.read1(_CHUNK_SIZE)
        if not chunk:
            return b"".join(chunks)
        received += len(chunk)
        if received > policy.max_bytes:
            raise _too_large(target, policy)
        chunks.append(chunk)


@contextlib.contextmanager
def _network_errors(target: _Target, deadline: _Deadline) -> Iterator[None]:
    """Turn urllib3, http.client, socket and ssl errors into FetchError."""
    try:
        yield
    except FetchError:
        raise
    except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as error:
        logger.info("fetching %s failed: %r", _shorten(target.url), error)
        if deadline.expired:  # whatever the shut-down socket made the reader raise
            raise deadline.error(target) from error
        if isinstance(error, NewConnectionError):  # before timeouts: it subclasses one
            refused = isinstance(error.__cause__, ConnectionRefusedError)
            reason = "connection refused" if refused else "no connection"
        elif isinstance(error, Urllib3TimeoutError | TimeoutError):
            message = f"the image server {target.host} did not answer in time"
            raise FetchError("timeout", message) from error
        elif isinstance(error, SSLError | ssl.SSLError):
            reason = "the secure (TLS) connection failed"
        else:
            reason = "the connection broke"
        message = f"could not fetch the image from {target.host}: {reason}"
        raise FetchError("connection_failed", message) from error


def _too_large(target: _Target, policy: FetchPolicy) -> FetchError:
    limit = f"{policy.max_bytes / 2**20:g} MiB"
    return FetchError("too_large", f"the image at {target.host} is larger than the {limit} limit")


def _invalid(message: str) -> FetchError:
    return FetchError("url_invalid", message)


def _shorten(url: str, limit: int = 120) -> str:
    return url if len(url) <= limit else url[: limit - 1] + "…"
