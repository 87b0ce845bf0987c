"""The Celery application, configured from Django settings (``CELERY_*``)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopalook.settings.dev")

# Task modules by domain: catalog embedding (worker.tasks) and shoppers' looks.
app = Celery("shopalook", include=["worker.tasks", "worker.looks"])
app.config_from_object("django.conf:settings", namespace="CELERY")
