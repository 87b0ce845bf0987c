"""Production: every secret and address comes from the environment; nothing is started."""

from .base import *  # noqa: F403
from .base import cache_settings, celery_settings, database_settings, env_bool, env_list, require

SECRET_KEY = require("SECRET_KEY")
if len(SECRET_KEY) < 32 or SECRET_KEY.startswith("insecure"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("SECRET_KEY must be a random value of at least 32 characters")

DEBUG = False
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
DATABASES = {"default": database_settings(require("DATABASE_URL"))}
globals().update(celery_settings(require("REDIS_URL")))
globals().update(cache_settings(require("REDIS_URL")))

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
