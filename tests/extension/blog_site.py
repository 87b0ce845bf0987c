"""A stand-in fashion blog for the browser-extension tests: pages with a street photo.

The photos are read from the sample data folder at request time (never copied into the
repository). Served as ``http://blog.test:<port>`` (Chromium maps the name to 127.0.0.1),
a public-looking address, so the extension sends the image by URL as it would on the web.

- ``/look.html``          a public photo (``/photos/0001.jpg``)
- ``/members/look.html``  a photo behind a login: ``/members/photo.jpg`` needs the session
                          cookie the page sets, so only the page itself can read it
- ``/blob.html``          the photo shown from a ``blob:`` URL made by the page's script
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

PHOTO = "0001.jpg"
_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:serif;margin:2rem}} img{{max-width:320px}}</style></head>
<body><h1>{title}</h1><p>Today's outfit.</p>{body}</body></html>"""
_BLOB_SCRIPT = """<img id="look" alt="Today's outfit">
<script>
fetch('/photos/0001.jpg').then(r => r.blob()).then(b => {
  document.getElementById('look').src = URL.createObjectURL(b);
});
</script>"""


class BlogSite:
    def __init__(self, photos_dir: Path) -> None:
        self.photos_dir = photos_dir
        self._server: ThreadingHTTPServer | None = None

    @property
    def photo_bytes(self) -> bytes:
        return (self.photos_dir / PHOTO).read_bytes()

    def start(self) -> int:
        site = self

        class Handler(_Handler):
            blog = site

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.port

    @property
    def port(self) -> int:
        return self._server.server_port

    def url(self, path: str) -> str:
        return f"http://blog.test:{self.port}{path}"

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    blog: BlogSite
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002
        pass

    def do_GET(self):
        path = urlsplit(self.path).path
        if path == "/look.html":
            return self._page("Street style", f'<img src="/photos/{PHOTO}" alt="Today\'s outfit">')
        if path == "/members/look.html":
            body = '<img src="/members/photo.jpg" alt="Today\'s outfit">'
            return self._page("Members only", body, cookie="session=member; Path=/members")
        if path == "/blob.html":
            return self._page("Street style (blob)", _BLOB_SCRIPT)
        if path.startswith("/photos/"):
            return self._photo(path.removeprefix("/photos/"))
        if path == "/members/photo.jpg":
            if "session=member" not in self.headers.get("Cookie", ""):
                return self._send(403, b"login required", "text/plain")
            return self._photo(PHOTO)
        return self._send(404, b"not found", "text/plain")

    def _page(self, title: str, body: str, cookie: str | None = None) -> None:
        html = _PAGE.format(title=title, body=body).encode()
        self._send(200, html, "text/html; charset=utf-8", cookie=cookie)

    def _photo(self, name: str) -> None:
        path = self.blog.photos_dir / name
        if "/" in name or not path.is_file():
            return self._send(404, b"not found", "text/plain")
        self._send(200, path.read_bytes(), "image/jpeg")

    def _send(self, status: int, body: bytes, content_type: str, cookie: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if cookie:
            self.send_header("Set-Cookie", cookie)
        self.end_headers()
        self.wfile.write(body)
