"""Errors of the auditor toolkit; the API maps them to problem responses, the CLI to exit codes."""

from __future__ import annotations

from backend.errors import ChainUnavailable, InvalidInput, LoyaltyError, NotFound


class AuditError(LoyaltyError):
    code = "audit-error"
    title = "Audit failed"


class ChainReadError(AuditError, ChainUnavailable):
    """The node did not answer (or answered nonsense) after retries: the audit could not be completed."""

    code = "audit-chain-unavailable"
    title = "Could not read the chain"


class AuditUsageError(AuditError, InvalidInput):
    code = "audit-usage"
    title = "Invalid audit request"


class ManifestNotFound(AuditError, NotFound):
    code = "manifest-not-found"
    title = "No manifest for this batch"


class ActionNotFound(AuditError, NotFound):
    code = "action-not-found"
    title = "No credit for this action"
