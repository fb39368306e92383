"""The sustained benchmark's pure parts: non-default settings, percentiles, step accounting, the load schedule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backend.config import Settings
from devtools.stack import process_specs
from devtools.sustained.figures import (
    Block,
    Credit,
    Step,
    drain_time_s,
    gas_ratio,
    percentile,
    step_figures,
    sustained_per_s,
)
from devtools.sustained.loadgen import schedule
from devtools.sustained.settings import non_default_settings, unknown_variables


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("LOYALTY_"):
            monkeypatch.delenv(key)


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_connection_settings_and_values_equal_to_the_default_are_not_non_default(clean_env: None) -> None:
    settings = _settings(
        database_url="postgresql+psycopg://postgres@127.0.0.1:5432/x",
        redis_url="redis://127.0.0.1:6379/0",
        redis_prefix="bench:1:",
        rpc_urls="http://127.0.0.1:8545",
        deployments_dir=Path("/tmp/d"),
        confirmations=3,  # the default, spelled out
        batch_window_s=2.0,
    )
    assert non_default_settings(settings) == {}


def test_a_changed_behaviour_setting_is_listed_with_its_variable_name(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOYALTY_CONFIRMATIONS", "2")
    monkeypatch.setenv("LOYALTY_BATCH_WINDOW_S", "5")
    monkeypatch.setenv("LOYALTY_RATE_LIMIT_PER_IP", "0")
    assert non_default_settings(Settings(_env_file=None)) == {  # type: ignore[call-arg]
        "LOYALTY_CONFIRMATIONS": 2,
        "LOYALTY_BATCH_WINDOW_S": 5.0,
        "LOYALTY_RATE_LIMIT_PER_IP": 0,
    }


def test_unknown_loyalty_variables_are_reported() -> None:
    env = {"LOYALTY_CONFIRMATION": "2", "LOYALTY_CONFIRMATIONS": "3", "PATH": "/bin", "LOYALTY_BENCH_PG_URL": "x"}
    assert unknown_variables(env) == ["LOYALTY_CONFIRMATION"]


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 99) == 99.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


def test_a_step_counts_its_own_credits_finals_backlog_and_blocks() -> None:
    step = Step("50", 50.0, started=100.0, ended=110.0, load={"accepted": 400, "sent": 500, "cpu_s": 1.5})
    credits = [
        Credit(99.0, 101.0),  # accepted before the step: not its latency, but finalized during it
        *(Credit(100.0 + i, 104.0 + i) for i in range(4)),  # 4 s each, final inside the step
        Credit(108.0, 113.0),  # accepted inside, final after it: its latency counts, its final does not
        Credit(105.0, None),  # still open
        Credit(111.0, 112.0),  # after the step
    ]
    backlog = [(99.0, 50), (101.0, 7), (109.0, 9), (111.0, 99)]
    blocks = [Block(1, 100.0, 2), Block(2, 102.0, 4), Block(3, 110.0, 9)]
    row = step_figures(step, credits, backlog, blocks)
    assert row["achieved_per_s"] == 40.0
    assert row["sent_per_s"] == 50.0
    assert row["final_per_s"] == 0.5  # finals at 101, 104, 105, 106, 107
    assert (row["p50_s"], row["p99_s"]) == (4.0, 5.0)
    assert row["not_final"] == 1
    assert row["max_backlog"] == 9
    assert (row["tx_per_block_mean"], row["tx_per_block_max"]) == (3.0, 4)
    assert row["load_generator_cpu_s"] == 1.5


def test_sustained_rate_is_the_best_step_that_kept_up_else_the_best_final_rate() -> None:
    kept_up = {"achieved_per_s": 50.0, "final_per_s": 46.0}  # 92 %: the rest is latency carried over
    fell_behind = {"achieved_per_s": 100.0, "final_per_s": 60.0}
    assert sustained_per_s([kept_up, fell_behind]) == 50.0
    assert sustained_per_s([fell_behind, {"achieved_per_s": 200.0, "final_per_s": 75.0}]) == 75.0
    assert sustained_per_s([{"achieved_per_s": None, "final_per_s": None}]) == 0.0


def test_drain_time_is_measured_from_the_end_of_the_load() -> None:
    samples = [(10.0, 0), (20.0, 300), (30.0, 100), (41.0, 0)]
    assert drain_time_s(samples, 20.0) == 21.0
    assert drain_time_s(samples[:3], 20.0) is None


def test_gas_ratio_weighs_first_and_repeat_credits_like_the_actions() -> None:
    # 10 actions, 4 to new holders: naive = 4 × 50,000 + 6 × 30,000 = 380,000
    assert gas_ratio(95_000, 10, 4, 50_000.0, 30_000.0) == 0.25
    assert gas_ratio(0, 0, 0, 50_000.0, 30_000.0) is None


def test_the_schedule_offers_the_rate_large_brands_share_and_small_brands_every_interval() -> None:
    spec = {"duration_s": 60, "large_rate": 48.0, "large": ["L1", "L2"], "small": [f"S{n}" for n in range(20)]}
    arrivals = schedule({**spec, "small_interval_s": 10.0, "seed": 1})
    large = [a for a in arrivals if a[2]]
    small = [a for a in arrivals if not a[2]]
    assert len(large) == 48 * 60
    assert len(small) == 20 * 6  # one every 10 s per small brand
    assert {a[1] for a in small if a[1] == "S3"} == {"S3"}
    assert sum(1 for a in small if a[1] == "S3") == 6
    assert [a[0] for a in arrivals] == sorted(a[0] for a in arrivals)
    assert all(0 <= a[0] < 60 for a in arrivals)


def test_the_relayer_runs_as_two_candidates_only_when_the_cli_has_it() -> None:
    without = [name for name, _ in process_specs(8000, Path("s"), relayer=False)]
    with_relayer = [name for name, _ in process_specs(8000, Path("s"), relayer=True)]
    assert without == ["api", "worker", "beat", "indexer"]
    assert with_relayer == [*without, "relayer1", "relayer2"]
