"""Actions as brands send them (validated at the boundary) and their canonical hash for idempotency."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

from backend.domain.addresses import Address
from backend.domain.rules_amounts import ActionAmount

MAX_BATCH = 10_000
MAX_ID = 2**31 - 1  # ids are 32-bit integer columns; larger numbers are refused at the boundary, not by the DB


Wallet = Address  # a shopper's wallet: the one address type (backend.domain.addresses)
Text = Annotated[StrictStr, Field(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$")]


class ActionIn(BaseModel):
    """One user action; which fields are required depends on `type`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    idempotency_key: Text = Field(description="unique per brand; a retry with the same body returns the first result")
    type: Literal["purchase", "refund", "referral", "promotion", "custom"]
    wallet: Wallet
    customer_id: Text | None = Field(default=None, description="the brand's own customer id; never on chain")
    order_id: Text | None = Field(default=None, description="purchase: the order; refund: the refunded purchase")
    amount: ActionAmount | None = Field(
        default=None, description='decimal string, e.g. "12.50" (refund: partial amount)'
    )
    currency: Annotated[StrictStr, Field(pattern=r"^[A-Z]{3}$")] | None = None
    referrer: Wallet | None = Field(default=None, description="referral: the wallet that referred `wallet`")
    promotion_id: Annotated[int, Field(ge=1, le=MAX_ID)] | None = Field(
        default=None, description="promotion participation"
    )
    custom_type: Annotated[StrictStr, Field(pattern=r"^[a-z0-9_.-]{1,64}$")] | None = None

    @model_validator(mode="after")
    def _fields_for_type(self) -> ActionIn:
        required = {
            "purchase": ("order_id", "amount", "currency"),
            "refund": ("order_id",),
            "referral": ("referrer",),
            "promotion": ("promotion_id",),
            "custom": ("custom_type",),
        }[self.type]
        missing = [name for name in required if getattr(self, name) is None]
        if missing:
            raise ValueError(f"{self.type} actions need {', '.join(missing)}")
        if self.type == "purchase" and self.amount is not None and self.amount <= 0:
            raise ValueError("purchase amount must be positive")
        if self.type == "refund" and self.amount is not None and self.amount <= 0:
            raise ValueError("refund amount must be positive")
        return self

    def body_hash(self) -> str:
        """sha256 of the canonical body: same action → same hash regardless of key order or spelling."""
        # NOTE: the fields' own values (what `model_dump(exclude_none=True)` gives, without its per-call cost);
        # the stored hashes of earlier requests depend on this exact canonical form.
        data: dict[str, Any] = {k: v for k, v in self.__dict__.items() if v is not None}
        if isinstance(data.get("amount"), Decimal):
            data["amount"] = format(data["amount"].normalize(), "f")
        return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class ActionBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    actions: list[ActionIn] = Field(min_length=1, max_length=MAX_BATCH)
