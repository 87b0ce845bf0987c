"""The image URL fetcher: what strangers' URLs may reach, and how misbehaving servers end."""

from __future__ import annotations

import io
import shutil
import socket
import struct
import time
import zlib
from collections.abc import Iterator
from ipaddress import ip_network

import pytest
from PIL import Image

from recommender.images import DEFAULT_MAX_PIXELS, ImageDecodeError, load_image
from shop.fetching import (
    FetchedImage,
    FetchError,
    FetchPolicy,
    check_url,
    fetch_image,
    sniff_image_type,
    system_resolver,
)
from tests.support.http_servers import (
    LocalHTTPServer,
    delayed_first_byte,
    endless_body,
    fixed_body,
    make_test_certificate,
    redirect,
    refused_port,
    slow_drip,
    slow_headers,
)

LOCAL_SERVER_ONLY = (ip_network("127.0.0.1/32"),)
PUBLIC_ADDRESS = "93.184.215.14"
# Slack for thread start-up and a loaded 2-core machine on top of a timeout under test.
TIMING_SLACK_S = 0.75


def local_policy(**overrides: object) -> FetchPolicy:
    """Small limits, and the local test server (127.0.0.1 only) reachable."""
    settings: dict[str, object] = {
        "allowed_networks": LOCAL_SERVER_ONLY,
        "connect_timeout": 1.0,
        "read_timeout": 1.0,
        "total_timeout": 3.0,
    }
    return FetchPolicy(**(settings | overrides))  # type: ignore[arg-type]


def fake_resolver(answers: dict[str, list[str]]):
    """A resolver from a table, recording each (host, port) it is asked about."""

    def resolve(host: str, port: int) -> list[str]:
        resolve.calls.append((host, port))
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers[host]

    resolve.calls = []
    return resolve


def fetch_error(url: str, policy: FetchPolicy) -> FetchError:
    with pytest.raises(FetchError) as caught:
        fetch_image(url, policy=policy)
    return caught.value


def encoded_image(image_format: str, size: tuple[int, int] = (16, 12)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 60)).save(buffer, format=image_format)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    return encoded_image("JPEG")


@pytest.fixture
def server() -> Iterator[LocalHTTPServer]:
    with LocalHTTPServer() as running:
        yield running


# --- Happy paths -----------------------------------------------------------------------


def test_fetch_returns_jpeg_bytes_and_content_type(server, jpeg):
    url = server.route("/look.jpg", fixed_body(jpeg, "image/jpeg"))

    image = fetch_image(url, policy=local_policy())

    assert image == FetchedImage(url=url, content_type="image/jpeg", data=jpeg)
    assert load_image(image.data).size == (16, 12)
    assert server.requests[0].headers["User-Agent"] == "ShopALook-image-fetcher/1"


def test_fetch_connects_to_checked_address_and_sends_original_host_header(server, jpeg):
    server.route("/look.jpg", fixed_body(jpeg, "image/jpeg"))
    resolver = fake_resolver({"images.example.test": ["127.0.0.1"]})
    url = server.url("/look.jpg", host="images.example.test")

    image = fetch_image(url, policy=local_policy(resolver=resolver))

    assert image.data == jpeg
    assert image.url == url
    assert server.requests[0].headers["Host"] == f"images.example.test:{server.port}"
    assert resolver.calls == [("images.example.test", server.port)]  # once, never again


def test_fetch_follows_relative_redirect(server, jpeg):
    server.route("/share/42", redirect("../images/look.jpg"))
    final_url = server.route("/images/look.jpg", fixed_body(jpeg, "image/jpeg"))

    image = fetch_image(server.url("/share/42"), policy=local_policy())

    assert image.url == final_url
    assert [request.path for request in server.requests] == ["/share/42", "/images/look.jpg"]


def test_fetch_follows_as_many_redirects_as_allowed(server, jpeg):
    server.route("/a", redirect("/b", status=301))
    server.route("/b", redirect(server.url("/c"), status=307))
    server.route("/c", fixed_body(jpeg, "image/jpeg"))

    image = fetch_image(server.url("/a"), policy=local_policy(max_redirects=2))

    assert image.data == jpeg


