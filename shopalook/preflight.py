"""Checks run before the stack starts, each failing with one sentence a person can act on."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.db import OperationalError, connection

from shopalook.devstack import ServiceError


def check_database() -> None:
    database = settings.DATABASES["default"]
    host = database.get("HOST") or "localhost"
    where = host if host.startswith("/") else f"{host}:{database.get('PORT') or 5432}"
    try:
        connection.ensure_connection()
    except OperationalError as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else "no answer"
        raise ServiceError(
            f"cannot connect to the database at {where} (DATABASE_URL): {reason}"
        ) from None


def check_broker() -> None:
    import redis

    url = settings.CELERY_BROKER_URL
    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as error:
        where = urlsplit(url)
        raise ServiceError(
            f"cannot reach Redis at {where.hostname}:{where.port or 6379} (REDIS_URL): {error}"
        ) from None
    finally:
        client.close()
