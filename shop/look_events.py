"""Telling a request that waits for a look (``?wait=``) that the look is finished.

The worker pushes to a per-look Redis list when it stores a result; the waiting request
blocks on that list (BLPOP) instead of polling the database, so a waiting request costs
no CPU and learns of the result at once. The list expires on its own.
"""

from __future__ import annotations

import functools
import logging

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

EXPIRE_SECONDS = 120


@functools.cache
def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.LOOK_EVENTS_REDIS_URL, socket_timeout=15)


def _key(look_id) -> str:
    return f"shopalook:look-finished:{look_id}"


def look_finished(look_id) -> None:
    """Wake whoever waits for this look (best effort: waiters also read the database)."""
    try:
        pipeline = _client().pipeline()
        pipeline.rpush(_key(look_id), 1).expire(_key(look_id), EXPIRE_SECONDS).execute()
    except redis.RedisError as error:
        logger.warning("could not announce look %s: %s", look_id, error)


def wait_for_look(look_id, seconds: float) -> bool:
    """Block until the look is announced finished or the time is up; True if announced."""
    try:
        return _client().blpop([_key(look_id)], timeout=max(seconds, 0.01)) is not None
    except redis.RedisError as error:
        logger.warning("could not wait for look %s: %s", look_id, error)
        return False