def test_fetch_checks_each_redirect_hop_with_the_resolver(server, jpeg):
    resolver = fake_resolver({"a.example.test": ["127.0.0.1"], "b.example.test": ["127.0.0.1"]})
    server.route("/a", redirect(server.url("/b", host="b.example.test")))
    server.route("/b", fixed_body(jpeg, "image/jpeg"))

    fetch_image(server.url("/a", host="a.example.test"), policy=local_policy(resolver=resolver))

    assert [host for host, _ in resolver.calls] == ["a.example.test", "b.example.test"]
    assert [request.headers["Host"] for request in server.requests] == [
        f"a.example.test:{server.port}",
        f"b.example.test:{server.port}",
    ]


@pytest.mark.parametrize("content_type", [None, "application/octet-stream"])
def test_fetch_accepts_untyped_body_when_magic_bytes_say_image(server, content_type):
    png = encoded_image("PNG")
    url = server.route("/look", fixed_body(png, content_type))

    image = fetch_image(url, policy=local_policy())

    assert (image.content_type, image.data) == ("image/png", png)


@pytest.mark.parametrize(
    ("image_format", "media_type"),
    [
        ("JPEG", "image/jpeg"),
        ("PNG", "image/png"),
        ("GIF", "image/gif"),
        ("WEBP", "image/webp"),
        ("BMP", "image/bmp"),
        ("TIFF", "image/tiff"),
    ],
)
def test_sniff_image_type_recognises_photo_formats(image_format, media_type):
    assert sniff_image_type(encoded_image(image_format)) == media_type


def test_check_url_accepts_public_host():
    resolver = fake_resolver({"cdn.example.test": [PUBLIC_ADDRESS, "2606:2800:21f:cb07::1"]})

    check_url("https://cdn.example.test/look.jpg?w=800", policy=FetchPolicy(resolver=resolver))

    assert resolver.calls == [("cdn.example.test", 443)]


def test_system_resolver_returns_addresses_of_localhost():
    assert "127.0.0.1" in system_resolver("localhost", 80)


# --- Addresses that are not ours to reach ------------------------------------------------

NON_PUBLIC_URLS = {
    "loopback_literal": ("http://127.0.0.1/a.jpg", "127.0.0.1"),
    "localhost": ("http://localhost/a.jpg", "127.0.0.1"),
    "private_10": ("http://10.0.0.5/a.jpg", "10.0.0.5"),
    "private_172_16": ("http://172.16.0.1/a.jpg", "172.16.0.1"),
    "private_192_168": ("http://192.168.1.1/a.jpg", "192.168.1.1"),
    "cloud_metadata": ("http://169.254.169.254/latest/meta-data", "169.254.169.254"),
    "cloud_metadata_ipv6": ("http://[fd00:ec2::254]/", "fd00:ec2::254"),
    "link_local": ("http://169.254.10.1/a.jpg", "169.254.10.1"),
    "ipv6_loopback": ("http://[::1]/a.jpg", "::1"),
    "ipv6_link_local": ("http://[fe80::1]/a.jpg", "fe80::1"),
    "ipv6_unique_local": ("http://[fc00::5]/a.jpg", "fc00::5"),
    "ipv4_mapped_loopback": ("http://[::ffff:127.0.0.1]/a.jpg", "::ffff:7f00:1"),
    "nat64_private": ("http://[64:ff9b::10.0.0.1]/a.jpg", "64:ff9b::a00:1"),
    "unspecified": ("http://0.0.0.0/a.jpg", "0.0.0.0"),
    "ipv6_unspecified": ("http://[::]/a.jpg", "::"),
    "shared_cgnat": ("http://100.64.0.1/a.jpg", "100.64.0.1"),
    "multicast": ("http://224.0.0.1/a.jpg", "224.0.0.1"),
    "reserved": ("http://240.0.0.1/a.jpg", "240.0.0.1"),
    "decimal_integer_loopback": ("http://2130706433/a.jpg", "127.0.0.1"),
    "hex_short_loopback": ("http://0x7f.1/a.jpg", "127.0.0.1"),
    "octal_loopback": ("http://0177.0.0.1/a.jpg", "127.0.0.1"),
}


