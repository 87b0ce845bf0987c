"""``manage.py register_model CHECKPOINT [--fill]``: make a trained embedder available."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from shop.exceptions import ShopError
from shop.services.embeddings import model_version_from_checkpoint, model_version_start_filling


class Command(BaseCommand):
    help = (
        "Register a trained embedder checkpoint as a model version; with --fill, embed the "
        "catalog with it in the background (it becomes active when done)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("checkpoint", type=Path)
        parser.add_argument("--fill", action="store_true")

    def handle(self, *args, checkpoint: Path, fill: bool, **options) -> None:
        if not checkpoint.is_file():
            raise CommandError(f"checkpoint {checkpoint} does not exist")
        try:
            version = model_version_from_checkpoint(path=checkpoint)
            self.stdout.write(f"model version {version.name} ({version.embedding_dimension}-d)")
            if fill and version.status not in ("active", "filling"):
                queued = model_version_start_filling(model_version_id=version.pk)
                self.stdout.write(f"queued {queued} product images for embedding")
        except ShopError as error:
            raise CommandError(error.message) from None
