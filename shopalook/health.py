"""``/healthz``: is the database up (with pgvector), the broker reachable, a worker answering?"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from worker.celery import app as celery_app

logger = logging.getLogger(__name__)

WORKER_PING_TIMEOUT_S = 1.0


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cursor.fetchone()
    if row is None:
        raise RuntimeError("pgvector extension is not installed (run migrate)")
    return f"pgvector {row[0]}"


def check_broker() -> str:
    with celery_app.connection_for_write() as broker:
        broker.ensure_connection(max_retries=1, timeout=2)
        return broker.as_uri()


def check_worker() -> str:
    # One answer is enough, and returns at once instead of waiting out the timeout.
    replies = celery_app.control.ping(timeout=WORKER_PING_TIMEOUT_S, limit=1)
    if not replies:
        raise RuntimeError(f"no worker answered within {WORKER_PING_TIMEOUT_S:g} s")
    return ", ".join(sorted(name for reply in replies for name in reply))


CHECKS: dict[str, Callable[[], str]] = {
    "database": check_database,
    "broker": check_broker,
    "worker": check_worker,
}


def run_checks() -> dict[str, dict]:
    results = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            detail, ok = check(), True
        except Exception as error:  # a health check reports every failure, whatever its type
            logger.warning("health check %s failed: %s", name, error)
            detail, ok = str(error) or type(error).__name__, False
        elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
        results[name] = {"ok": ok, "detail": detail, "ms": elapsed_ms}
    return results


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks = run_checks()
    healthy = all(result["ok"] for result in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "fail", "checks": checks}, status=200 if healthy else 503
    )
