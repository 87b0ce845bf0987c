import pytest
from celery import Celery

from shopalook import health

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.mark.slow
def test_healthz_reports_database_broker_and_worker_ok(celery_worker_process, client):
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert {name: check["ok"] for name, check in body["checks"].items()} == {
        "database": True,
        "broker": True,
        "worker": True,
    }
    assert body["checks"]["database"]["detail"].startswith("pgvector ")
    assert "test@" in body["checks"]["worker"]["detail"]


def test_healthz_is_503_and_names_the_broken_parts_when_the_broker_is_gone(client, monkeypatch):
    unreachable = Celery("shopalook", broker="redis://127.0.0.1:9/0", set_as_current=False)
    unreachable.conf.broker_connection_timeout = 1
    monkeypatch.setattr(health, "celery_app", unreachable)
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert body["status"] == "fail"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["worker"]["ok"] is False
