import os
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def import_production_settings(**env: str) -> subprocess.CompletedProcess:
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"}
    }
    environment.update(env, DJANGO_SETTINGS_MODULE="shopalook.settings.production")
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = import_production_settings(
        DATABASE_URL="postgresql://x@db/shop", REDIS_URL="redis://r:6379/0"
    )
    assert result.returncode != 0
    assert "environment variable SECRET_KEY is required" in result.stderr


def test_production_refuses_a_weak_secret_key():
    result = import_production_settings(
        SECRET_KEY="short", DATABASE_URL="postgresql://x@db/shop", REDIS_URL="redis://r:6379/0"
    )
    assert "SECRET_KEY must be a random value of at least 32 characters" in result.stderr


def test_production_starts_nothing_and_needs_database_url():
    result = import_production_settings(SECRET_KEY="k" * 50, REDIS_URL="redis://r:6379/0")
    assert "environment variable DATABASE_URL is required" in result.stderr


def test_production_settings_load_with_everything_set():
    result = import_production_settings(
        SECRET_KEY="k" * 50, DATABASE_URL="postgresql://x@db/shop", REDIS_URL="redis://r:6379/0"
    )
    assert result.returncode == 0, result.stderr
