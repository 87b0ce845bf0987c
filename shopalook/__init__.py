"""The ShopALook Django project: settings, URLs, WSGI, and the Celery app it wires in."""

from worker.celery import app as celery_app

__all__ = ["celery_app"]
