"""Record actions: idempotency → rules evaluated in memory → one bulk write of actions, ledger, outbox, balances.

Service API (the HTTP routes and the QR service call these; they write in the caller's session and never
commit — the caller owns the unit of work):

    record_action(session, brand_id: int, action: ActionIn, *, now=None) -> ActionResult
        # raises LoyaltyError subclasses (IdempotencyConflict 409, SelfReferral 422, UnknownOrder 404, ...)
    record_actions(session, brand_id: int, actions: list[ActionIn], *, now=None) -> list[ActionResult | ActionError]
        # one result per input, in order; business errors are per item, the rest is recorded
    preview_action(session, brand_id, promotion_id, action, *, now=None) -> list[Credit]   # writes nothing

`ActionResult.body` is the JSON response; a repeated idempotency key with the same canonical body returns the
stored body (`status == "replayed"`), with a different body raises `IdempotencyConflict`.

Every credit is a `ledger_entries` row and (unless it only paid off debt) a `credit_outbox` row in the same
transaction. Concurrency: see `backend.services.ledger` (SQLite write lock / PostgreSQL row locks) and the
promotion budget, which only grows through `UPDATE ... SET spent = spent + x WHERE spent + x <= budget`.

Refund policy (order linkage): a refund names the purchase's `order_id`; without `amount` it refunds what is
left, with `amount` it refunds that part. Every credit the purchase earned is taken back pro-rata (cumulative,
so partial refunds add up exactly to the full credit). For each credit: if its outbox row is still `pending`,
it is cancelled by compare-and-set (`pending → cancelled`); only the winner records a `reversal`, and whatever
the refund leaves is re-issued as a new pending outbox row. If the row was already batched or minted (or the
CAS lost to the batcher), the clawback becomes `debt` of that wallet in that token: the next credits of the
wallet in that token pay it off first (`debt_offset` entries), and only the rest is minted. Tokens already on
chain are never burned from the shopper's wallet.
"""

from __future__ import annotations

import uuid
import weakref
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, Numeric, Table, insert, literal, select, type_coerce, update
from sqlalchemy.orm import Session

from backend.adapters.orm.base import utcnow
from backend.adapters.orm.earning import (
    Action,
    Brand,
    BrandWallet,
    LedgerEntry,
    Promotion,
    PromotionUsage,
    WalletBalance,
)
from backend.adapters.orm.minting import CreditOutbox
from backend.domain.actions import ActionIn
from backend.domain.ledger import CREDIT, DEBT, DEBT_OFFSET, REVERSAL, clawback, offset_debt, split_refund
from backend.domain.rules import (
    ActionFacts,
    ActivePromotion,
    Credit,
    Evaluator,
    EvaluatorState,
    NoCredit,
    TierMultiplierRule,
    WalletState,
)
from backend.domain.rules_amounts import check_amount, from_base_units
from backend.errors import Conflict, InvalidInput, LoyaltyError, NotFound
from backend.services import tiers as tier_service
from backend.services.events import EVENTS, credited_events, event_rows, note_budget_spend
from backend.services.ledger import (
    BALANCE_KEY,
    BalanceBook,
    allocate_ids,
    by_unique_key,
    ensure_and_lock,
    is_postgres,
    lock_for_writing,
    matching,
)
from backend.services.promotions import promotion_cache
from backend.services.write_batch import WriteBatch

ACTIONS: Table = Action.__table__  # type: ignore[assignment]
ENTRIES: Table = LedgerEntry.__table__  # type: ignore[assignment]
OUTBOX: Table = CreditOutbox.__table__  # type: ignore[assignment]
PROMOTIONS: Table = Promotion.__table__  # type: ignore[assignment]
UNMINTED = ("pending", "held")  # outbox states a refund may cancel: the credit is not (and will not be) on chain


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


@dataclass(frozen=True)
class ActionResult:
    status: str  # "created" | "replayed"
    body: dict[str, Any]


