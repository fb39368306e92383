"""Record actions: idempotency → rules evaluated in memory → one bulk write (see the package docstring)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from backend.adapters.bulk import BALANCE_KEY, by_unique_key, is_postgres, lock_for_writing
from backend.adapters.orm.base import utcnow
from backend.adapters.orm.earning import BrandWallet, PromotionUsage, WalletBalance
from backend.adapters.write_batch import WriteBatch
from backend.domain.actions import ActionIn
from backend.domain.ledger import CREDIT, DEBT_OFFSET, offset_debt
from backend.domain.rules import Evaluator, NoCredit
from backend.domain.rules_amounts import check_amount, from_base_units
from backend.errors import LoyaltyError
from backend.services.earning.actions.budgets import apply_budgets
from backend.services.earning.actions.errors import AlreadyReferred, DuplicateOrder, SelfReferral, UnknownPromotion
from backend.services.earning.actions.refunds import refund
from backend.services.earning.actions.results import ActionError, ActionResult, conflict
from backend.services.earning.actions.rows import ACTIONS, RowBuilder, insert_rows
from backend.services.earning.actions.state import BrandInfo, PendingAction, brand_info, facts, load_state
from backend.services.earning.ledger import BalanceBook
from backend.services.earning.promotions import promotion_cache
from backend.services.notifications.events import EVENTS, credited_events, event_rows


def record_action(session: Session, brand_id: int, action: ActionIn, *, now: datetime | None = None) -> ActionResult:
    (result,) = record_actions(session, brand_id, [action], now=now)
    if isinstance(result, ActionError):
        raise result.error
    return result


def record_actions(
    session: Session, brand_id: int, actions: list[ActionIn], *, now: datetime | None = None
) -> list[ActionResult | ActionError]:
    now = now or utcnow()
    brand = brand_info(session, brand_id)
    lock_for_writing(session)
    hashes = [a.body_hash() for a in actions]
    # NOTE: orders are read before idempotency keys. A concurrent request with the same key and body that commits
    # between the two reads then shows up as a replay (its key is seen), never as a duplicate order.
    orders = sorted({a.order_id for a in actions if a.type == "purchase" and a.order_id})
    order_key = "purchase_order_id"
    recorded = by_unique_key(session, ACTIONS, {"brand_id": brand_id}, order_key, orders, [order_key])
    taken: set[str] = {row[0] for row in recorded}
    existing = _stored(session, brand_id, sorted({a.idempotency_key for a in actions}))
    results: list[ActionResult | ActionError | None] = [None] * len(actions)
    first_index: dict[str, int] = {}
    fresh: list[int] = []
    repeats: list[int] = []
    for i, action in enumerate(actions):
        key = action.idempotency_key
        if key in existing:
            body_hash, body = existing[key]
            results[i] = ActionResult("replayed", body) if body_hash == hashes[i] else conflict(i, key)
        elif key in first_index:
            repeats.append(i)
        else:
            first_index[key] = i
            fresh.append(i)
    if fresh:
        _Recorder(session, brand, now, results, taken).run([(i, actions[i], hashes[i]) for i in fresh])
        # NOTE: a refusal (already referred, duplicate order, refund too large) can come from a concurrent request
        # with the same key that committed after our key lookup (we waited for its row locks): that is a replay.
        refused = {actions[i].idempotency_key: i for i in fresh if isinstance(results[i], ActionError)}
        if refused and is_postgres(session):
            for key, (body_hash, body) in _stored(session, brand_id, sorted(refused)).items():
                i = refused[key]
                results[i] = ActionResult("replayed", body) if body_hash == hashes[i] else conflict(i, key)
    for i in repeats:
        j = first_index[actions[i].idempotency_key]
        first = results[j]
        if hashes[i] != hashes[j]:
            results[i] = conflict(i, actions[i].idempotency_key)
        elif isinstance(first, ActionResult):
            results[i] = ActionResult("replayed", first.body)
        else:
            results[i] = ActionError(i, first.error) if first is not None else None
    assert all(r is not None for r in results)
    return results  # type: ignore[return-value]


def _stored(session: Session, brand_id: int, keys: list[str]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Idempotency key → (body hash, result) of the brand's recorded actions among `keys`."""
    columns = ["idempotency_key", "body_hash", "result"]
    rows = by_unique_key(session, ACTIONS, {"brand_id": brand_id}, "idempotency_key", keys, columns)
    return {key: (body_hash, body) for key, body_hash, body in rows}


