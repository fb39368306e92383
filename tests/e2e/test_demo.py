"""The promotional event end to end on the embedded stack: batches confirm, the mirror and the audit agree."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backend.bootstrap import Container
from backend.entrypoints.cli.main import app
from backend.entrypoints.demo.chain_clock import chain_clock_task
from backend.entrypoints.runner import EmbeddedRunner, background_tasks
from tests.support.live_server import live_server


@pytest.fixture
def platform(container: Container) -> Iterator[str]:
    """What `loyalty up` runs: API, pipeline, indexer, redemption settlement and the block clock."""
    runner = EmbeddedRunner(container, [*background_tasks(container), chain_clock_task(container, 0.5)])
    runner.start()
    try:
        with live_server(container) as url:
            yield url
    finally:
        runner.stop()


@pytest.mark.slow
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_loyalty_demo_is_reconciled_audited_and_mints_nothing_twice(
    platform: str, container: Container, tmp_path: Path
) -> None:
    s = container.settings
    args = ["demo", "--actions", "200", "--api", platform, "--manifests", str(tmp_path / "manifests")]
    args += ["--email", s.admin_email, "--password", s.admin_password, "--timeout", "240"]
    result = CliRunner().invoke(app, args)
    text = result.stdout
    assert result.exit_code == 0, (text, result.exception)
    assert "200 sent, 199 credited, 0 refused" in text  # the refund credits nothing
    uploaded = re.search(r"refused; (\d+) uploaded as bulk imports", text)
    assert uploaded and int(uploaded.group(1)) > 0, text  # one brand's bulk goes through the import path
    assert "duplicate refused: True, forged refused: True" in text
    assert re.search(r"redemption: +confirmed: 10 tokens burned gaslessly", text), text
    assert "mirror reconciled:  yes" in text and "; 0 differences)" in text
    assert "audit passed:       yes (0 findings" in text
    assert "double mints:       0" in text
    batched, naive = (
        float(x.replace(",", "")) for x in re.findall(r"gas per action: +([\d,.]+) vs ([\d,.]+)", text)[0]
    )
    assert batched < naive / 2, text
    assert f"loyalty audit verify --rpc-url {platform}/rpc --manifests {tmp_path / 'manifests'}" in text
    assert any((tmp_path / "manifests").rglob("*.json"))
