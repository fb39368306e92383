"""What the promotional event reports: its summary (figures and verdicts) and its one failure."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


class DemoFailed(RuntimeError):
    """The event could not finish (an API call failed or the platform did not catch up in time)."""


@dataclass
class DemoSummary:
    actions_sent: int = 0
    actions_credited: int = 0
    action_errors: int = 0
    imported: int = 0  # of the actions sent, those uploaded as bulk imports (202, recorded by the workers)
    brands: list[str] = field(default_factory=list)
    qr_claims: int = 0
    qr_duplicate_refused: bool = False
    qr_forged_refused: bool = False
    redemption: str = "skipped"
    batches: int = 0
    recipients: int = 0
    gas_used: int = 0
    gas_per_action: float | None = None
    naive_gas_per_action: float | None = None
    gas_ratio: float | None = None
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    mirror_reconciled: bool = False
    reconcile_detail: str = ""
    audit_passed: bool = False
    audit_detail: str = ""
    double_mints: int = 0
    duration_s: float = 0.0
    rpc_url: str = ""
    factory: str = ""
    manifests_dir: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def render(self) -> str:
        def opt(v: float | None, unit: str = "") -> str:
            return "-" if v is None else f"{v:,.1f}{unit}"

        lines = [
            "Promotional event summary",
            f"  brands:             {', '.join(self.brands)}",
            f"  actions:            {self.actions_sent:,} sent, {self.actions_credited:,} credited, "
            f"{self.action_errors} refused; {self.imported:,} uploaded as bulk imports",
            f"  QR claims:          {self.qr_claims} (duplicate refused: {self.qr_duplicate_refused}, "
            f"forged refused: {self.qr_forged_refused})",
            f"  redemption:         {self.redemption}",
            f"  batches:            {self.batches} confirmed, {self.recipients:,} recipients, gas {self.gas_used:,}",
            f"  gas per action:     {opt(self.gas_per_action)} vs {opt(self.naive_gas_per_action)} with one mint "
            f"tx per action (ratio {'-' if self.gas_ratio is None else f'{self.gas_ratio:.3f}'})",
            f"  latency p50 / p95:  {opt(self.latency_p50_s, ' s')} / {opt(self.latency_p95_s, ' s')} "
            "(action accepted → batch confirmed)",
            f"  mirror reconciled:  {'yes' if self.mirror_reconciled else 'NO'} {self.reconcile_detail}",
            f"  audit passed:       {'yes' if self.audit_passed else 'NO'} {self.audit_detail}",
            f"  double mints:       {self.double_mints}",
            f"  took:               {self.duration_s:.0f} s",
            "  audit it yourself:  loyalty audit verify --rpc-url "
            f"{self.rpc_url} --manifests {self.manifests_dir} --factory {self.factory}",
        ]
        return "\n".join(lines)
