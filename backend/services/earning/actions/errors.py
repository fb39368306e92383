"""The business errors of recording actions (each maps to a problem response through `LoyaltyError`)."""

from __future__ import annotations

from backend.errors import Conflict, InvalidInput, NotFound


class IdempotencyConflict(Conflict):
    code = "idempotency-conflict"
    title = "The idempotency key was used with a different body"


class DuplicateOrder(Conflict):
    code = "duplicate-order"
    title = "A purchase with this order_id exists"


class SelfReferral(InvalidInput):
    code = "self-referral"
    title = "A wallet cannot refer itself"


class AlreadyReferred(Conflict):
    code = "already-referred"
    title = "This wallet was already referred"


class UnknownOrder(NotFound):
    code = "unknown-order"
    title = "No purchase with this order_id"


class RefundExceedsPurchase(Conflict):
    code = "refund-exceeds-purchase"
    title = "The refund is larger than what is left of the purchase"


class UnknownPromotion(InvalidInput):
    code = "unknown-promotion"
    title = "The brand has no such promotion"