@dataclass(frozen=True)
class ActionError:
    index: int
    error: LoyaltyError


@dataclass(frozen=True)
class BrandInfo:
    id: int
    chain_id: int
    token_address: str
    decimals: int


_brands: weakref.WeakKeyDictionary[Engine, dict[int, BrandInfo]] = weakref.WeakKeyDictionary()


def brand_info(session: Session, brand_id: int) -> BrandInfo:
    """Brands never change token, so their facts are cached per process."""
    engine = session.get_bind()
    assert isinstance(engine, Engine)
    cached = _brands.get(engine, {}).get(brand_id)
    if cached is None:
        brand = session.get(Brand, brand_id)
        if brand is None:
            raise NotFound(f"brand {brand_id} not found")
        cached = BrandInfo(brand.id, brand.chain_id, brand.token_address, brand.token_decimals)
        _brands.setdefault(engine, {})[brand_id] = cached
    return cached


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
            results[i] = ActionResult("replayed", body) if body_hash == hashes[i] else _conflict(i, key)
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
                results[i] = ActionResult("replayed", body) if body_hash == hashes[i] else _conflict(i, key)
    for i in repeats:
        j = first_index[actions[i].idempotency_key]
        first = results[j]
        if hashes[i] != hashes[j]:
            results[i] = _conflict(i, actions[i].idempotency_key)
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


def _conflict(index: int, key: str) -> ActionError:
    return ActionError(index, IdempotencyConflict(f"idempotency key {key!r} was used with a different body"))


def _facts(action: ActionIn, now: datetime) -> ActionFacts:
    return ActionFacts(
        type=action.type,
        wallet=action.wallet,
        at=now,
        amount=action.amount,
        currency=action.currency,
        referrer=action.referrer,
        promotion_id=action.promotion_id,
        custom_type=action.custom_type,
    )


def load_state(
    session: Session,
    brand_id: int,
    wallets: set[str],
    promotions: list[ActivePromotion],
    now: datetime,
    *,
    lock: bool,
) -> tuple[EvaluatorState, dict[str, Any]]:
    """What the rules need about these wallets (locked when about to write) and the promotions' budget left."""
    state = EvaluatorState()
    keys = [(brand_id, w) for w in wallets]
    if lock:
        rows = ensure_and_lock(
            session,
            BrandWallet.__table__,  # type: ignore[arg-type]
            ["brand_id", "wallet"],
            keys,
            {"lifetime_earned": 0, "created_at": now},
        )
    else:
        rows = []
        for among in matching(session, BrandWallet.wallet, sorted(wallets)):
            rows += session.execute(select(BrandWallet.__table__).where(BrandWallet.brand_id == brand_id, among)).all()
    loaded = {}
    for row in rows:
        state.wallets[row.wallet] = WalletState(
            row.lifetime_earned, row.first_purchase_action_id is not None, row.referred_by
        )
        loaded[row.wallet] = row
    _load_tiers(session, brand_id, wallets, promotions, state)
    budgeted = [p.promotion_id for p in promotions if p.spec.budget is not None]
    if budgeted:
        for pid, budget, spent in session.execute(
            select(Promotion.id, Promotion.budget, Promotion.spent).where(Promotion.id.in_(budgeted))
        ).tuples():
            state.budget_left[pid] = None if budget is None else max(0, budget - spent)
    capped = [p.promotion_id for p in promotions if p.spec.caps.per_wallet_per_day or p.spec.caps.per_wallet_total]
    if capped and wallets:
        periods = [now.strftime("%Y-%m-%d"), "total"]
        for among in matching(session, PromotionUsage.wallet, sorted(wallets)):
            for pid, wallet, period, amount in session.execute(
                select(PromotionUsage.promotion_id, PromotionUsage.wallet, PromotionUsage.period, PromotionUsage.amount)
                .where(PromotionUsage.promotion_id.in_(capped), among)
                .where(PromotionUsage.period.in_(periods))
            ).tuples():
                state.usage[(pid, wallet, period)] = amount
    return state, loaded


