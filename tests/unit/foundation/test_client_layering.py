"""The SDK needs only httpx, eth-account and the backend's pure domain helpers, so a brand installs nothing else.

(That the backend imports neither the SDK nor the dev tools is an import-linter contract in pyproject.toml.)
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SDK_ALLOWED = {"httpx", "eth_account", "eth_utils", "loyalty_client", "backend.domain"}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_sdk_needs_only_httpx_eth_account_and_the_domain() -> None:
    offending = []
    for path in (ROOT / "loyalty_client").rglob("*.py"):
        for name in _imports(path):
            top = name.split(".")[0]
            if top in sys.stdlib_module_names or top == "__future__":
                continue
            if not any(name == ok or name.startswith(ok + ".") for ok in SDK_ALLOWED):
                offending.append(f"{path.relative_to(ROOT)}: {name}")
    assert not offending