@pytest.mark.parametrize(
    ("url", "address"), list(NON_PUBLIC_URLS.values()), ids=list(NON_PUBLIC_URLS)
)
def test_fetch_refuses_non_public_address(url, address):
    error = fetch_error(url, FetchPolicy())

    assert error.code == "address_refused"
    assert f"({address})" in error.message


@pytest.mark.parametrize(
    ("url", "address"), list(NON_PUBLIC_URLS.values()), ids=list(NON_PUBLIC_URLS)
)
def test_check_url_refuses_non_public_address(url, address):
    with pytest.raises(FetchError) as caught:
        check_url(url, policy=FetchPolicy())

    assert caught.value.code == "address_refused"


def test_fetch_refuses_host_whose_answers_mix_public_and_private():
    # A rebinding name answers one public and one internal address: one bad answer is enough.
    resolver = fake_resolver({"rebind.example.test": [PUBLIC_ADDRESS, "10.0.0.1"]})

    error = fetch_error("http://rebind.example.test/a.jpg", FetchPolicy(resolver=resolver))

    assert error.code == "address_refused"
    assert error.message == (
        "the image host rebind.example.test resolves to a private address (10.0.0.1), "
        "which is not allowed"
    )


def test_allowed_networks_do_not_open_cloud_metadata():
    policy = FetchPolicy(allowed_networks=(ip_network("169.254.0.0/16"),))

    error = fetch_error("http://169.254.169.254/latest/meta-data", policy)

    assert error.code == "address_refused"


def test_allowed_networks_accept_strings():
    assert FetchPolicy(allowed_networks=("10.1.0.0/16",)).allowed_networks == (
        ip_network("10.1.0.0/16"),
    )


@pytest.mark.parametrize(
    "location",
    ["http://10.0.0.1/", "http://[::1]/", "http://169.254.169.254/latest/meta-data"],
    ids=["private", "ipv6_loopback", "cloud_metadata"],
)
def test_fetch_refuses_redirect_to_non_public_address(server, location):
    url = server.route("/look.jpg", redirect(location))

    error = fetch_error(url, local_policy())

    assert error.code == "address_refused"
    assert len(server.requests) == 1


def test_fetch_refuses_redirect_to_other_scheme(server):
    url = server.route("/look.jpg", redirect("file:///etc/passwd"))

    assert fetch_error(url, local_policy()).code == "url_invalid"


def test_fetch_refuses_redirect_loop(server):
    server.route("/a", redirect("/b"))
    server.route("/b", redirect("/a"))

    error = fetch_error(server.url("/a"), local_policy(max_redirects=3))

    assert error.code == "too_many_redirects"
    assert len(server.requests) == 4  # the first request and three redirects


def test_fetch_refuses_public_host_on_port_outside_allowed_ports():
    resolver = fake_resolver({"mail.example.test": [PUBLIC_ADDRESS]})

    error = fetch_error("http://mail.example.test:25/a.jpg", FetchPolicy(resolver=resolver))

    assert error.code == "url_invalid"
    assert "port 25" in error.message


