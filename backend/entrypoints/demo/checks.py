"""The event's verdicts once it settled: gas and latency from the manifests, the mirror, the audit verifier.

Every mint must be explained by an exported manifest (written here for the auditor); gas per action is compared
with one `mint` transaction per action as the node estimates it for the same token.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from eth_utils import function_signature_to_4byte_selector

from backend.entrypoints.demo.plan import new_wallet
from backend.entrypoints.demo.summary import DemoFailed, DemoSummary
from loyalty_client import LoyaltyClient, Operator


def _percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, -(-len(ordered) * int(p) // 100) - 1)]


def _ts(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class EventChecks:
    """Measures and verifies what the event minted; writes into `summary`."""

    def __init__(
        self, api: LoyaltyClient, operator: Operator, rpc_url: str, manifests_dir: Path, summary: DemoSummary
    ) -> None:
        self.api, self.operator, self.rpc_url = api, operator, rpc_url
        self.manifests_dir, self.summary = manifests_dir, summary

    def _rpc(self, method: str, *params: Any) -> Any:
        answer = httpx.post(self.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
        body = answer.json()
        if "error" in body:
            raise DemoFailed(f"{method}: {body['error']}")
        return body["result"]

    def measure(self, sent_at: dict[str, float], started_at: datetime, token: str) -> None:
        """Gas and latency of this event's batches, from their manifests (also written for the auditor)."""
        lines: Counter[tuple[str, str, str, str | None]] = Counter()
        latencies: list[float] = []
        holders: set[tuple[str, str]] = set()
        mine = 0
        for batch in list(self.api.iter_batches(state="confirmed", limit=100)):
            manifest = self.api.batch_manifest(batch["batch_id"])
            path = self.manifests_dir / str(manifest["chain_id"]) / manifest["token"] / f"{batch['batch_id']}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(manifest, indent=1))
            ours = [e for e in manifest["entries"] if e["action_id"] in sent_at]
            for e in manifest["entries"]:
                lines[(manifest["token"], e["action_id"], e["wallet"], e.get("rule_id"))] += 1
            if not ours or _ts(batch["created_at"]) < started_at:
                continue
            mine += 1
            self.summary.recipients += int(batch["recipients"])
            self.summary.gas_used += int(batch["gas_used"] or 0)
            confirmed = _ts(batch["confirmed_at"]).timestamp()
            actions = {e["action_id"] for e in ours}
            latencies += [max(0.0, confirmed - sent_at[a]) for a in actions]
            holders |= {(manifest["token"], e["wallet"]) for e in ours}
        self.summary.batches = mine
        self.summary.double_mints = sum(n - 1 for n in lines.values() if n > 1)
        credited = len(latencies)
        self.summary.latency_p50_s = _percentile(latencies, 50)
        self.summary.latency_p95_s = _percentile(latencies, 95)
        if credited:
            self.summary.gas_per_action = self.summary.gas_used / credited
            self.summary.naive_gas_per_action = self._naive_gas(token, credited, len(holders))
            if self.summary.naive_gas_per_action:
                self.summary.gas_ratio = self.summary.gas_per_action / self.summary.naive_gas_per_action

    def _naive_gas(self, token: str, actions: int, fresh_holders: int) -> float | None:
        """One `mint` tx per action, as the node estimates it (fresh holder for a first credit, else existing)."""
        s = self.operator.dashboard_summary()
        if not s["hot_wallets"]:
            return None
        minter = s["hot_wallets"][0]["address"]
        selector = function_signature_to_4byte_selector("mint(address,uint256)").hex()

        def estimate(wallet: str) -> int:
            data = "0x" + selector + wallet[2:].lower().rjust(64, "0") + hex(10**18)[2:].rjust(64, "0")
            return int(self._rpc("eth_estimateGas", {"from": minter, "to": token, "data": data}), 16)

        fresh = estimate(new_wallet())
        existing = fresh
        existing_wallet = self._existing_holder(token)
        if existing_wallet:
            existing = estimate(existing_wallet)
        fresh_share = min(fresh_holders, actions)
        return (fresh_share * fresh + (actions - fresh_share) * existing) / actions

    def _existing_holder(self, token: str) -> str | None:
        for path in self.manifests_dir.rglob("*.json"):
            manifest = json.loads(path.read_text())
            if manifest["token"].lower() == token.lower() and manifest["entries"]:
                return str(manifest["entries"][0]["wallet"])
        return None

    def reconcile(self) -> None:
        report = self.operator.reconcile()
        self.summary.mirror_reconciled = bool(report.get("ok"))
        self.summary.reconcile_detail = (
            f"({report.get('balances_checked', 0):,} balances, {report.get('tokens', 0)} tokens at block "
            f"{report.get('block')}; {len(report.get('differences', []))} differences)"
        )
        for d in report.get("differences", [])[:5]:
            where = f"{d['token']} {d['wallet'] or 'supply'}"
            self.summary.reconcile_detail += f"\n    {d['kind']} {where}: mirror {d['mirror']}, chain {d['chain']}"

    def audit(self) -> None:
        from rich.console import Console

        from backend.audit.run import run_verification

        out = io.StringIO()
        console = Console(file=out, width=120, force_terminal=False)
        report = self.manifests_dir.parent / f"{self.manifests_dir.name}-audit.json"
        try:
            code = run_verification(
                self.rpc_url,
                self.manifests_dir,
                self.summary.factory or None,
                [],
                0,
                "latest",
                None,
                report,
                console,
                Console(file=io.StringIO()),
            )
        except Exception as exc:  # the verdict is "could not run", which is not a pass
            self.summary.audit_detail = f"(could not run: {exc})"
            return
        self.summary.audit_passed = code == 0
        findings = json.loads(report.read_text()).get("findings", []) if report.exists() else []
        self.summary.double_mints += sum(1 for f in findings if "double" in json.dumps(f).lower())
        self.summary.audit_detail = f"({len(findings)} findings; report {report})"
