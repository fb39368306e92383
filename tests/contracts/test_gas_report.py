"""Gas per credited holder of batchMint on anvil, against the brief's bars (gas is deterministic, not timing)."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

import pytest

from tests.contracts.kit import REPO

# Bars from the brief: (fresh holder, existing holder) gas per credited holder at a batch size.
TARGETS = {500: (24_900, 7_900), 100: (25_400, 8_300)}


def _bench_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_gas", REPO / "scripts" / "bench_gas.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.mark.anvil
def test_batch_mint_gas_per_holder_meets_the_targets() -> None:
    report = _bench_module().run()
    table = report.table()
    print("\n" + table)
    out = REPO / "test-artifacts" / "gas_report.txt"
    out.parent.mkdir(exist_ok=True)
    out.write_text(table + "\n")
    for n, (fresh_bar, existing_bar) in TARGETS.items():
        assert report.fresh[n] <= fresh_bar, f"fresh holder gas at n={n}: {report.fresh[n]} > {fresh_bar}"
        assert report.existing[n] <= existing_bar, (
            f"existing holder gas at n={n}: {report.existing[n]} > {existing_bar}"
        )
    # A batch must beat OpenZeppelin's own _mint loop and one transaction per action.
    assert report.fresh[500] < report.oz_loop_fresh_500 < report.single_mint_fresh
    assert report.existing[500] < report.oz_loop_existing_500 < report.single_mint_existing