def _load_tiers(
    session: Session, brand_id: int, wallets: set[str], promotions: list[ActivePromotion], state: EvaluatorState
) -> None:
    """The tier thresholds (and, for tiers across brands, lifetime earned elsewhere) the tier multipliers need."""
    rules = [r for p in promotions for r in p.spec.rules if isinstance(r, TierMultiplierRule)]
    if not rules:
        return
    state.tiers = tier_service.tier_basis(session, brand_id)
    if any(r.basis == "platform" for r in rules):
        for wallet, tokens in tier_service.other_brands_lifetime(session, brand_id, list(wallets)).items():
            state.wallet(wallet).other_brands_lifetime = tokens


def preview_action(
    session: Session, brand_id: int, promotion_id: int, action: ActionIn, *, now: datetime | None = None
) -> list[Credit]:
    """What `action` would earn from one promotion right now; reads only."""
    now = now or utcnow()
    promotions = [p for p in promotion_cache.get(session, brand_id) if p.promotion_id == promotion_id]
    if not promotions:
        raise UnknownPromotion(f"promotion {promotion_id} not found")
    wallets = {action.wallet} | ({action.referrer} if action.referrer else set())
    state, _ = load_state(session, brand_id, wallets, promotions, now, lock=False)
    if action.type == "refund":
        return []
    return Evaluator(promotions, state).evaluate(_facts(action, now))


@dataclass
class _Pending:
    index: int
    action: ActionIn
    body_hash: str
    public_id: str
    credits: list[Credit]
    reasons: list[NoCredit]  # why nothing was earned (only when `credits` is empty)


