"""Start and stop the long-running processes of the stack: web server and Celery worker."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Mapping

logger = logging.getLogger(__name__)

# glibc keeps freed memory for reuse instead of an mmap/munmap per large tensor: the CAM
# detector's CPU forward pass ran 1.5x faster with these (recommender/README.md). Read by
# glibc at process start, so they are set for the children, not in this process.
ALLOCATOR_ENVIRONMENT = {"MALLOC_MMAP_THRESHOLD_": "1000000000000", "MALLOC_TRIM_THRESHOLD_": "-1"}


def worker_command(
    *,
    queues: str = "default,embeddings",
    concurrency: int = 1,
    name: str = "worker@%h",
    loglevel: str = "INFO",
    beat_schedule: os.PathLike | None = None,
) -> list[str]:
    """A Celery worker; with ``beat_schedule`` it also runs the periodic tasks (one per
    deployment: the looks worker of the demo)."""
    beat = ["--beat", "--schedule", str(beat_schedule)] if beat_schedule else []
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker",
        "worker",
        "-Q",
        queues,
        "--concurrency",
        str(concurrency),
        "-n",
        name,
        "--loglevel",
        loglevel,
        "--without-mingle",
        "--without-gossip",
        *beat,
    ]


def web_command(*, host: str, port: int, workers: int = 2, threads: int = 8) -> list[str]:
    # Threads: a request waiting for a look (?wait=) must not hold a whole process.
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "shopalook.wsgi:application",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        "gthread",
        "--threads",
        str(threads),
        "--timeout",
        "60",
        "--access-logfile",
        "-",
    ]


def spawn(
    command: list[str], *, env: Mapping[str, str] | None = None, log_path: os.PathLike | None = None
) -> subprocess.Popen:
    """Start a child in its own session so a terminal's Ctrl-C reaches only us."""
    output = open(log_path, "ab") if log_path else None  # noqa: SIM115 (owned by the child)
    environment = dict(os.environ if env is None else env)
    for name, value in ALLOCATOR_ENVIRONMENT.items():
        environment.setdefault(name, value)
    return subprocess.Popen(
        command,
        env=environment,
        stdout=output,
        stderr=subprocess.STDOUT if output else None,
        start_new_session=True,
    )


def stop(process: subprocess.Popen, *, timeout_s: float = 30) -> None:
    """Ask the main process politely (SIGTERM: Celery finishes its running task, gunicorn
    its requests), then kill whatever is left of its process group.

    The signal goes to the main process only: a Celery pool child that received SIGTERM
    itself would die mid-task.
    """
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            logger.warning("process %s did not stop in %.0f s; killing it", process.pid, timeout_s)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # the group: pool children, gunicorn workers
    process.wait()
