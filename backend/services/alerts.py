"""Operator alerts: a row in `operator_alerts`, a log line and a metric, raised inside the caller's transaction.

Shared by the minting pipeline and the relayer (which may not import each other's packages).
"""

from __future__ import annotations

import logging

from prometheus_client import Counter
from sqlalchemy.orm import Session

from backend.adapters.orm.minting import OperatorAlert

log = logging.getLogger("loyalty.alerts")
ALERTS = Counter("loyalty_operator_alerts_total", "Operator alerts raised", ["kind"])


def raise_alert(
    session: Session, kind: str, message: str, *, batch_id: str | None = None, severity: str = "warning"
) -> None:
    session.add(OperatorAlert(kind=kind, severity=severity, batch_id=batch_id, message=message[:500], resolved=False))
    ALERTS.labels(kind=kind).inc()
    log.warning("operator alert %s (%s) batch=%s: %s", kind, severity, batch_id, message)
