"""Install solc-js as an offline "solc 0.8.28" for py-solc-x and ape-solidity (no compiler downloads).

Writes `.venv/solcx/solc-v0.8.28`, a shell wrapper around `scripts/solcjs_standard_json.js`. Point tools at it
with `solc_binary=` (py-solc-x) or `SOLCX_BINARY_PATH=<repo>/.venv/solcx` (ape-solidity). Idempotent.
"""

from __future__ import annotations

import json
import shutil
import stat
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOLC_VERSION = "0.8.28"
INSTALL_DIR = REPO / ".venv" / "solcx"
WRAPPER = INSTALL_DIR / f"solc-v{SOLC_VERSION}"
SCRIPT = REPO / "scripts" / "solcjs_standard_json.js"


def installed_solcjs_version() -> str:
    package = REPO / "node_modules" / "solc" / "package.json"
    if not package.exists():
        raise SystemExit(f"install_solc: {package} missing; run `npm ci` first")
    return str(json.loads(package.read_text())["version"])


def wrapper_text(node: str) -> str:
    return (
        "#!/bin/sh\n"
        "# solc-js standing in for a native solc (written by scripts/install_solc.py)\n"
        f'exec "{node}" "{SCRIPT}" "$@"\n'
    )


def main() -> int:
    version = installed_solcjs_version()
    if version != SOLC_VERSION:
        raise SystemExit(f"install_solc: node_modules has solc {version}, expected {SOLC_VERSION}")
    node = shutil.which("node")
    if node is None:
        raise SystemExit("install_solc: node is not on PATH")
    INSTALL_DIR.mkdir(parents=True, exist_ok=True)
    text = wrapper_text(node)
    if WRAPPER.exists() and WRAPPER.read_text() == text:
        print(f"install_solc: {WRAPPER} already up to date (solc-js {version})")
        return 0
    WRAPPER.write_text(text)
    WRAPPER.chmod(WRAPPER.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    print(f"install_solc: wrote {WRAPPER} -> node {SCRIPT} (solc-js {version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
