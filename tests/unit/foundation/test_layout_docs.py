"""The README's folder table and docs/architecture.md match the tree: every folder they name exists, every
package of the backend and every feature package of the services is named."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _folder_table() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("| folder | what lives there |")
    return readme[start : readme.index("\n\n", start)]


def test_every_folder_in_the_readme_table_exists() -> None:
    for path in re.findall(r"^\| `([^`]+)`", _folder_table(), re.M):
        assert (ROOT / path).exists(), f"README names {path}, which is not in the tree"


def test_every_backend_package_and_feature_is_named() -> None:
    table = _folder_table()
    architecture = (ROOT / "docs" / "architecture.md").read_text()
    packages = [p for p in (ROOT / "backend").iterdir() if (p / "__init__.py").exists()]
    for package in packages:
        assert f"`backend/{package.name}/" in table, f"backend/{package.name}/ is missing from the README table"
    for feature in (ROOT / "backend" / "services").iterdir():
        if (feature / "__init__.py").exists():
            assert f"`{feature.name}/`" in table, f"services/{feature.name}/ is missing from the README table"
            assert f"| {feature.name} |" in architecture, f"{feature.name} is missing from docs/architecture.md"
    for routes in (ROOT / "backend" / "entrypoints" / "api" / "routes").iterdir():
        if (routes / "__init__.py").exists():
            assert f"`{routes.name}/`" in architecture, f"routes/{routes.name}/ is missing from docs/architecture.md"


def test_no_module_is_fat_without_a_reason() -> None:
    fat = []
    for path in [*(ROOT / "backend").rglob("*.py"), *(ROOT / "indexer").rglob("*.py")]:
        if "migrations" in path.parts:
            continue
        text = path.read_text()
        if text.count("\n") > 400 and "NOTE: long because" not in text[:2000]:
            fat.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
    assert not fat
