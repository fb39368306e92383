"""GDPR: export everything held off-chain about a wallet or a brand's customer id, and erase personal data.

The schema is searched, not hard-coded, so tables added by any feature are covered: a row belongs to a wallet
when one of its `WALLET_COLUMNS` holds the address, to a customer when its `customer_id` does.

Erasure removes what identifies a person off-chain and keeps the ledger intact: profile rows keyed by the wallet
alone (e.g. `shoppers`: email, preferences) are deleted; personal columns (`PERSONAL_COLUMNS`: emails, customer
ids, names) are nulled elsewhere. Amounts, action ids, ledger entries and wallet addresses stay: addresses are
on-chain identifiers already public and needed to prove every mint; nothing personal was ever put on chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, String, Table, delete, select, update
from sqlalchemy.orm import Session

from backend.adapters.orm.base import Base
from backend.adapters.orm.gdpr import GdprRequest
from backend.domain.json_nesting import json_depth
from backend.errors import InvalidInput

WALLET_COLUMNS = ("wallet", "referrer", "holder", "used_by", "referred_by")
OWN_WALLET_COLUMNS = ("wallet", "holder", "used_by")  # erasure: rows about the wallet, not about its referees
PERSONAL_COLUMNS = ("email", "customer_id", "name", "display_name", "full_name", "phone", "preferences")
SKIP_TABLES = frozenset({"gdpr_requests", "operator_users", "brands"})  # operators and brands are not shoppers
ROW_LIMIT = 10_000
EXPORT_JSON_DEPTH = 32


class CustomerIdNeedsBrand(InvalidInput):
    code = "customer-id-needs-brand"
    title = "A customer id names a person only together with its brand"


@dataclass(frozen=True)
class Subject:
    wallet: str | None = None
    customer_id: str | None = None
    brand_id: int | None = None  # a brand sees and erases only its own rows

    def __post_init__(self) -> None:
        # NOTE: two brands may each have a customer "42"; without the brand a request would reach both, and
        # through their wallets into every other brand.
        if self.customer_id is not None and self.brand_id is None:
            raise CustomerIdNeedsBrand("a customer_id request needs the customer's brand_id")

    @property
    def digest(self) -> str:
        raw = f"wallet:{self.wallet}" if self.wallet else f"customer:{self.brand_id}:{self.customer_id}"
        return hashlib.sha256(raw.encode()).hexdigest()


def _tables() -> Iterator[Table]:
    for table in Base.metadata.sorted_tables:
        if table.name not in SKIP_TABLES:
            yield table


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int) and abs(value) >= 2**53:
        return str(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, dict | list):
        text = json.dumps(value)
        # NOTE: a document nested too deeply for the answer's encoder (stored before input was bounded) is
        # exported as its JSON text: an export must never fail.
        return value if json_depth(text.encode()) <= EXPORT_JSON_DEPTH else text
    return value


def _wallet_match(table: Table, wallet: str, names: tuple[str, ...]) -> Any | None:
    columns = [table.c[name] for name in names if name in table.c and isinstance(table.c[name].type, String)]
    if not columns:
        return None
    forms = [wallet, wallet.lower()]  # the chain mirror stores lowercase in places
    condition: Any = columns[0].in_(forms)
    for column in columns[1:]:
        condition = condition | column.in_(forms)
    return condition


def _conditions(
    table: Table, subject: Subject, wallets: list[str], names: tuple[str, ...] = WALLET_COLUMNS
) -> Any | None:
    condition = None
    if subject.customer_id is not None and "customer_id" in table.c:
        condition = table.c.customer_id == subject.customer_id
    for wallet in wallets:
        match = _wallet_match(table, wallet, names)
        if match is not None:
            condition = match if condition is None else condition | match
    if condition is None:
        return None
    if subject.brand_id is not None:
        if "brand_id" not in table.c:
            return None  # cross-brand data (platform balances, profiles) is not the brand's to see
        condition = condition & (table.c.brand_id == subject.brand_id)
    return condition


def linked_wallets(session: Session, subject: Subject) -> list[str]:
    """The wallet itself, or the wallets the brand's customer id earned with."""
    if subject.wallet is not None:
        return [subject.wallet]
    actions = Base.metadata.tables["actions"]
    query = select(actions.c.wallet).where(actions.c.customer_id == subject.customer_id).distinct()
    if subject.brand_id is not None:
        query = query.where(actions.c.brand_id == subject.brand_id)
    return sorted(set(session.scalars(query)))


def export(session: Session, subject: Subject, requested_by: str) -> dict[str, Any]:
    wallets = linked_wallets(session, subject)
    data: dict[str, list[dict[str, Any]]] = {}
    for table in _tables():
        condition = _conditions(table, subject, wallets)
        if condition is None:
            continue
        rows = session.execute(select(table).where(condition).limit(ROW_LIMIT)).mappings().all()
        if rows:
            data[table.name] = [{k: _jsonable(v) for k, v in row.items()} for row in rows]
    _log(session, "export", subject, requested_by, {name: len(rows) for name, rows in data.items()})
    return {
        "subject": {"wallet": subject.wallet, "customer_id": subject.customer_id, "brand_id": subject.brand_id},
        "wallets": wallets,
        "tables": data,
        "on_chain": "token balances and transfers of these wallets are public on the chain; they hold no personal data",
    }


def _is_profile(table: Table) -> bool:
    keys = [c.name for c in table.primary_key.columns]
    return keys == ["wallet"] and any(name in table.c for name in PERSONAL_COLUMNS if name != "customer_id")


def _erased_value(column: Column[Any]) -> Any:
    if column.nullable:
        return None
    if isinstance(column.type, String):
        return "erased"
    return {} if column.name == "preferences" else None


def erase(session: Session, subject: Subject, requested_by: str) -> dict[str, int]:
    wallets = linked_wallets(session, subject)
    touched: dict[str, int] = {}
    for table in _tables():
        condition = _conditions(table, subject, wallets, OWN_WALLET_COLUMNS)
        personal = [table.c[name] for name in PERSONAL_COLUMNS if name in table.c]
        if condition is None or not personal:
            continue
        if subject.brand_id is None and subject.wallet is not None and _is_profile(table):
            result = session.execute(delete(table).where(condition))
        else:
            result = session.execute(
                update(table).where(condition).values({c.name: _erased_value(c) for c in personal})
            )
        if result.rowcount:  # type: ignore[attr-defined]
            touched[table.name] = int(result.rowcount)  # type: ignore[attr-defined]
    _log(session, "erase", subject, requested_by, touched)
    return touched


def _log(session: Session, kind: str, subject: Subject, requested_by: str, summary: dict[str, int]) -> None:
    session.add(
        GdprRequest(
            kind=kind,
            subject_hash=subject.digest,
            brand_id=subject.brand_id,
            requested_by=requested_by,
            summary=json.dumps(summary, sort_keys=True),
        )
    )
    session.flush()
