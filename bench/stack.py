"""The whole stack as a child process tree (``python -m shopalook demo``), and its memory.

The demo brings up PostgreSQL, Redis, the two Celery workers and the web server, imports
a sample of the catalog, waits for its embeddings and prints "ShopALook is running".
It stops its children and services on SIGTERM; whatever is left after a grace period
is killed, so a benchmark never leaves a stack behind.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import PROJECT_ROOT, PYTHON, display, log_tail, start_logged

logger = logging.getLogger(__name__)

READY_LINE = "ShopALook is running"
API_KEY_FILE = "demo-extension-api-key"
# The bench measures the pipeline, not the per-key rate limits: lift them for its stack.
UNLIMITED_RATES = {"LOOK_DEFAULT_RATE": "100000/min", "LOOK_READ_RATE": "1000000/min"}


class StackError(RuntimeError):
    """The stack did not come up; the message names its log."""


@dataclass
class Stack:
    base_url: str
    api_key: str
    process: subprocess.Popen | None = None  # None: a stack someone else runs
    log_path: Path | None = None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stack_environment(
    *, var_dir: Path | None, models_dir: Path, data_dir: Path, device: str
) -> dict[str, str]:
    """Variables for the demo: its own VAR_DIR (unless None: the default var/), models, data."""
    environment = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "MODEL_DIR": str(models_dir.resolve()),
        "DATA_DIR": str(data_dir.resolve()),
        "INFERENCE_DEVICE": device,
        **UNLIMITED_RATES,
    }
    if var_dir is not None:
        environment["VAR_DIR"] = str(var_dir.resolve())
    return environment


def start_stack(
    *,
    var_dir: Path | None,
    models_dir: Path,
    data_dir: Path,
    device: str,
    sample: int,
    log_path: Path,
    timeout_s: float,
) -> Stack:
    """Start the demo and wait for its ready line; raises StackError (after stopping it)."""
    port = free_port()
    environment = stack_environment(
        var_dir=var_dir, models_dir=models_dir, data_dir=data_dir, device=device
    )
    command = [PYTHON, "-m", "shopalook", "demo", "--no-train", "--sample", str(sample)]
    command += ["--port", str(port)]
    process = start_logged(command, environment, log_path)
    stack = Stack(f"http://127.0.0.1:{port}", "", process, log_path)
    try:
        _wait_until_ready(process, log_path, timeout_s)
        key_file = Path(environment.get("VAR_DIR", PROJECT_ROOT / "var")) / API_KEY_FILE
        stack.api_key = key_file.read_text().strip()
    except BaseException:
        stop_stack(stack)
        raise
    return stack


def _wait_until_ready(process: subprocess.Popen, log_path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if READY_LINE in log_path.read_text(errors="replace"):
            return
        if process.poll() is not None:
            raise StackError(
                f"the stack exited with code {process.returncode} before it was ready: "
                f"{log_tail(log_path)} (see {display(log_path)})"
            )
        time.sleep(0.5)
    raise StackError(f"the stack was not ready after {timeout_s:.0f} s (see {display(log_path)})")


def stop_stack(stack: Stack, *, grace_s: float = 60) -> None:
    """SIGTERM the demo (it stops its children, then PostgreSQL and Redis); kill leftovers."""
    process = stack.process
    if process is None:
        return
    descendants = _descendants(process.pid)
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            logger.warning("the stack did not stop within %.0f s; killing it", grace_s)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    for child in descendants:  # the demo starts its children in sessions of their own
        with contextlib.suppress(Exception):
            if child.is_running():
                child.kill()


def _descendants(pid: int) -> list:
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def peak_rss_bytes(pid: int) -> int | None:
    """The process's peak resident set (VmHWM, Linux), None where unknown."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def worker_memory(pid: int) -> dict[str, Any]:
    """RSS and peak RSS of the stack's Celery processes, per worker (looks, catalog).

    A worker is its main process and its pool child (which holds the models); both
    are listed, and the largest peak is the figure that sizes a machine.
    """
    import psutil

    workers: dict[str, list[dict[str, Any]]] = {}
    for child in _descendants(pid):
        try:
            command = child.cmdline()
            if "celery" not in command:
                continue
            name = command[command.index("-n") + 1].split("@")[0] if "-n" in command else "worker"
            workers.setdefault(name, []).append(
                {
                    "pid": child.pid,
                    "role": "main" if child.ppid() == pid else "child (pool or beat)",
                    "rss_bytes": child.memory_info().rss,
                    "peak_rss_bytes": peak_rss_bytes(child.pid),
                }
            )
        except (psutil.Error, ValueError, IndexError):
            continue
    return {
        name: {
            "processes": processes,
            "peak_rss_bytes": max((p["peak_rss_bytes"] or p["rss_bytes"]) for p in processes),
            "rss_bytes_total": sum(p["rss_bytes"] for p in processes),
        }
        for name, processes in workers.items()
    }
