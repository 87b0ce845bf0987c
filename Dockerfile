# One image for the web server and the workers.
FROM python:3.11-slim-bookworm

# glibc keeps freed memory for reuse instead of mmap/munmap per tensor: CPU inference of
# the CAM detector ran ~1.5x faster (recommender/README.md, Performance notes).
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    DJANGO_SETTINGS_MODULE=shopalook.settings.production \
    MALLOC_MMAP_THRESHOLD_=1000000000000 MALLOC_TRIM_THRESHOLD_=-1
WORKDIR /app

RUN useradd --create-home --uid 1000 shop
COPY pyproject.toml README.md ./
COPY requirements/constraints.txt requirements/constraints.txt
COPY shopalook shopalook
COPY shop shop
COPY recommender recommender
COPY worker worker
COPY manage.py ./
# The project's own wheel of dependencies; embedded dev services are unused in production.
RUN pip install -c requirements/constraints.txt . \
    && SECRET_KEY=collectstatic-only-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') \
       DATABASE_URL=postgresql://unused@localhost/unused REDIS_URL=redis://unused:6379/0 \
       STATIC_ROOT=/app/static python manage.py collectstatic --noinput

USER shop
EXPOSE 8000
CMD ["gunicorn", "shopalook.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "4", "--timeout", "60"]
