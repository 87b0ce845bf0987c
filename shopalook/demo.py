"""``python -m shopalook demo``: the whole stack on one machine, until Ctrl-C.

Brings up PostgreSQL and Redis (embedded unless their URLs are set), migrates, starts a
Celery worker and the web server, imports a sample of the catalog, waits for it to be
embedded, prints the URLs and serves. Stopping keeps everything under ``var/``.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import sys
import time
from pathlib import Path

logger = logging.getLogger("shopalook.demo")


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m shopalook demo", description=__doc__)
    parser.add_argument(
        "--catalog",
        type=Path,
        default=None,
        help="catalog folder (catalog.csv + images); default DATA_DIR/catalog",
    )
    parser.add_argument(
        "--sample", type=int, default=300, help="products to import from the catalog (0: all)"
    )
    parser.add_argument(
        "--no-train",
        action="store_true",
        help="without a trained embedder in MODEL_DIR, use ImageNet features "
        "instead of training one on the catalog first",
    )
    parser.add_argument(
        "--train-items",
        type=int,
        default=2000,
        help="catalog items the first quick training uses (0: all)",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    return parser.parse_args(argv)


def run(argv: list[str]) -> int:
    arguments = parse_arguments(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopalook.settings.dev")
    # Ctrl-C stops the stack even when started from a shell that ignores SIGINT in
    # background jobs; SIGTERM does the same. Children stop, then the embedded services
    # (atexit).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    from django.core.exceptions import ImproperlyConfigured

    from shopalook.devstack import ServiceError, ensure_port_free

    try:
        ensure_port_free(arguments.port, arguments.host)
        import django

        django.setup()  # the dev settings start embedded PostgreSQL/Redis if needed
        from shopalook import preflight

        preflight.check_database()
        preflight.check_broker()
    except (ServiceError, ImproperlyConfigured) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return serve(arguments)


def serve(arguments: argparse.Namespace) -> int:
    from django.conf import settings
    from django.core.management import call_command

    from shopalook import processes

    print("Preparing the database ...", flush=True)
    call_command("migrate", interactive=False, verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    username, password = ensure_demo_admin(settings.VAR_DIR)
    extension_key = ensure_demo_api_key(settings.VAR_DIR)
    logs = settings.VAR_DIR / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    # Two workers, so a catalog re-embed never delays a shopper's look.
    children = {
        "looks worker": processes.spawn(
            processes.worker_command(
                queues="looks", name="looks@%h", beat_schedule=settings.VAR_DIR / "beat-schedule"
            ),
            log_path=logs / "looks-worker.log",
        ),
        "catalog worker": processes.spawn(
            processes.worker_command(queues="default,embeddings", name="catalog@%h"),
            log_path=logs / "catalog-worker.log",
        ),
        "web": processes.spawn(
            processes.web_command(host=arguments.host, port=arguments.port),
            log_path=logs / "web.log",
        ),
    }
    try:
        queue_unfinished_embeddings()
        use_newest_embedder(arguments, settings)
        load_catalog(arguments, settings)
        wait_for_embeddings(children)
        base = f"http://{arguments.host}:{arguments.port}"
        print(
            f"\nShopALook is running (logs in {logs}):\n"
            f"  shop look  {base}/look/\n"
            f"  admin      {base}/admin/   user {username!r}, password {password!r}\n"
            f"  extension  API base URL {base}, API key {extension_key}\n"
            f"  API docs   {base}/api/docs/\n"
            f"  products   {base}/api/v1/products\n"
            f"  health     {base}/healthz\n"
            "Press Ctrl-C to stop; data stays in var/ for the next start.",
            flush=True,
        )
        while all(child.poll() is None for child in children.values()):
            time.sleep(0.5)
        dead = [name for name, child in children.items() if child.poll() is not None]
        print(f"error: the {', '.join(dead)} process stopped; see {logs}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping ...", flush=True)
        return 0
    finally:
        for child in children.values():
            processes.stop(child)


def ensure_demo_admin(var_dir: Path) -> tuple[str, str]:
    """A superuser for the demo, its password kept (owner-readable only) under var/."""
    from django.contrib.auth import get_user_model

    secret_file = var_dir / "demo-admin-password"
    if not secret_file.exists():
        secret_file.write_text(secrets.token_urlsafe(12))
        secret_file.chmod(0o600)
    password = secret_file.read_text().strip()
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(
        username="admin", defaults={"is_staff": True, "is_superuser": True}
    )
    if not user.check_password(password):
        user.set_password(password)
        user.save()
    return "admin", password


def ensure_demo_api_key(var_dir: Path) -> str:
    """An API key for the browser extension, kept (owner-readable only) under var/."""
    from shop.models import ApiKey
    from shop.services.api_keys import api_key_authenticate, api_key_create

    key_file = var_dir / "demo-extension-api-key"
    if key_file.exists() and api_key_authenticate(key=key_file.read_text()) is not None:
        return key_file.read_text().strip()
    ApiKey.objects.filter(name="Demo extension").delete()
    key = api_key_create(name="Demo extension").key
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def load_catalog(arguments: argparse.Namespace, settings) -> None:
    from django.core.management import call_command

    folder = arguments.catalog or settings.DATA_DIR / "catalog"
    if not (folder / "catalog.csv").exists():
        print(
            f"No catalog at {folder}: starting with the products already stored "
            "(pass --catalog DIR to import one).",
            flush=True,
        )
        return
    sample = None if arguments.sample == 0 else arguments.sample
    print(f"Importing {'all' if sample is None else sample} products from {folder} ...", flush=True)
    call_command("import_catalog", str(folder), sample=sample)


def use_newest_embedder(arguments: argparse.Namespace, settings) -> None:
    """Serve with the newest trained embedder in MODEL_DIR, training one first if none.

    A new checkpoint is registered and embeds the catalog in the background; it becomes
    the active model when done (at once on a fresh install).
    """
    from django.core.management import call_command

    from recommender.checkpoints import newest_checkpoint

    checkpoint = newest_checkpoint(settings.MODEL_DIR, "embedder.pt")
    if checkpoint is None and not arguments.no_train:
        checkpoint = train_quick_embedder(arguments, settings)
    if checkpoint is None:
        print("No trained embedder in MODEL_DIR: using ImageNet features.", flush=True)
        return
    call_command("register_model", str(checkpoint), fill=True)


def train_quick_embedder(arguments: argparse.Namespace, settings) -> Path | None:
    """Quick training (frozen backbone, heads only) on the catalog's data folder."""
    import subprocess

    catalog = arguments.catalog or settings.DATA_DIR / "catalog"
    if catalog.name != "catalog" or not (catalog / "catalog.csv").exists():
        print(
            f"No training data next to {catalog} (a data folder with catalog/ and "
            "optionally pairs/ is needed): using ImageNet features.",
            flush=True,
        )
        return None
    out = settings.MODEL_DIR / "embedder-quick"
    print(f"Training a first embedder on {catalog.parent} (quick mode, once) ...", flush=True)
    command = [
        sys.executable,
        "-m",
        "recommender.train_embedder",
        "--data-dir",
        str(catalog.parent),
        "--out",
        str(out),
        "--quick",
        "--augment-passes",
        "0",
        "--on-error",
        "skip",
        "--max-items",
        str(arguments.train_items),
    ]
    if subprocess.run(command).returncode != 0:
        print("Training failed (see above): using ImageNet features.", flush=True)
        return None
    return out / "embedder.pt"


def queue_unfinished_embeddings() -> None:
    """Images left without a vector by an earlier run that stopped part-way."""
    from shop.services.embeddings import embeddings_queue_missing

    queued = embeddings_queue_missing()
    if queued:
        print(f"Queued {queued} product images still waiting for their embedding.", flush=True)


def wait_for_embeddings(children: dict) -> None:
    """Show the worker's progress until every product image has a vector."""
    from tqdm import tqdm

    from shop.models import ModelVersion
    from shop.selectors import embedding_progress

    def progress() -> tuple[int, int]:
        filling = ModelVersion.objects.filter(status=ModelVersion.Status.FILLING).first()
        return embedding_progress(filling)

    done, total = progress()
    with tqdm(total=total, initial=done, desc="embed", unit="image") as bar:
        while done < total:
            if any(child.poll() is not None for child in children.values()):
                return
            time.sleep(0.5)
            done, total = progress()
            bar.total = total
            bar.update(done - bar.n)
