"""Thin Celery tasks for shoppers' looks: process one, re-queue stalled ones, purge old ones."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_ready
from django.conf import settings
from django.db import InterfaceError, OperationalError

from shop.services.looks import (
    look_fail,
    look_process,
    looks_purge_expired,
    looks_requeue_stalled,
)

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS = (OperationalError, InterfaceError)


@shared_task(
    bind=True,
    name="looks.process_look",
    # Idempotent by look id (each run claims the look; only the latest attempt stores a
    # result): a message whose worker died is delivered again rather than lost.
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=1,
    retry_backoff_max=10,
    max_retries=3,
    soft_time_limit=settings.LOOK_TASK_TIME_LIMIT_SECONDS - 10,
    time_limit=settings.LOOK_TASK_TIME_LIMIT_SECONDS,
)
def process_look(self, look_id: str) -> str | None:
    try:
        return look_process(look_id=look_id, worker=self.request.hostname or "")
    except SoftTimeLimitExceeded:
        look_fail(look_id=look_id, code="timeout", detail="finding the items took too long")
        return "failed"


@shared_task(name="looks.requeue_stalled", soft_time_limit=50, time_limit=60)
def requeue_stalled() -> int:
    return looks_requeue_stalled()


@shared_task(name="looks.purge_expired", soft_time_limit=240, time_limit=300)
def purge_expired() -> int:
    return looks_purge_expired()


@worker_ready.connect
def requeue_own_looks(sender=None, **_) -> None:
    """Looks this worker (same name) was running when it died: queue them again now."""
    hostname = getattr(sender, "hostname", None)
    if hostname:
        looks_requeue_stalled(worker=hostname)
