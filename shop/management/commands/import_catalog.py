"""``manage.py import_catalog DIR``: create or update products from a catalog folder."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from shop.exceptions import CatalogImportError
from shop.services.catalog import catalog_import


class Command(BaseCommand):
    help = "Import a catalog folder (catalog.csv + images/) into the shop; safe to run again."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "folder",
            nargs="?",
            type=Path,
            default=None,
            help="folder holding catalog.csv and the images it names (default: DATA_DIR/catalog)",
        )
        parser.add_argument(
            "--sample",
            type=int,
            default=None,
            help="import only this many rows, spread over the file",
        )
        parser.add_argument(
            "--stop-on-error",
            action="store_true",
            help="stop at the first bad row instead of skipping it",
        )

    def handle(
        self, *args, folder: Path | None, sample: int | None, stop_on_error: bool, **options
    ) -> None:
        folder = folder or settings.DATA_DIR / "catalog"
        if not folder.exists():
            raise CommandError(f"catalog folder {folder} does not exist")
        if sample is not None and sample <= 0:
            raise CommandError("--sample must be a positive number")
        try:
            summary = catalog_import(
                folder=folder,
                sample=sample,
                stop_on_error=stop_on_error,
                progress=lambda rows: tqdm(
                    rows, desc="import", unit="product", disable=options["verbosity"] == 0
                ),
            )
        except CatalogImportError as error:
            raise CommandError(str(error)) from None
        for failure in summary.failed:
            self.stderr.write(f"line {failure.row} (SKU {failure.sku!r}): {failure.reason}")
        self.stdout.write(
            f"{summary.total} rows: {summary.created} created, {summary.updated} updated, "
            f"{summary.unchanged} unchanged, {len(summary.failed)} failed"
        )