@dataclass
class _Recorder:
    """One call's worth of work: evaluate in memory, then write everything in a few bulk statements."""

    session: Session
    brand: BrandInfo
    now: datetime
    results: list[ActionResult | ActionError | None]
    taken: set[str]  # purchase order ids already recorded (read by `record_actions`)
    book: BalanceBook = field(default_factory=BalanceBook)
    pending: list[PendingAction] = field(default_factory=list)

    def run(self, items: list[tuple[int, ActionIn, str]]) -> None:
        session, brand = self.session, self.brand
        self.rows = RowBuilder(brand.id, self.now)
        self.writes = WriteBatch(session)  # NOTE: on PostgreSQL all writes of this call go in one round trip
        self.promotions = promotion_cache.get(session, brand.id)
        wallets = {a.wallet for _, a, _ in items} | {a.referrer for _, a, _ in items if a.referrer}
        self.state, _ = load_state(session, brand.id, wallets, self.promotions, self.now, lock=True)
        self.usage_before = dict(self.state.usage)
        self.wallets_before = {
            w: (s.lifetime_earned, s.has_purchased, s.referred_by) for w, s in self.state.wallets.items()
        }
        self.first_purchase: dict[str, str] = {}
        promotion_ids = {p.promotion_id for p in self.promotions}
        taken = self.taken
        evaluator = Evaluator(self.promotions, self.state)
        for index, action, body_hash in items:
            try:
                check_amount(action.amount)
                if action.type == "refund":
                    self.flush()
                    self.writes.execute()  # the refund reads what was just recorded (its purchase may be among it)
                    self.results[index] = refund(session, self.rows, self.book, self.writes, action, body_hash)
                    continue
                if action.type == "purchase":
                    assert action.order_id is not None
                    if action.order_id in taken:
                        raise DuplicateOrder(f"order {action.order_id!r} was already recorded")
                    taken.add(action.order_id)
                elif action.type == "referral":
                    if action.referrer == action.wallet:
                        raise SelfReferral("referrer and referee are the same wallet")
                    if self.state.wallet(action.wallet).referred_by is not None:
                        raise AlreadyReferred(f"{action.wallet} was already referred")
                elif action.type == "promotion" and action.promotion_id not in promotion_ids:
                    raise UnknownPromotion(f"promotion {action.promotion_id} not found")
                public_id = uuid.uuid4().hex
                if action.type == "purchase" and not self.state.wallet(action.wallet).has_purchased:
                    self.first_purchase[action.wallet] = public_id
                reasons: list[NoCredit] = []
                credits = evaluator.evaluate(facts(action, self.now), reasons)
                self.pending.append(PendingAction(index, action, body_hash, public_id, credits, reasons))
            except LoyaltyError as exc:
                self.results[index] = ActionError(index, exc)
        self.flush()
        self.save_state()
        self.writes.execute()

    # -- writes ---------------------------------------------------------------------------------------
    def flush(self) -> None:
        if not self.pending:
            return
        apply_budgets(self.session, self.brand.id, self.promotions, self.pending, self.state)
        self.book.load(self.session, {(c.wallet, c.chain_id, c.token_address) for p in self.pending for c in p.credits})
        decimals = self.brand.decimals
        action_rows: list[dict[str, Any]] = []
        entry_rows: list[dict[str, Any]] = []
        outbox_rows: list[tuple[int, dict[str, Any]]] = []
        for item in self.pending:
            action, credits_out = item.action, []
            for credit in item.credits:
                balance = self.book.get((credit.wallet, credit.chain_id, credit.token_address))
                offset = offset_debt(credit.amount, balance.debt)
                balance.apply(CREDIT, credit.amount)
                entry = self.rows.entry(
                    item.public_id, CREDIT, credit.wallet, credit.chain_id, credit.token_address, credit.amount
                )
                entry.update(promotion_id=credit.promotion_id, promotion_version=credit.version, rule_id=credit.rule_id)
                entry_rows.append(entry)
                credit_index = len(entry_rows) - 1
                if offset:
                    balance.apply(DEBT_OFFSET, offset)
                    offset_entry = self.rows.entry(
                        item.public_id, DEBT_OFFSET, credit.wallet, credit.chain_id, credit.token_address, offset
                    )
                    offset_entry.update(rule_id=credit.rule_id, note="pays off debt from an earlier refund")
                    entry_rows.append(offset_entry)
                if credit.amount - offset:
                    outbox_rows.append((credit_index, self.rows.outbox(item.public_id, credit, credit.amount - offset)))
                credits_out.append(
                    {
                        "wallet": credit.wallet,
                        "chain_id": credit.chain_id,
                        "token_address": credit.token_address,
                        "amount": str(credit.amount),
                        "tokens": from_base_units(credit.amount, decimals),
                        "debt_offset": str(offset),
                        "to_mint": str(credit.amount - offset),
                        "promotion_id": credit.promotion_id,
                        "promotion_version": credit.version,
                        "rule_id": credit.rule_id,
                    }
                )
            body = self.rows.body(item.public_id, action, credits=credits_out)
            if not credits_out:  # NOTE: stored with the body, so a replay answers the same reasons
                body["no_credit_reasons"] = [r.as_dict() for r in item.reasons] or [{"code": "budget-exhausted"}]
            action_rows.append(self.rows.action_row(item.public_id, action, item.body_hash, body))
            self.results[item.index] = ActionResult("created", body)
        insert_rows(self.session, self.writes, action_rows, entry_rows, outbox_rows)
        credited = credited_events(self.brand.id, [row["result"] for row in action_rows])
        self.writes.insert(EVENTS, event_rows(credited))  # webhooks + feed
        self.pending = []

    # -- denormalized state ---------------------------------------------------------------------------
    def save_state(self) -> None:
        rows = []
        for wallet, state in self.state.wallets.items():
            if self.wallets_before.get(wallet) == (state.lifetime_earned, state.has_purchased, state.referred_by):
                continue
            rows.append(
                {
                    "brand_id": self.brand.id,
                    "wallet": wallet,
                    "lifetime_earned": state.lifetime_earned,
                    "referred_by": state.referred_by,
                    "first_purchase_action_id": self.first_purchase.get(wallet),
                    "created_at": self.now,
                }
            )
        # a wallet's first purchase is written once; keep the stored id when it had one
        table = BrandWallet.__table__
        for row in rows:
            if row["first_purchase_action_id"] is None:
                row.pop("first_purchase_action_id")
        with_first = [r for r in rows if "first_purchase_action_id" in r]
        without_first = [r for r in rows if "first_purchase_action_id" not in r]
        self.writes.upsert(table, with_first, ["brand_id", "wallet"])  # type: ignore[arg-type]
        self.writes.upsert(table, without_first, ["brand_id", "wallet"])  # type: ignore[arg-type]
        usage = [
            {"promotion_id": k[0], "wallet": k[1], "period": k[2], "amount": v}
            for k, v in self.state.usage.items()
            if self.usage_before.get(k) != v
        ]
        self.writes.upsert(PromotionUsage.__table__, usage, ["promotion_id", "wallet", "period"])  # type: ignore[arg-type]
        self.writes.upsert(WalletBalance.__table__, self.book.rows(), list(BALANCE_KEY))  # type: ignore[arg-type]
