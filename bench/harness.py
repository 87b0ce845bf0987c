"""Run one sub-benchmark as a child process: its own log, a time limit, a readable error.

Sub-benchmarks run as separate processes (the evaluation CLIs, bench/*.py scripts) so
that one crashing, leaking memory or hanging cannot take the others down; each writes
JSON that the run reads back.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable


class CommandError(RuntimeError):
    """A child process failed or ran out of time; the message names its log."""


def progress(message: str) -> None:
    """One progress line for the person at the terminal."""
    print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)


def log_tail(path: Path, lines: int = 4, width: int = 600) -> str:
    """The last non-empty lines of a log (progress bars' carriage returns split lines)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    pieces = [line.strip() for line in text.replace("\r", "\n").splitlines() if line.strip()]
    return " | ".join(pieces[-lines:])[-width:]


def start_logged(command: list[str], environment: dict, log_path: Path) -> subprocess.Popen:
    """Start ``command`` in its own session, its output (after the command line) in a log."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        log.write(("$ " + " ".join(command) + "\n").encode())
        log.flush()
        return subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def run_command(
    command: list[str],
    *,
    log_path: Path,
    timeout_s: float,
    env: Mapping[str, str] | None = None,
) -> float:
    """Run `command` from the project root with its output in `log_path`; returns seconds.

    Raises CommandError on a non-zero exit or a timeout (the child's whole process
    group is killed then).
    """
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    started = time.perf_counter()
    process = start_logged(command, environment, log_path)
    try:
        returncode = process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        kill_group(process)
        raise CommandError(f"timed out after {timeout_s:.0f} s (see {display(log_path)})") from None
    except BaseException:  # Ctrl-C: leave no child behind
        kill_group(process)
        raise
    if returncode != 0:
        raise CommandError(
            f"exit code {returncode}: {log_tail(log_path)} (see {display(log_path)})"
        )
    return time.perf_counter() - started


def kill_group(process: subprocess.Popen, grace_s: float = 10) -> None:
    """SIGTERM the child's process group, then SIGKILL what is left after `grace_s`."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace_s)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def display(path: Path) -> str:
    """A path relative to the project root where it is inside it."""
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def python_module(module: str, *arguments: str) -> list[str]:
    return [PYTHON, "-m", module, *arguments]


def python_script(script: str, *arguments: str) -> list[str]:
    return [PYTHON, str(PROJECT_ROOT / script), *arguments]