# --- Malformed URLs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/a.jpg",
        "file:///etc/passwd",
        "gopher://example.com/",
        "javascript:alert(1)",
        "example.com/a.jpg",
        "http:///a.jpg",
        "http://user:secret@example.com/a.jpg",
        "http://user@example.com/a.jpg",
        "http://example.com\\@127.0.0.1/a.jpg",
        "http://example.com:99999/a.jpg",
        "http://exa mple.com/a.jpg",
        "http://example.com/a.jpg\r\nX-Injected: 1",
        "http://%31%32%37.0.0.1/a.jpg",
        "http://[::1/a.jpg",
        "http://example.com/" + "a" * 2048,
    ],
    ids=[
        "ftp",
        "file",
        "gopher",
        "javascript",
        "no_scheme",
        "empty_host",
        "credentials",
        "user_name",
        "backslash_userinfo",
        "port_out_of_range",
        "space_in_host",
        "header_injection",
        "percent_encoded_host",
        "broken_ipv6_literal",
        "too_long",
    ],
)
def test_fetch_refuses_malformed_or_unsupported_url(url):
    resolver = fake_resolver({})  # any resolution attempt would fail differently

    error = fetch_error(url, FetchPolicy(resolver=resolver))

    assert error.code == "url_invalid"
    assert resolver.calls == []


def test_fetch_reports_unresolvable_host_as_connection_failed():
    error = fetch_error(
        "http://nowhere.example.test/a.jpg", FetchPolicy(resolver=fake_resolver({}))
    )

    assert error.code == "connection_failed"
    assert "nowhere.example.test" in error.message


# --- Misbehaving servers ----------------------------------------------------------------


def test_fetch_reports_refused_port_as_connection_failed():
    with refused_port() as port:
        error = fetch_error(f"http://127.0.0.1:{port}/a.jpg", local_policy())

    assert error.code == "connection_failed"
    assert "connection refused" in error.message


needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@needs_openssl
def test_fetch_https_checks_certificate_for_host_name_while_connecting_to_address(
    tmp_path, monkeypatch, jpeg
):
    certificate = make_test_certificate(tmp_path, "images.example.test")
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.ca_file))  # trust the test CA only
    resolver = fake_resolver({"images.example.test": ["127.0.0.1"]})
    with LocalHTTPServer(tls=certificate.server_context()) as tls_server:
        tls_server.route("/look.jpg", fixed_body(jpeg, "image/jpeg"))
        url = tls_server.url("/look.jpg", host="images.example.test")

        image = fetch_image(url, policy=local_policy(resolver=resolver))

    assert (image.url, image.data) == (url, jpeg)
    assert tls_server.requests[0].headers["Host"] == f"images.example.test:{tls_server.port}"


@needs_openssl
def test_fetch_https_refuses_certificate_for_another_name(tmp_path, monkeypatch, jpeg):
    certificate = make_test_certificate(tmp_path, "other.example.test")
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.ca_file))
    resolver = fake_resolver({"images.example.test": ["127.0.0.1"]})
    with LocalHTTPServer(tls=certificate.server_context()) as tls_server:
        tls_server.route("/look.jpg", fixed_body(jpeg, "image/jpeg"))
        url = tls_server.url("/look.jpg", host="images.example.test")

        error = fetch_error(url, local_policy(resolver=resolver))

    assert error.code == "connection_failed"
    assert tls_server.requests == []


def test_fetch_https_to_plain_http_server_fails_as_connection_failed(server):
    resolver = fake_resolver({"images.example.test": ["127.0.0.1"]})
    url = f"https://images.example.test:{server.port}/a.jpg"

    error = fetch_error(url, local_policy(resolver=resolver))

    assert error.code == "connection_failed"


def test_fetch_reports_404_as_http_error(server):
    error = fetch_error(server.url("/missing.jpg"), local_policy())

    assert (error.code, error.http_status) == ("http_error", 404)
    assert "404" in error.message


def test_fetch_times_out_on_slow_drip_body(server, jpeg):
    url = server.route("/drip.jpg", slow_drip(jpeg, interval_s=0.05, content_type="image/jpeg"))
    policy = local_policy(read_timeout=0.5, total_timeout=1.0)

    started = time.monotonic()
    error = fetch_error(url, policy)
    elapsed = time.monotonic() - started

    assert error.code == "timeout"
    assert 1.0 <= elapsed < 1.0 + TIMING_SLACK_S


