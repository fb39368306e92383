"""The README documents every setting and starts with the two commands."""

from __future__ import annotations

import re
from pathlib import Path

from backend.config import Settings

ROOT = Path(__file__).resolve().parents[3]


def test_every_setting_has_a_comment_and_is_in_the_readme() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("config_table", ROOT / "scripts" / "config_table.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    readme = (ROOT / "README.md").read_text()
    rows = module.rows()
    assert len(rows) == len(Settings.model_fields)
    for env, _default, comment in rows:
        assert comment, f"{env} needs a trailing comment in backend/config.py"
        assert f"`{env}`" in readme, f"{env} missing from README (run scripts/config_table.py)"


def test_readme_starts_with_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"```(?:sh|bash|shell)?\n(.*?)```", readme, re.S)
    assert block is not None
    lines = [line for line in block.group(1).splitlines() if line.strip() and not line.startswith("#")]
    assert lines == ["bash scripts/up.sh", "bash scripts/test.sh"]
    assert (ROOT / ".ci" / "run").read_text().count("scripts/test.sh") == 1
