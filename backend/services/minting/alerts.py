"""Operator alerts of the minting pipeline (the helper lives in `backend.services.alerts`, shared with the relayer)."""

from backend.services.alerts import raise_alert

__all__ = ["raise_alert"]
