"""Operator alerts: a row in `operator_alerts`, a log line and a metric, raised inside the caller's transaction."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from backend.adapters.orm.minting import OperatorAlert
from backend.services.minting.metrics import ALERTS

log = logging.getLogger("loyalty.minting.alerts")


def raise_alert(
    session: Session, kind: str, message: str, *, batch_id: str | None = None, severity: str = "warning"
) -> None:
    session.add(OperatorAlert(kind=kind, severity=severity, batch_id=batch_id, message=message[:500], resolved=False))
    ALERTS.labels(kind=kind).inc()
    log.warning("operator alert %s (%s) batch=%s: %s", kind, severity, batch_id, message)
