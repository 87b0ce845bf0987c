"""Bad configuration stops the demo with one sentence, not a traceback."""

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from shopalook.devstack import ServiceError, ensure_writable_folder, free_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def run_demo(*arguments: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "VAR_DIR", "DJANGO_SETTINGS_MODULE"}
    }
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "shopalook", "demo", "--port", str(free_port()), *arguments],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.stderr


def test_unreachable_database_url(tmp_path):
    result = run_demo(
        env={
            "DATABASE_URL": "postgresql://postgres@127.0.0.1:9/shop",
            "REDIS_URL": "redis://127.0.0.1:9/0",
            "VAR_DIR": str(tmp_path),
        }
    )
    assert_one_line_error(result, "cannot connect to the database at 127.0.0.1:9", "DATABASE_URL")


def test_unreachable_redis_url(tmp_path, db):
    from django.conf import settings

    from conftest import database_url_for

    result = run_demo(
        env={
            "DATABASE_URL": database_url_for(settings.DATABASES["default"]),
            "REDIS_URL": "redis://127.0.0.1:9/0",
            "VAR_DIR": str(tmp_path),
        }
    )
    assert_one_line_error(result, "cannot reach Redis at 127.0.0.1:9", "REDIS_URL")


def test_invalid_database_url(tmp_path):
    result = run_demo(env={"DATABASE_URL": "mysql://root@localhost/shop", "VAR_DIR": str(tmp_path)})
    assert_one_line_error(result, "DATABASE_URL must point at PostgreSQL")


def test_port_in_use(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_demo("--port", str(port), env={"VAR_DIR": str(tmp_path)})
    assert_one_line_error(result, f"port {port}", "already in use")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write any folder; see the test below")
def test_data_folder_owned_by_another_user():
    result = run_demo(env={"VAR_DIR": "/"})  # root's folder, not writable by this user
    assert_one_line_error(result, "data folder /", "belongs to user 'root'", "not writable")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_data_folder_owned_by_another_user_refused_for_that_user():
    folder = Path(tempfile.mkdtemp(prefix="shopalook-var-"))  # root's
    folder.chmod(0o755)
    os.seteuid(65534)  # act as nobody, as the demo would when started by that user
    try:
        with pytest.raises(ServiceError) as refused:
            ensure_writable_folder(folder)
    finally:
        os.seteuid(0)
        folder.rmdir()
    message = str(refused.value)
    assert f"data folder {folder} belongs to user 'root'" in message and "not writable" in message
