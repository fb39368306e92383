"""Errors of the minting pipeline."""

from __future__ import annotations

from backend.errors import Conflict, LoyaltyError, NotFound


class MintingError(LoyaltyError):
    code = "minting-error"
    title = "Minting pipeline error"


class BatchNotFound(NotFound):
    code = "batch-not-found"
    title = "No such mint batch"


class ManifestMismatch(Conflict):
    code = "manifest-mismatch"
    title = "The chain holds another manifest root for this batch id"
