"""CONTRACT DOUBLE of the shop's look API, for the browser-extension tests only.

This is not the product and shares no code with it: the real API lives in ``shop/``. It
answers the documented contract (``/healthz``, ``/api/v1/client``, ``/api/v1/looks``,
``/api/v1/looks/{id}``, ``/api/v1/looks/{id}/items/{index}/products``, ``/api/v1/tags``)
with fixed JSON, and fails on demand (``ContractShop.fail_next_create``,
``detect_nothing``, ...), so the extension can be driven through every state without the
detector, the database or the worker. An end-to-end variant against the real server is
a separate test.

Every request is recorded in ``ContractShop.requests`` for the tests to assert on.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

API_KEY = "test-key"
KEY_NAME = "browser tests"
PHOTO_SIZE = {"width": 550, "height": 832}  # street/photos/0001.jpg, the photo the tests use
RETRY_AFTER_SECONDS = 7

# Fixed catalogue answers: (article type, colour) -> products, ids from the sample catalogue.
_PRODUCTS = {
    ("Casual Shoes", "Black"): [
        (10158, "Puma Men 917 Lo Feuer Black Casual Shoes", "Puma", "49.99"),
        (10152, "Rockport Men TR Bal Black Casual Shoes", "Rockport", "89.00"),
        (10167, "United Colors of Benetton Men Nighthawk Black Casual Shoes", "Benetton", "59.50"),
    ],
    ("Casual Shoes", "Blue"): [
        (11819, "Playboy Men Casual Blue Casual Shoes", "Playboy", "39.90"),
        (
            10170,
            "United Colors of Benetton Men Highlander Grey Blue Casual Shoes",
            "Benetton",
            "64.00",
        ),
    ],
    ("Tops", "White"): [
        (10658, "Doodle Girl Little frock White Tops", "Doodle", "19.99"),
        (10569, "Puma Women Ess White Polo Tshirts", "Puma", "24.95"),
    ],
    ("Skirts", "Black"): [
        (10366, "United Colors of Benetton Women Solid Black Skirt", "Benetton", "34.00"),
    ],
    ("Handbags", "Brown"): [
        (10197, "Murcia Women Hddcs Brown Handbags", "Murcia", "45.00"),
        (10205, "Murcia Women Rubena Brown Handbags", "Murcia", "52.00"),
    ],
}
_DETECTED = [  # boxes of street/photos/0001.jpg (derived/boxes.csv), in original pixels
    ("top", {"x": 163, "y": 140, "width": 228, "height": 221}, 0.91, "Tops", "White"),
    ("footwear", {"x": 193, "y": 717, "width": 112, "height": 86}, 0.87, "Casual Shoes", "Black"),
    ("bottom", {"x": 246, "y": 329, "width": 91, "height": 146}, 0.78, "Skirts", "Black"),
]
_LOOK_ERRORS = {
    "fetch_refused": "The shop does not fetch images from this address.",
    "fetch_failed": "The image address answered 403.",
    "not_an_image": "The file is not an image.",
    "too_large": "The image is larger than 10 MB.",
    "timeout": "Finding the items took too long.",
    "internal": "Something went wrong.",
}
TAG_VALUES = {
    "colour": ["Black", "Blue", "Brown", "Red", "White"],
    "article_type": ["Casual Shoes", "Handbags", "Skirts", "Tops"],
}


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: dict | None = None
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, dict] = field(default_factory=dict)  # name -> filename, content_type, data


@dataclass
class _Look:
    id: str
    region: dict | None
    fails_with: str | None
    polls_left: int
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())


class ContractShop:
    """The double. Start it with ``start()``; change its behaviour through the attributes."""

    def __init__(self, media_dir: Path | None = None) -> None:
        self.media_dir = media_dir  # catalogue images served as product photos, if present
        self.requests: list[RecordedRequest] = []
        self.looks: dict[str, _Look] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.reset()

    def reset(self) -> None:
        """Back to a healthy shop that finds three items after one poll."""
        with self._lock:
            self.requests.clear()
            self.looks.clear()
        self.health_status = "ok"
        self.fail_next_create: str | None = None  # throttled | too_large | unavailable | server
        self.detect_nothing = False
        self.polls_before_done = 1  # GETs answering queued/running before the look is done
        self.refuse_url_fetch_containing = "/members/"  # such image URLs need a login
        self.fail_looks_with: str | None = None  # a Look error code: timeout, internal, ...

    # -- server lifecycle -------------------------------------------------------------
    def start(self) -> str:
        shop = self

        class Handler(_Handler):
            contract = shop

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self.base_url

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"

    def recorded(self, method: str, path_prefix: str) -> list[RecordedRequest]:
        with self._lock:
            return [
                r for r in self.requests if r.method == method and r.path.startswith(path_prefix)
            ]

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    # -- the contract -----------------------------------------------------------------
    def create_look(self, request: RecordedRequest) -> tuple[int, dict, dict]:
        failure = self.fail_next_create
        self.fail_next_create = None
        if failure:
            return _failure(failure)
        if request.json is not None:
            image_url = request.json.get("image_url")
            if not isinstance(image_url, str) or not image_url.startswith(("http://", "https://")):
                return _invalid({"image_url": ["Enter a valid http(s) URL."]})
            if _is_private(urlsplit(image_url).hostname or ""):
                return _error(
                    400, "url_refused", "The shop does not fetch images from private addresses."
                )
            region = request.json.get("region")
            refused = self.refuse_url_fetch_containing in image_url
            fails_with = "fetch_failed" if refused else self.fail_looks_with
        else:
            image = request.files.get("image")
            if not image or not image["data"]:
                return _invalid({"image": ["No file was submitted."]})
            region = json.loads(request.form["region"]) if "region" in request.form else None
            fails_with = self.fail_looks_with
        if region is not None and not _is_region(region):
            return _invalid({"region": ["Give x, y, width and height as whole pixels."]})
        look = _Look(str(uuid.uuid4()), region, fails_with, self.polls_before_done)
        with self._lock:
            self.looks[look.id] = look
        headers = {"Location": f"/api/v1/looks/{look.id}"}
        if look.polls_left == 0:
            return 200, self.look_json(look), headers
        return 202, self.look_json(look, status="queued"), headers

    def poll_look(self, look_id: str) -> tuple[int, dict, dict]:
        look = self.looks.get(look_id)
        if look is None:
            return _error(404, "not_found", "No look with this id.")
        if look.polls_left > 0:
            look.polls_left -= 1
            return 200, self.look_json(look, status="running"), {}
        return 200, self.look_json(look), {}

    def look_json(self, look: _Look, status: str | None = None) -> dict:
        finished = status is None
        body = {
            "id": look.id,
            "status": status or ("failed" if look.fails_with else "done"),
            "error": None,
            "created_at": look.created_at,
            "finished_at": datetime.now(UTC).isoformat() if finished else None,
            "image": PHOTO_SIZE if finished and not look.fails_with else None,
            "region": look.region,
            "items": [],
        }
        if finished and look.fails_with:
            body["error"] = {"code": look.fails_with, "detail": _LOOK_ERRORS[look.fails_with]}
        elif finished and not self.detect_nothing:
            body["items"] = self.items_for(look)
        return body

    def items_for(self, look: _Look) -> list[dict]:
        if look.region:
            return [_item(0, "bag", look.region, 0.66, "Handbags", "Brown", self, "region")]
        return [
            _item(index, name, box, score, article, colour, self, "detected")
            for index, (name, box, score, article, colour) in enumerate(_DETECTED)
        ]

    def item_products(
        self, look_id: str, index: int, query: dict[str, str]
    ) -> tuple[int, dict, dict]:
        look = self.looks.get(look_id)
        if look is None:
            return _error(404, "not_found", "No look with this id.")
        if look.polls_left > 0:
            return _error(409, "look_not_done", "The look is not finished yet.")
        items = {item["index"]: item for item in self.items_for(look)}
        if index not in items:
            return _error(404, "not_found", "This look has no such item.")
        wanted = dict(tag.split(":", 1) for tag in query.get("tags", "").split(",") if ":" in tag)
        article = wanted.get("article_type", items[index]["tags"][0]["value"])
        colour = wanted.get("colour")
        used = [f"article_type:{article}"]
        relaxed = []
        if colour and (article, colour) in _PRODUCTS:
            used.append(f"colour:{colour}")
        elif colour:
            relaxed.append(f"colour:{colour}")
        chosen = colour if f"colour:{colour}" in used else items[index]["tags"][1]["value"]
        products = _products(article, chosen, self)[: int(query.get("k", "12"))]
        return (
            200,
            {"item": index, "tags_used": used, "tags_relaxed": relaxed, "products": products},
            {},
        )

    def tag_values(self, query: dict[str, str]) -> tuple[int, dict, dict]:
        kind = query.get("kind", "")
        if kind not in TAG_VALUES:
            return _invalid({"kind": [f"Unknown tag kind {kind!r}."]})
        return 200, {"kind": kind, "values": TAG_VALUES[kind]}, {}


def _item(index, class_name, box, score, article, colour, shop, source) -> dict:
    return {
        "index": index,
        "class_name": class_name,
        "score": score,
        "box": box,
        "source": source,
        "tags": [
            {"kind": "article_type", "value": article, "probability": 0.91},
            {"kind": "colour", "value": colour, "probability": 0.66},
        ],
        "tags_used": [f"article_type:{article}"],
        "tags_relaxed": [],
        "products": _products(article, colour, shop),
    }


def _products(article: str, colour: str, shop: ContractShop) -> list[dict]:
    return [
        {
            "id": product_id,
            "sku": str(product_id),
            "title": title,
            "brand": brand,
            "price": price,
            "currency": "EUR",
            "image_url": f"{shop.base_url}/media/catalog/{product_id}.jpg",
            "product_url": f"https://shop.example/p/{product_id}",
            "distance": round(0.3 + 0.05 * rank, 2),
        }
        for rank, (product_id, title, brand, price) in enumerate(
            _PRODUCTS.get((article, colour), [])
        )
    ]


def _is_private(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ip_address(host)
    except ValueError:
        return False
    return address.is_private or address.is_loopback or address.is_link_local


def _is_region(region) -> bool:
    keys = ("x", "y", "width", "height")
    return isinstance(region, dict) and all(isinstance(region.get(key), int) for key in keys)


def _error(status: int, code: str, detail: str, headers: dict | None = None):
    return status, {"detail": detail, "code": code}, headers or {}


def _invalid(errors: dict):
    status, body, headers = _error(400, "invalid", "invalid input")
    return status, {**body, "errors": errors}, headers


def _failure(kind: str):
    if kind == "throttled":
        return _error(
            429,
            "throttled",
            "Request was throttled.",
            {"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if kind == "too_large":
        return _error(413, "too_large", "The image is larger than 10 MB.")
    if kind == "server":
        return _error(500, "error", "A server error occurred.")
    if kind == "unavailable":  # what a proxy in front of a stopped shop answers: not JSON
        return 503, None, {"Content-Type": "text/html"}
    raise ValueError(f"unknown failure {kind!r}")


class _Handler(BaseHTTPRequestHandler):
    contract: ContractShop
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - keep the test output quiet
        pass

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        request = RecordedRequest(method, url.path, query, dict(self.headers.items()))
        self._read_body(request)
        if url.path.startswith("/media/catalog/"):
            return self._send_media(url.path.rsplit("/", 1)[-1])
        self.contract.record(request)
        status, body, headers = self._answer(method, url.path, request)
        self._send_json(status, body, headers)

    def _answer(self, method: str, path: str, request: RecordedRequest):
        shop = self.contract
        if method == "GET" and path == "/healthz":
            status = 200 if shop.health_status == "ok" else 503
            return status, {"status": shop.health_status, "checks": {"database": "ok"}}, {}
        if not path.startswith("/api/v1/"):
            return _error(404, "not_found", "Not found.")
        authorization = request.headers.get("Authorization", "")
        if not authorization:
            return _error(401, "not_authenticated", "Authentication credentials were not provided.")
        if authorization != f"Api-Key {API_KEY}":
            return _error(401, "authentication_failed", "Invalid API key.")
        parts = path.removeprefix("/api/v1/").split("/")
        if method == "GET" and parts == ["client"]:
            return 200, {"name": KEY_NAME, "rate": "60/min"}, {}
        if method == "GET" and parts == ["tags"]:
            return shop.tag_values(request.query)
        if method == "POST" and parts == ["looks"]:
            return shop.create_look(request)
        if method == "GET" and len(parts) == 2 and parts[0] == "looks":
            return shop.poll_look(parts[1])
        if method == "GET" and len(parts) == 5 and parts[0] == "looks" and parts[4] == "products":
            if parts[2] != "items" or not parts[3].isdigit():
                return _error(404, "not_found", "Not found.")
            return shop.item_products(parts[1], int(parts[3]), request.query)
        return _error(405, "method_not_allowed", "Method not allowed.")

    def _read_body(self, request: RecordedRequest) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("application/json"):
            request.json = json.loads(body or b"null")
        elif content_type.startswith("multipart/form-data"):
            _parse_multipart(content_type, body, request)

    def _send_json(self, status: int, body: dict | None, headers: dict) -> None:
        payload = b"<h1>503 Service Unavailable</h1>" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
        self.send_header("Content-Length", str(len(payload)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _send_media(self, name: str) -> None:
        media = self.contract.media_dir
        path = media / name if media else None
        if not path or not name.endswith(".jpg") or not path.is_file():
            self.send_response(HTTPStatus.NOT_FOUND)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "image/jpeg")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def _parse_multipart(content_type: str, body: bytes, request: RecordedRequest) -> None:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        data = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            request.files[name] = {
                "filename": part.get_filename(),
                "content_type": part.get_content_type(),
                "data": data,
            }
        else:
            request.form[name] = data.decode()
