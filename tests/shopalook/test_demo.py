"""The demo as a user runs it: it comes up healthy and Ctrl-C leaves no process behind."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from shopalook.devstack import free_port
from tests.shop.catalog_fixtures import product_row, write_catalog, write_image

PROJECT_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def wait_for_line(process: subprocess.Popen, text: str, timeout_s: float) -> list[str]:
    lines, deadline = [], time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        lines.append(line)
        if text in line:
            return lines
    pytest.fail(f"demo never printed {text!r}; output:\n{''.join(lines)}")


def test_demo_serves_a_healthy_stack_and_ctrl_c_stops_every_process(tmp_path):
    catalog = write_catalog(
        tmp_path / "catalog",
        [
            product_row("1", write_image(tmp_path / "catalog", "1.jpg", (200, 30, 30))),
            product_row("2", write_image(tmp_path / "catalog", "2.jpg", (30, 30, 200))),
        ],
    )
    port = free_port()
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
    }
    environment["VAR_DIR"] = str(tmp_path / "var")
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shopalook",
            "demo",
            "--catalog",
            str(catalog),
            "--no-train",
            "--port",
            str(port),
        ],
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        output = wait_for_line(demo, "Press Ctrl-C", timeout_s=240)
        assert any("2 rows: 2 created" in line for line in output)
        started = psutil.Process(demo.pid).children(recursive=True)
        started += [psutil.Process(pid) for pid in embedded_server_pids(tmp_path / "var")]
        names = {process.name() for process in started}
        assert any(name.startswith("postgres") for name in names), names
        assert any("redis-server" in name for name in names), names
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
            health = json.load(response)
        assert health["status"] == "ok", health
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/v1/products", timeout=10
        ) as response:
            assert json.load(response)["count"] == 2

        demo.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal sends
        assert demo.wait(timeout=90) == 0
        _, alive = psutil.wait_procs(started, timeout=10)
        assert alive == [], [process.cmdline() for process in alive]
    finally:
        if demo.poll() is None:
            demo.kill()


def embedded_server_pids(var_dir: Path) -> list[int]:
    postgres = int((var_dir / "postgres" / "postmaster.pid").read_text().split()[0])
    redis = json.loads((var_dir / "redis" / "server.json").read_text())["pid"]
    return [postgres, redis]
