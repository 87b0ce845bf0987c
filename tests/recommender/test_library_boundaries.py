"""recommender/ is a library: no framework imports and no environment reads."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import recommender

SOURCE_FILES = sorted(Path(recommender.__file__).parent.rglob("*.py"))
FORBIDDEN_PACKAGES = {"django", "rest_framework", "celery", "shop", "worker", "shopalook"}


def _imported_top_level_names(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def _reads_environment(tree: ast.AST) -> bool:
    return any(
        isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv", "environb"}
        for node in ast.walk(tree)
    )


@pytest.mark.parametrize("path", SOURCE_FILES, ids=lambda path: path.name)
def test_library_module_imports_no_framework_and_reads_no_environment(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))

    assert not _imported_top_level_names(tree) & FORBIDDEN_PACKAGES
    assert not _reads_environment(tree)
