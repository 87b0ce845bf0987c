"""Development and demo: starts embedded PostgreSQL and Redis when their URLs are unset."""

from shopalook.devstack import ServiceError, ensure_services

from .base import *  # noqa: F403
from .base import VAR_DIR, cache_settings, celery_settings, database_settings, env, env_bool

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = env("SECRET_KEY", "insecure-development-key-never-used-in-production")

try:
    ensure_services(VAR_DIR)
except ServiceError as error:
    raise SystemExit(f"error: {error}") from None

DATABASES = {"default": database_settings(env("DATABASE_URL"))}
globals().update(celery_settings(env("REDIS_URL")))
globals().update(cache_settings(env("REDIS_URL")))

# whitenoise warns about a missing static folder until the first collectstatic.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
