"""The progress bar shows on terminals only (CI logs and pipes get none)."""

from __future__ import annotations

import io

from rich.console import Console

from backend.audit.run import _progress


def test_progress_only_on_a_terminal() -> None:
    assert _progress(Console(file=io.StringIO())).disable is True
    assert _progress(Console(file=io.StringIO(), force_terminal=True)).disable is False