@dataclass
class _Recorder:
    """One call's worth of work: evaluate in memory, then write everything in a few bulk statements."""

    session: Session
    brand: BrandInfo
    now: datetime
    results: list[ActionResult | ActionError | None]
    taken: set[str]  # purchase order ids already recorded (read by `record_actions`)
    book: BalanceBook = field(default_factory=BalanceBook)
    pending: list[_Pending] = field(default_factory=list)

    def run(self, items: list[tuple[int, ActionIn, str]]) -> None:
        session, brand = self.session, self.brand
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
                    self.results[index] = self.refund(action, body_hash)
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
                credits = evaluator.evaluate(_facts(action, self.now), reasons)
                self.pending.append(_Pending(index, action, body_hash, public_id, credits, reasons))
            except LoyaltyError as exc:
                self.results[index] = ActionError(index, exc)
        self.flush()
        self.save_state()
        self.writes.execute()

    # -- budget ---------------------------------------------------------------------------------------
    def _reserve(self, promotion_id: int, amount: int) -> bool:
        """Atomically add `amount` to the promotion's `spent` unless that would exceed its budget."""
        table = PROMOTIONS
        if is_postgres(self.session):
            # NOTE: Uint256 is a String type in Python; coerce so SQLAlchemy emits numeric `+`, not `||`.
            spent, budget = type_coerce(table.c.spent, Numeric(78, 0)), type_coerce(table.c.budget, Numeric(78, 0))
            delta = literal(Decimal(amount), Numeric(78, 0))  # above 2^63: must travel as numeric, not bigint
            result = self.session.execute(
                update(table).where(table.c.id == promotion_id, spent + delta <= budget).values(spent=spent + delta)
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]
        # SQLite stores uint256 as text (no exact SQL arithmetic); we hold the write lock, so compare-and-set.
        budget, spent = self.session.execute(
            select(table.c.budget, table.c.spent).where(table.c.id == promotion_id)
        ).one()
        if budget is not None and spent + amount > budget:
            return False
        self.session.execute(update(table).where(table.c.id == promotion_id).values(spent=spent + amount))
        return True

    def _budget_left(self, promotion_id: int) -> int:
        table = PROMOTIONS
        query = select(table.c.budget, table.c.spent).where(table.c.id == promotion_id)
        if is_postgres(self.session):
            query = query.with_for_update()
        budget, spent = self.session.execute(query).one()
        return max(0, budget - spent) if budget is not None else 0

    def _apply_budgets(self) -> None:
        budgeted = {p.promotion_id for p in self.promotions if p.spec.budget is not None}
        totals: dict[int, int] = defaultdict(int)
        for item in self.pending:
            for credit in item.credits:
                if credit.promotion_id in budgeted:
                    totals[credit.promotion_id] += credit.amount
        for pid, total in sorted(totals.items()):
            if total == 0 or self._reserve(pid, total):
                continue
            # NOTE: a concurrent request spent the budget since we read it: trim this request's credits in
            # order to what is left (row now locked), then reserve exactly that.
            left = self._budget_left(pid)
            for item in self.pending:
                trimmed = []
                for credit in item.credits:
                    if credit.promotion_id == pid:
                        keep = min(credit.amount, left)
                        left -= keep
                        self._forget(credit, credit.amount - keep)
                        if keep == 0:
                            item.reasons.append(NoCredit("budget-exhausted", pid))
                            continue
                        credit = Credit(**{**credit.__dict__, "amount": keep})
                    trimmed.append(credit)
                item.credits = trimmed
            kept = sum(c.amount for item in self.pending for c in item.credits if c.promotion_id == pid)
            if kept and not self._reserve(pid, kept):
                raise Conflict("promotion budget changed concurrently; retry")
        spends = [(c.promotion_id, c.amount) for p in self.pending for c in p.credits if c.promotion_id in budgeted]
        note_budget_spend(self.session, self.brand.id, spends)  # promotion.budget_low event at 90 %

    def _forget(self, credit: Credit, amount: int) -> None:
        """Undo the usage and lifetime the evaluator counted for credit that the budget took away."""
        if amount <= 0:
            return
        self.state.wallet(credit.wallet).lifetime_earned -= amount
        for key in list(self.state.usage):
            if key[0] == credit.promotion_id and key[1] == credit.wallet:
                self.state.usage[key] -= amount

    # -- writes ---------------------------------------------------------------------------------------
    def flush(self) -> None:
        if not self.pending:
            return
        self._apply_budgets()
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
                entry = self._entry(
                    item.public_id, CREDIT, credit.wallet, credit.chain_id, credit.token_address, credit.amount
                )
                entry.update(promotion_id=credit.promotion_id, promotion_version=credit.version, rule_id=credit.rule_id)
                entry_rows.append(entry)
                credit_index = len(entry_rows) - 1
                if offset:
                    balance.apply(DEBT_OFFSET, offset)
                    offset_entry = self._entry(
                        item.public_id, DEBT_OFFSET, credit.wallet, credit.chain_id, credit.token_address, offset
                    )
                    offset_entry.update(rule_id=credit.rule_id, note="pays off debt from an earlier refund")
                    entry_rows.append(offset_entry)
                if credit.amount - offset:
                    outbox_rows.append((credit_index, self._outbox(item.public_id, credit, credit.amount - offset)))
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
            body = self._body(item.public_id, action, credits=credits_out)
            if not credits_out:  # NOTE: stored with the body, so a replay answers the same reasons
                body["no_credit_reasons"] = [r.as_dict() for r in item.reasons] or [{"code": "budget-exhausted"}]
            action_rows.append(self._action_row(item.public_id, action, item.body_hash, body))
            self.results[item.index] = ActionResult("created", body)
        self._insert(action_rows, entry_rows, outbox_rows)
        credited = credited_events(self.brand.id, [row["result"] for row in action_rows])
        self.writes.insert(EVENTS, event_rows(credited))  # webhooks + feed
        self.pending = []

    def _insert(
        self,
        action_rows: list[dict[str, Any]],
        entry_rows: list[dict[str, Any]],
        outbox_rows: list[tuple[int, dict[str, Any]]],
    ) -> None:
        session, writes = self.session, self.writes
        writes.insert(ACTIONS, action_rows)
        ids: list[int] = []
        if entry_rows and is_postgres(session):
            # NOTE: ids from the sequence in one query, so the entries and the outbox rows naming them can be
            # sent together (no RETURNING round trip).
            ids = allocate_ids(session, ENTRIES, len(entry_rows))
            writes.insert(ENTRIES, [row | {"id": i} for row, i in zip(entry_rows, ids, strict=True)])
        elif entry_rows:
            writes.execute()
            returning = insert(ENTRIES).returning(ENTRIES.c.id, sort_by_parameter_order=True)
            ids = list(session.execute(returning, entry_rows).scalars())
        writes.insert(OUTBOX, [row | {"ledger_entry_id": ids[i]} if i >= 0 else row for i, row in outbox_rows])

    def _entry(self, action_id: str, kind: str, wallet: str, chain_id: int, token: str, amount: int) -> dict[str, Any]:
        return {
            "brand_id": self.brand.id,
            "action_id": action_id,
            "kind": kind,
            "wallet": wallet,
            "chain_id": chain_id,
            "token_address": token,
            "amount": amount,
            "promotion_id": None,
            "promotion_version": None,
            "rule_id": None,
            "ref_entry_id": None,
            "outbox_id": None,
            "note": None,
            "created_at": self.now,
        }

    def _outbox(self, action_id: str, credit: Credit, amount: int) -> dict[str, Any]:
        return {
            "chain_id": credit.chain_id,
            "token_address": credit.token_address,
            "wallet": credit.wallet,
            "amount": amount,
            "action_id": action_id,
            "ledger_entry_id": None,
            "rule_id": credit.rule_id,
            "brand_id": self.brand.id,
            "state": "pending",
            "batch_id": None,
            "reason": None,
            "created_at": self.now,
            "updated_at": self.now,
        }

    def _body(self, public_id: str, action: ActionIn, **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "action_id": public_id,
            "idempotency_key": action.idempotency_key,
            "type": action.type,
            "wallet": action.wallet,
            "order_id": action.order_id,
            "created_at": self.now.isoformat(),
            "credits": [],
            "reversals": [],
        }
        body.update(extra)
        return body

    def _action_row(self, public_id: str, action: ActionIn, body_hash: str, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "public_id": public_id,
            "brand_id": self.brand.id,
            "idempotency_key": action.idempotency_key,
            "body_hash": body_hash,
            "type": action.type,
            "wallet": action.wallet,
            "customer_id": action.customer_id,
            "order_id": action.order_id,
            "purchase_order_id": action.order_id if action.type == "purchase" else None,
            "amount": None if action.amount is None else format(action.amount, "f"),
            "currency": action.currency,
            "refunded_amount": None,
            "referrer": action.referrer,
            "promotion_id": action.promotion_id,
            "custom_type": action.custom_type,
            "result": body,
            "created_at": self.now,
        }

    # -- refunds --------------------------------------------------------------------------------------
    def refund(self, action: ActionIn, body_hash: str) -> ActionResult:
        session, brand = self.session, self.brand
        query = select(Action).where(Action.brand_id == brand.id, Action.purchase_order_id == action.order_id)
        if is_postgres(session):
            query = query.with_for_update()  # serializes refunds of one order
        purchase = session.scalar(query)
        if purchase is None or purchase.amount is None:
            raise UnknownOrder(f"no purchase with order_id {action.order_id!r}")
        if action.currency is not None and action.currency != purchase.currency:
            raise InvalidInput(f"the purchase was in {purchase.currency}")
        total = Decimal(purchase.amount)
        before = Decimal(purchase.refunded_amount or 0)
        now_refunded = action.amount if action.amount is not None else total - before
        if now_refunded <= 0 or before + now_refunded > total:
            raise RefundExceedsPurchase(f"{format(total - before, 'f')} of order {action.order_id!r} is left to refund")
        credits = list(
            session.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.action_id == purchase.public_id, LedgerEntry.kind == CREDIT)
                .order_by(LedgerEntry.id)
            )
        )
        live: dict[int, list[CreditOutbox]] = defaultdict(list)
        if credits:
            for row in session.scalars(
                select(CreditOutbox).where(
                    CreditOutbox.ledger_entry_id.in_([c.id for c in credits]), CreditOutbox.state != "cancelled"
                )
            ):
                live[row.ledger_entry_id or 0].append(row)
        self.book.load(session, {(c.wallet, c.chain_id, c.token_address) for c in credits})
        public_id = uuid.uuid4().hex
        entries: list[dict[str, Any]] = []
        reissues: list[tuple[int, dict[str, Any]]] = []
        reversals = []
        for credit in credits:
            claw = clawback(credit.amount, total, before, now_refunded)
            if claw <= 0:
                continue
            key = (credit.wallet, credit.chain_id, credit.token_address)
            balance = self.book.get(key)
            cancelled = self._cancel_pending(live.get(credit.id, []))
            split = split_refund(claw, None if cancelled is None else cancelled.amount)
            if split.reversal:
                balance.apply(REVERSAL, split.reversal)
                entry = self._entry(public_id, REVERSAL, *key, split.reversal)
                entry.update(
                    ref_entry_id=credit.id, outbox_id=cancelled.id if cancelled else None, rule_id=credit.rule_id
                )
                entry.update(promotion_id=credit.promotion_id, promotion_version=credit.promotion_version)
                entries.append(entry)
            if split.reissue:
                reissue = self._outbox(credit.action_id, self._as_credit(credit), split.reissue)
                reissue["ledger_entry_id"] = credit.id
                reissues.append((-1, reissue))
            if split.debt:
                balance.apply(DEBT, split.debt)
                entry = self._entry(public_id, DEBT, *key, split.debt)
                entry.update(ref_entry_id=credit.id, rule_id=credit.rule_id, note="refund of credit already minted")
                entry.update(promotion_id=credit.promotion_id, promotion_version=credit.promotion_version)
                entries.append(entry)
            reversals.append(
                {
                    "wallet": credit.wallet,
                    "chain_id": credit.chain_id,
                    "token_address": credit.token_address,
                    "credit_entry_id": credit.id,
                    "clawback": str(claw),
                    "reversed": str(split.reversal),
                    "debt": str(split.debt),
                    "still_pending": str(split.reissue),
                }
            )
        purchase.refunded_amount = format(before + now_refunded, "f")
        body = self._body(public_id, action, reversals=reversals, refunded=format(now_refunded, "f"))
        self._insert([self._action_row(public_id, action, body_hash, body)], entries, reissues)
        self.writes.execute()
        session.flush()
        return ActionResult("created", body)

    def _cancel_pending(self, rows: list[CreditOutbox]) -> CreditOutbox | None:
        """Compare-and-set `pending → cancelled`; only the winner may reverse (the batcher may take it first).

        A `held` credit (one the pipeline can never mint) is never on chain either, so it is cancelled the same way."""
        for row in rows:
            if row.state not in UNMINTED:
                continue
            won = self.session.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id == row.id, OUTBOX.c.state == row.state)
                .values(state="cancelled", reason="refunded", updated_at=self.now)
            )
            if won.rowcount == 1:  # type: ignore[attr-defined]
                return row
        return None

    def _as_credit(self, entry: LedgerEntry) -> Credit:
        return Credit(
            entry.wallet,
            entry.amount,
            entry.promotion_id or 0,
            entry.promotion_version or 0,
            entry.rule_id or "",
            entry.chain_id,
            entry.token_address,
        )

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
