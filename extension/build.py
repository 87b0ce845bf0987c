"""Package the extension for the stores.

    python extension/build.py   # var/extension/shopalook-extension-<version>.zip (Chromium)
                                # var/extension/shopalook-extension-<version>-firefox.zip

The Chromium zip holds manifest.json as written; the Firefox one gets a manifest derived
from it (an event page instead of a service worker, the sidebar instead of the side
panel). Only runtime files go in: no tests, no build script, no package.json. The zips
are reproducible: fixed timestamps and file order, so the same sources give the same bytes.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import shutil
import sys
import zipfile
from pathlib import Path

EXTENSION_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = EXTENSION_DIR.parent
DEFAULT_OUTPUT_DIR = PROJECT_ROOT / "var" / "extension"
RUNTIME_PATHS = ("manifest.json", "src", "icons")
RUNTIME_SUFFIXES = {".js", ".html", ".css", ".png", ".json"}
FIREFOX_ID = "shopalook@shopalook.example"
ZIP_TIMESTAMP = (2024, 1, 1, 0, 0, 0)

logger = logging.getLogger("build")


def read_manifest(extension_dir: Path = EXTENSION_DIR) -> dict:
    return json.loads((extension_dir / "manifest.json").read_text(encoding="utf-8"))


def runtime_files(extension_dir: Path = EXTENSION_DIR) -> list[Path]:
    """The files the browser needs, relative to ``extension_dir``, in a stable order."""
    files = []
    for top in RUNTIME_PATHS:
        path = extension_dir / top
        candidates = [path] if path.is_file() else sorted(path.rglob("*"))
        files += [c for c in candidates if c.is_file() and c.suffix in RUNTIME_SUFFIXES]
    return [file.relative_to(extension_dir) for file in files]


def firefox_manifest(manifest: dict) -> dict:
    """Firefox runs the same modules as an event page and shows the panel in its sidebar."""
    derived = copy.deepcopy(manifest)
    worker = derived["background"].pop("service_worker")
    derived["background"]["scripts"] = [worker]
    derived["permissions"] = [p for p in derived["permissions"] if p != "sidePanel"]
    panel = derived.pop("side_panel")["default_path"]
    derived["sidebar_action"] = {
        "default_panel": panel,
        "default_title": derived["short_name"],
        "default_icon": derived["action"]["default_icon"],
        "open_at_install": False,
    }
    derived.pop("minimum_chrome_version", None)
    for resource in derived.get("web_accessible_resources", []):
        resource.pop("use_dynamic_url", None)  # Firefox's extension URLs are random per install
    derived["browser_specific_settings"] = {
        "gecko": {"id": FIREFOX_ID, "strict_min_version": "128.0"}
    }
    return derived


def manifest_for(browser: str, extension_dir: Path = EXTENSION_DIR) -> dict:
    manifest = read_manifest(extension_dir)
    if browser == "chromium":
        return manifest
    if browser == "firefox":
        return firefox_manifest(manifest)
    raise ValueError(f"unknown browser {browser!r}")


def manifest_text(manifest: dict) -> str:
    return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"


def stage(target: Path, browser: str = "chromium", extension_dir: Path = EXTENSION_DIR) -> Path:
    """Copy the runtime files into ``target`` (an unpacked extension) and return it."""
    if target.exists():
        shutil.rmtree(target)
    for relative in runtime_files(extension_dir):
        destination = target / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(extension_dir / relative, destination)
    manifest = manifest_for(browser, extension_dir)
    (target / "manifest.json").write_text(manifest_text(manifest), encoding="utf-8")
    return target


def build_zip(
    output_dir: Path, browser: str = "chromium", extension_dir: Path = EXTENSION_DIR
) -> Path:
    manifest = manifest_for(browser, extension_dir)
    suffix = "" if browser == "chromium" else f"-{browser}"
    output_dir.mkdir(parents=True, exist_ok=True)
    archive = output_dir / f"shopalook-extension-{manifest['version']}{suffix}.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for relative in runtime_files(extension_dir):
            if relative.as_posix() == "manifest.json":
                data = manifest_text(manifest).encode()
            else:
                data = (extension_dir / relative).read_bytes()
            info = zipfile.ZipInfo(relative.as_posix(), date_time=ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            bundle.writestr(info, data)
    return archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR)
    parser.add_argument(
        "--browser",
        choices=("chromium", "firefox", "all"),
        default="all",
        help="which store's zip to build (default: both)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    browsers = ("chromium", "firefox") if args.browser == "all" else (args.browser,)
    for browser in browsers:
        archive = build_zip(args.output_dir, browser)
        logger.info("%s: %s (%d bytes)", browser, archive, archive.stat().st_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
