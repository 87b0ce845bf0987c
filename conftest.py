"""Fixtures shared by the whole suite: data folder, a real Celery worker process."""

from __future__ import annotations

import os
import time
from pathlib import Path
from urllib.parse import quote

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The sample data (../shared/data, or SHOPALOOK_DATA_DIR); tests needing it skip without."""
    path = Path(os.environ.get("SHOPALOOK_DATA_DIR", PROJECT_ROOT.parent / "shared" / "data"))
    if not (path / "catalog" / "catalog.csv").exists():
        pytest.skip(f"sample data not found at {path} (set SHOPALOOK_DATA_DIR)")
    return path


def database_url_for(database: dict) -> str:
    """A DATABASE_URL naming the test database, for processes started by tests."""
    user = quote(database.get("USER") or "")
    password = quote(database.get("PASSWORD") or "")
    host = database.get("HOST") or ""
    port = database.get("PORT") or ""
    name = database["NAME"]
    if host.startswith("/"):  # Unix socket folder
        return f"postgresql://{user}:{password}@/{name}?host={host}"
    return f"postgresql://{user}:{password}@{host}:{port}/{name}"


def worker_environment() -> dict[str, str]:
    """Environment of a worker process started by a test: the test database and media."""
    from django.conf import settings
    from django.db import connection

    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "shopalook.settings.test",
        "DATABASE_URL": database_url_for(connection.settings_dict),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        # Tests serve photos from local HTTP servers; every other private address stays
        # refused, and slow servers give up sooner.
        "LOOK_FETCH_ALLOWED_NETWORKS": "127.0.0.1/32",
        "LOOK_FETCH_TOTAL_TIMEOUT_SECONDS": "3",
    }


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real ``celery worker`` process consuming from the test Redis and writing to the
    test database; stopped (SIGTERM, then SIGKILL) at the end of the session."""
    from shopalook import processes
    from worker.celery import app

    app.control.purge()  # tasks left in the test broker by an earlier, interrupted run
    environment = worker_environment()
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    process = processes.spawn(
        processes.worker_command(
            queues="default,embeddings,looks", name="test@%h", loglevel="INFO"
        ),
        env=environment,
        log_path=log_path,
    )
    deadline = time.monotonic() + 90
    while not app.control.ping(timeout=0.5):
        if process.poll() is not None or time.monotonic() > deadline:
            processes.stop(process)
            pytest.fail(f"celery worker did not start:\n{log_path.read_text()[-3000:]}")
    yield process
    processes.stop(process)


@pytest.fixture(scope="session")
def playwright_driver():
    """One Playwright driver for the whole session: its sync API runs one at a time."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        yield playwright
