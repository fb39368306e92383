"""Recording actions: idempotency → rules evaluated in memory → one bulk write of actions, ledger, outbox, balances.

Service API (the HTTP routes and the QR service call these; they write in the caller's session and never
commit — the caller owns the unit of work):

    record_action(session, brand_id: int, action: ActionIn, *, now=None) -> ActionResult
        # raises LoyaltyError subclasses (IdempotencyConflict 409, SelfReferral 422, UnknownOrder 404, ...)
    record_actions(session, brand_id: int, actions: list[ActionIn], *, now=None) -> list[ActionResult | ActionError]
        # one result per input, in order; business errors are per item, the rest is recorded
    preview_action(session, brand_id, promotion_id, action, *, now=None) -> list[EarnedCredit]   # writes nothing

Modules: `recorder` (the calls above, idempotency, one bulk write), `state` (what the rules need about the
wallets), `budgets` (promotion budgets), `rows` (the rows written), `refunds`, `preview`, `errors`, `results`.

`ActionResult.body` is the JSON response; a repeated idempotency key with the same canonical body returns the
stored body (`status == "replayed"`), with a different body raises `IdempotencyConflict`.

Every credit is a `ledger_entries` row and (unless it only paid off debt) a `credit_outbox` row in the same
transaction. Concurrency: see `backend.services.earning.ledger` (SQLite write lock / PostgreSQL row locks) and the
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
