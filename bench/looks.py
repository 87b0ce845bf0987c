"""Benchmark of the shopper's path over HTTP against a running stack (e.g. ``make demo``).

    .venv/bin/python bench/looks.py --photo ../shared/data/street/photos/0001.jpg \\
        --latency 100 --load-clients 20 --load-seconds 60 --out var/bench/looks.json

- latency: looks posted one after another (multipart upload, ``?wait=10``), each timed
  from the POST to the finished result (polling if the wait ran out): median, p95, max;
- load: ``--load-clients`` clients post looks in a loop for ``--load-seconds``; looks/s,
  latency median/p95, HTTP errors, failed looks, and looks that never finished ("lost").

Each part also lists its samples (``samples_ms``, in the order measured).

The API key defaults to the demo's (``var/demo-extension-api-key``). The stack's catalog,
models and workers are whatever it runs: the JSON records the model version and the
item count per look so that runs can be compared. Timings are wall-clock on a shared
machine: compare within one run.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
FINISHED = ("done", "failed")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--api-key", help="default: the demo's key in var/")
    parser.add_argument("--photo", type=Path, required=True, help="a street photo (JPEG/PNG)")
    parser.add_argument("--latency", type=int, default=100, help="sequential looks (0: skip)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--load-clients", type=int, default=20, help="0: skip the load test")
    parser.add_argument("--load-seconds", type=float, default=60)
    parser.add_argument("--timeout", type=float, default=120, help="per look, seconds")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "var" / "bench" / "looks.json")
    return parser.parse_args()


class Client:
    def __init__(self, base_url: str, api_key: str, photo: bytes, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Authorization": f"Api-Key {api_key}"}
        self.photo = photo
        self.timeout = timeout

    def request(self, method: str, path: str, body: bytes | None = None, headers=None):
        request = urllib.request.Request(
            self.base_url + path,
            data=body,
            method=method,
            headers={**self.headers, **(headers or {})},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())

    def look(self) -> tuple[float, dict]:
        """Post the photo and wait for the result; returns (seconds, look)."""
        boundary = uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="image"; '
                f'filename="look.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'
            ).encode()
            + self.photo
            + f"\r\n--{boundary}--\r\n".encode()
        )
        started = time.perf_counter()
        _, look = self.request(
            "POST",
            "/api/v1/looks?wait=10",
            body,
            {"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        while look["status"] not in FINISHED:
            if time.perf_counter() - started > self.timeout:
                raise TimeoutError(f"look {look['id']} not finished after {self.timeout:.0f} s")
            time.sleep(0.2)  # as a client would poll; the POST already waited up to 10 s
            _, look = self.request("GET", f"/api/v1/looks/{look['id']}")
        return time.perf_counter() - started, look


def summary(seconds: list[float]) -> dict:
    """Count, median, p95, max (ms) and every sample in order (for histograms)."""
    if not seconds:
        return {"count": 0, "samples_ms": []}
    milliseconds = sorted(1000 * value for value in seconds)
    return {
        "count": len(milliseconds),
        "median_ms": round(statistics.median(milliseconds), 1),
        # nearest rank: the smallest sample with at least 95% of them at or below it
        "p95_ms": round(milliseconds[math.ceil(0.95 * len(milliseconds)) - 1], 1),
        "max_ms": round(milliseconds[-1], 1),
        "samples_ms": [round(1000 * value, 1) for value in seconds],
    }


def without_samples(part: dict) -> dict:
    return {key: value for key, value in part.items() if key != "samples_ms"}


def measure_latency(client: Client, count: int, warmup: int) -> dict:
    for _ in range(warmup):
        client.look()
    seconds, items, failed, version = [], [], 0, None
    for _ in range(count):
        elapsed, look = client.look()
        seconds.append(elapsed)
        items.append(len(look["items"]))
        failed += look["status"] == "failed"
        version = look.get("model_version") or version
    return {
        **summary(seconds),
        "items_per_look": round(statistics.mean(items), 2) if items else 0,
        "failed_looks": failed,
        "model_version": version,
    }


def measure_load(client: Client, clients: int, duration: float) -> dict:
    seconds, errors, failed, lost = [], [], 0, 0
    lock = threading.Lock()
    stop_at = time.perf_counter() + duration

    def run() -> None:
        nonlocal failed, lost
        while time.perf_counter() < stop_at:
            try:
                elapsed, look = client.look()
            except TimeoutError:
                with lock:
                    lost += 1
                continue
            except (urllib.error.URLError, OSError, ValueError) as error:
                with lock:
                    errors.append(f"{type(error).__name__}: {error}")
                continue
            with lock:
                seconds.append(elapsed)
                failed += look["status"] == "failed"

    started = time.perf_counter()
    threads = [threading.Thread(target=run) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {
        "clients": clients,
        "seconds": round(wall, 1),
        "looks_per_second": round(len(seconds) / wall, 2),
        **summary(seconds),
        "http_errors": len(errors),
        "error_examples": sorted(set(errors))[:5],
        "failed_looks": failed,
        "lost_looks": lost,
    }


def main() -> None:
    arguments = parse_arguments()
    key = arguments.api_key
    if key is None:
        key_file = PROJECT_ROOT / "var" / "demo-extension-api-key"
        if not key_file.exists():
            sys.exit(f"error: no --api-key and no demo key at {key_file} (run make demo first)")
        key = key_file.read_text().strip()
    if not arguments.photo.is_file():
        sys.exit(f"error: photo {arguments.photo} not found")
    client = Client(arguments.base_url, key, arguments.photo.read_bytes(), arguments.timeout)
    try:
        status, health = client.request("GET", "/healthz")
    except (urllib.error.URLError, OSError) as error:
        sys.exit(f"error: the stack at {arguments.base_url} does not answer: {error}")
    results = {
        "benchmark": "looks",
        "machine": {"platform": platform.platform(), "processor": platform.processor()},
        "base_url": arguments.base_url,
        "photo": str(arguments.photo),
        "health": health,
    }
    if arguments.latency:
        results["latency"] = measure_latency(client, arguments.latency, arguments.warmup)
        print("latency:", json.dumps(without_samples(results["latency"])), flush=True)
    if arguments.load_clients:
        results["load"] = measure_load(client, arguments.load_clients, arguments.load_seconds)
        print("load:", json.dumps(without_samples(results["load"])), flush=True)
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {arguments.out}")


if __name__ == "__main__":
    main()
