"""Read the indexer's mirror (`idx_*` tables) in one consistent database snapshot."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url

from backend.adapters.orm.indexer import IdxBalance, IdxCursor, IdxTransfer
from backend.audit.records import MirrorSnapshot, TransferLog


def read_mirror(db_url: str, chain_id: int, tokens: Iterable[str] | None = None) -> MirrorSnapshot:
    """Cursor, transfers and balances on `chain_id` (of `tokens`, or all); addresses lowercase like the indexer's."""
    options = {}
    if make_url(db_url).get_backend_name() == "postgresql":
        # NOTE: cursor, transfers and balances must describe one moment while the indexer keeps writing.
        options["isolation_level"] = "REPEATABLE READ"
    engine = create_engine(db_url, **options)
    transfers_q = select(
        IdxTransfer.token,
        IdxTransfer.tx_hash,
        IdxTransfer.log_index,
        IdxTransfer.block_number,
        IdxTransfer.from_addr,
        IdxTransfer.to_addr,
        IdxTransfer.value,
    ).where(IdxTransfer.chain_id == chain_id)
    balances_q = select(IdxBalance.token, IdxBalance.wallet, IdxBalance.balance).where(IdxBalance.chain_id == chain_id)
    if tokens is not None:
        wanted = sorted({t.lower() for t in tokens})
        transfers_q = transfers_q.where(IdxTransfer.token.in_(wanted))
        balances_q = balances_q.where(IdxBalance.token.in_(wanted))
    try:
        with engine.begin() as conn:
            cursor = conn.execute(select(IdxCursor.block_number).where(IdxCursor.chain_id == chain_id)).scalar()
            transfers: dict[tuple[str, int], TransferLog] = {}
            for token, tx_hash, log_index, block, src, dst, value in conn.execute(transfers_q):
                t = TransferLog(token.lower(), tx_hash.lower(), log_index, block, src.lower(), dst.lower(), int(value))
                transfers[(t.tx_hash, t.log_index)] = t
            balances = {
                (token.lower(), wallet.lower()): int(balance) for token, wallet, balance in conn.execute(balances_q)
            }
    finally:
        engine.dispose()
    return MirrorSnapshot(None if cursor is None else int(cursor), transfers, balances)
