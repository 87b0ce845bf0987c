"""Tests: real PostgreSQL/pgvector and Redis (embedded, under var/test, unless URLs are set)."""

import os
from pathlib import Path

# Keep test servers and files apart from the demo's; set before base.py reads VAR_DIR.
_project_root = Path(__file__).resolve().parents[2]
os.environ["VAR_DIR"] = os.environ.get("TEST_VAR_DIR") or str(_project_root / "var" / "test")

from .dev import *  # noqa: E402, F403

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# The same maps on every machine the suite runs on (auto would pick bfloat16 on some CPUs).
DETECTOR_PRECISION = "float32"
# PyTorch runs the networks in most tests: compiling them for OpenVINO takes seconds per
# process; tests/shop/test_previews.py and tests/recommender/test_runtimes.py cover it.
INFERENCE_RUNTIME = "torch"
