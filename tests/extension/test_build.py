"""``python extension/build.py``: store zips with the runtime files only, reproducibly."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

from tests.extension.conftest import EXTENSION_SOURCE


def build(output_dir) -> dict[str, zipfile.ZipFile]:
    subprocess.run(
        [sys.executable, str(EXTENSION_SOURCE / "build.py"), "--output-dir", str(output_dir)],
        check=True,
        capture_output=True,
    )
    return {path.name: zipfile.ZipFile(path) for path in sorted(output_dir.glob("*.zip"))}


def test_build_writes_a_chromium_and_a_firefox_zip_of_the_runtime_files(tmp_path):
    version = json.loads((EXTENSION_SOURCE / "manifest.json").read_text())["version"]

    zips = build(tmp_path)

    chromium = zips[f"shopalook-extension-{version}.zip"]
    names = chromium.namelist()
    assert "manifest.json" in names
    assert "src/background.js" in names
    assert "src/panel/panel.html" in names
    assert "icons/icon-128.png" in names
    assert not [name for name in names if name.startswith("tests/") or name.endswith(".py")]
    assert not {"package.json", "README.md", ".prettierrc.json"} & set(names)
    manifest = json.loads(chromium.read("manifest.json"))
    assert manifest == json.loads((EXTENSION_SOURCE / "manifest.json").read_text())

    firefox = json.loads(zips[f"shopalook-extension-{version}-firefox.zip"].read("manifest.json"))
    assert firefox["background"] == {"scripts": ["src/background.js"], "type": "module"}
    assert firefox["sidebar_action"]["default_panel"] == "src/panel/panel.html"
    assert "sidePanel" not in firefox["permissions"]
    assert firefox["browser_specific_settings"]["gecko"]["id"]


def test_build_is_reproducible(tmp_path):
    first = build(tmp_path / "first")
    second = build(tmp_path / "second")

    for name, archive in first.items():
        assert (tmp_path / "first" / name).read_bytes() == (tmp_path / "second" / name).read_bytes()
        assert archive.namelist() == second[name].namelist()
