"""The committed ABI/bytecode artifacts are exactly what the pinned compiler produces from contracts/."""

from __future__ import annotations

import subprocess
import sys

from tests.contracts.kit import REPO


def test_committed_artifacts_match_a_fresh_compile() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "compile_contracts.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr or result.stdout