def test_fetch_times_out_when_first_byte_is_late(server, jpeg):
    url = server.route("/late.jpg", delayed_first_byte(fixed_body(jpeg, "image/jpeg"), delay_s=5))
    policy = local_policy(read_timeout=0.3, total_timeout=3.0)

    started = time.monotonic()
    error = fetch_error(url, policy)

    assert error.code == "timeout"
    assert time.monotonic() - started < 0.3 + TIMING_SLACK_S


def test_fetch_total_deadline_interrupts_wait_for_headers(server, jpeg):
    # The per-read timeout alone would wait 5 s; the whole-fetch deadline wins.
    url = server.route("/late.jpg", delayed_first_byte(fixed_body(jpeg, "image/jpeg"), delay_s=5))
    policy = local_policy(read_timeout=5.0, total_timeout=0.5)

    started = time.monotonic()
    error = fetch_error(url, policy)

    assert error.code == "timeout"
    assert time.monotonic() - started < 0.5 + TIMING_SLACK_S


def test_fetch_total_deadline_interrupts_headers_sent_byte_by_byte(server):
    # Every byte comes well within the read timeout: only the whole-fetch deadline ends it.
    url = server.route("/drip-headers.jpg", slow_headers(interval_s=0.02))
    policy = local_policy(read_timeout=1.0, total_timeout=1.0)

    started = time.monotonic()
    error = fetch_error(url, policy)

    assert error.code == "timeout"
    assert time.monotonic() - started < 1.0 + TIMING_SLACK_S


def test_fetch_refuses_endless_body_as_too_large(server):
    url = server.route("/endless", endless_body(content_type="image/jpeg", prefix=b"\xff\xd8\xff"))

    started = time.monotonic()
    error = fetch_error(url, local_policy(max_bytes=256 * 1024))

    assert error.code == "too_large"
    assert time.monotonic() - started < 2.0


def test_fetch_refuses_declared_content_length_over_limit_before_reading(server, jpeg):
    # The body is short of the declared length: reading it would fail differently.
    url = server.route("/huge.jpg", fixed_body(jpeg, "image/jpeg", content_length=50 * 1024 * 1024))

    error = fetch_error(url, local_policy(max_bytes=1024 * 1024))

    assert error.code == "too_large"
    assert "1 MiB" in error.message


def test_fetch_refuses_html_page(server):
    url = server.route("/page", fixed_body(b"<html><body>hi</body></html>", "text/html"))

    assert fetch_error(url, local_policy()).code == "not_an_image"


@pytest.mark.parametrize("content_type", ["image/jpeg", "application/octet-stream", None])
def test_fetch_refuses_html_served_as_image(server, content_type):
    url = server.route("/fake.jpg", fixed_body(b"<html><body>hi</body></html>", content_type))

    assert fetch_error(url, local_policy()).code == "not_an_image"


def test_fetch_refuses_svg_served_as_image(server):
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    url = server.route("/look.svg", fixed_body(svg, "image/svg+xml"))

    assert fetch_error(url, local_policy()).code == "not_an_image"


# --- Decoding stays the decoder's job ---------------------------------------------------


def decompression_bomb_png(width: int, height: int) -> bytes:
    """A valid 1-bit greyscale PNG of width x height pixels, all black, tiny once compressed."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload))
            + kind
            + payload
            + struct.pack(">I", zlib.crc32(kind + payload))
        )

    compressor = zlib.compressobj(9)
    row = bytes(1 + (width + 7) // 8)  # filter byte "none", then 8 pixels a byte
    compressed = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", compressed)
        + chunk(b"IEND", b"")
    )


def test_decompression_bomb_downloads_but_load_image_refuses_it(server):
    width = height = 20_000
    assert width * height > DEFAULT_MAX_PIXELS  # the decoder's limit is what refuses it
    bomb = decompression_bomb_png(width, height)
    url = server.route("/bomb.png", fixed_body(bomb, "image/png"))

    image = fetch_image(url, policy=local_policy())
    started = time.monotonic()
    with pytest.raises(ImageDecodeError, match="too large"):
        load_image(image.data)

    assert len(image.data) < 200 * 1024
    assert time.monotonic() - started < 1.0
