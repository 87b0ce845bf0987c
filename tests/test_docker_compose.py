"""The production compose file: checked structurally here, where no Docker engine runs."""

from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"


def load() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_services_have_healthchecks_and_persistent_volumes():
    services = load()["services"]
    assert {"db", "redis", "web", "worker", "migrate"} <= services.keys()
    for name in ("db", "redis", "web", "worker"):
        assert "test" in services[name]["healthcheck"], name
    assert services["db"]["image"].startswith("pgvector/pgvector:")
    assert set(load()["volumes"]) >= {"postgres", "redis", "media", "models"}


def test_worker_reserves_a_gpu_and_secrets_are_required():
    services = load()["services"]
    [device] = services["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"] and device["driver"] == "nvidia"
    environment = services["web"]["environment"]
    assert environment["SECRET_KEY"].startswith("${SECRET_KEY:?")
    assert environment["DJANGO_SETTINGS_MODULE"] == "shopalook.settings.production"


def test_looks_have_their_own_worker_and_periodic_tasks_run():
    services = load()["services"]
    looks_command = services["looks-worker"]["command"]
    assert looks_command[looks_command.index("-Q") + 1] == "looks"
    catalog_command = services["worker"]["command"]
    assert "looks" not in catalog_command[catalog_command.index("-Q") + 1].split(",")
    assert "beat" in services["beat"]["command"]
