"""Bulk action imports: accept a whole request into the inbox at once, record its actions later, in order.

`POST /v1/actions:batch` with `Prefer: respond-async` validates every action at the boundary (422 otherwise,
nothing stored), writes them to `action_inbox` in one COPY and answers 202 with a status URL. Workers (Celery
task, embedded runner, `loyalty ledger imports`) then record them with the same `record_actions` as
the synchronous endpoints, a chunk per transaction, and the chunk's outcomes are written in that same
transaction: a crash between chunks loses nothing and records nothing twice (a chunk is either wholly recorded
with its outcomes or not at all, and idempotency keys guard against everything else).

Order: a brand's imports are recorded one at a time, oldest first, each in its own order (a refund after its
purchase in the same file works); imports of different brands proceed in parallel on several workers.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import Gauge
from pydantic import ValidationError
from sqlalchemy import Table, bindparam, exists, func, select, text, update
from sqlalchemy.orm import Session, aliased, sessionmaker

from backend.adapters.bulk import bulk_insert, is_postgres, json_text, lock_for_writing
from backend.adapters.orm.base import utcnow
from backend.adapters.orm.earning import Action
from backend.adapters.orm.imports import ActionImport, ActionInboxItem
from backend.adapters.races import RACE_ERRORS, retry_on_race
from backend.domain.actions import ActionIn
from backend.domain.rules_amounts import AmountOutOfRange, check_amount
from backend.errors import InvalidInput, NotFound
from backend.services.earning.actions.recorder import record_actions
from backend.services.earning.actions.results import ActionError, ActionResult

log = logging.getLogger("loyalty.imports")
WAITING = Gauge("loyalty_import_actions_waiting", "Actions of accepted bulk imports not recorded yet")
IMPORTS: Table = ActionImport.__table__  # type: ignore[assignment]
INBOX: Table = ActionInboxItem.__table__  # type: ignore[assignment]
ACTIONS: Table = Action.__table__  # type: ignore[assignment]
CHUNK = 2_000  # actions recorded per transaction
ATTEMPTS = 3  # an action whose chunk lost a race is retried alone this many times


class UnknownImport(NotFound):
    code = "unknown-import"
    title = "No such action import for this brand"


class InvalidStoredAction(InvalidInput):
    code = "invalid-stored-action"
    title = "The stored action no longer validates"


def accept(session: Session, brand_id: int, actions: Sequence[ActionIn]) -> ActionImport:
    """Store a validated bulk request in the inbox (not yet recorded); the caller commits.

    Every action is checked first: one amount out of range refuses the whole import (422), nothing stored."""
    for index, action in enumerate(actions):
        try:
            check_amount(action.amount)
        except AmountOutOfRange as exc:
            raise AmountOutOfRange(f"actions[{index}]: {exc.detail}") from exc
    now = utcnow()
    imported = ActionImport(
        public_id=f"imp_{uuid.uuid4().hex}",
        brand_id=brand_id,
        state="accepted",
        total=len(actions),
        processed=0,
        created=0,
        replayed=0,
        failed=0,
        created_at=now,
    )
    session.add(imported)
    session.flush()
    rows = [
        {"import_id": imported.id, "position": i, "body": a.model_dump_json(exclude_none=True)}
        for i, a in enumerate(actions)
    ]
    bulk_insert(session, INBOX, rows)
    return imported


def summary(imported: ActionImport) -> dict[str, Any]:
    path = f"/v1/action-imports/{imported.public_id}"
    return {
        "id": imported.public_id,
        "state": imported.state,
        "total": imported.total,
        "processed": imported.processed,
        "created": imported.created,
        "replayed": imported.replayed,
        "error": imported.failed,
        "created_at": imported.created_at.isoformat(),
        "finished_at": imported.finished_at.isoformat() if imported.finished_at else None,
        "status_url": path,
        "results_url": f"{path}/results",
    }


def find(session: Session, brand_id: int, public_id: str) -> ActionImport:
    imported = session.scalar(
        select(ActionImport).where(ActionImport.public_id == public_id, ActionImport.brand_id == brand_id)
    )
    if imported is None:  # NOTE: another brand's import is as unknown as a made-up id (no existence leak)
        raise UnknownImport(f"no import {public_id!r}")
    return imported


def listing(session: Session, brand_id: int, state: str | None, before: int | None, limit: int) -> dict[str, Any]:
    """A brand's imports, newest first, a page at a time (`before`: the `cursor` of the previous page)."""
    query = select(ActionImport).where(ActionImport.brand_id == brand_id)
    if state is not None:
        query = query.where(ActionImport.state == state)
    if before is not None:
        query = query.where(ActionImport.id < before)
    rows = list(session.scalars(query.order_by(ActionImport.id.desc()).limit(limit)))
    cursor = rows[-1].id if len(rows) == limit else None
    return {"items": [summary(row) for row in rows], "cursor": cursor}


def results(session: Session, imported: ActionImport, after: int, limit: int) -> dict[str, Any]:
    """A page of per-action outcomes in request order (`index` > `after`); unrecorded actions are `queued`."""
    rows = session.execute(
        select(INBOX.c.position, INBOX.c.body, INBOX.c.status, INBOX.c.problem, ACTIONS.c.result)
        .outerjoin(ACTIONS, ACTIONS.c.public_id == INBOX.c.action_id)
        .where(INBOX.c.import_id == imported.id, INBOX.c.position > after)
        .order_by(INBOX.c.position)
        .limit(limit)
    ).all()
    items = []
    for position, body, status, problem, action in rows:
        item: dict[str, Any] = {"index": position, "idempotency_key": json.loads(body)["idempotency_key"]}
        item["status"] = status or "queued"
        if status == "error":
            item["problem"] = problem
        elif status:
            item["action"] = action
        items.append(item)
    more = bool(rows) and rows[-1].position < imported.total - 1
    return {"items": items, "next_after": rows[-1].position if more else None}


# -- recording (workers) ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    status: str  # created | replayed | error
    action_id: str | None  # the recorded action (created, or the earlier one a replay returns)
    problem: dict[str, Any] | None


@dataclass
class _Item:
    id: int
    position: int
    body: str


def process_next(sessions: sessionmaker[Session], chunk: int = CHUNK) -> bool:
    """Record the next chunk of the oldest open import of some brand; False when no import waits."""
    with sessions() as session:
        lock_for_writing(session)
        imported = _claim(session)
        if imported is None:
            return False
        items = _open_items(session, imported.id, chunk)
        try:
            _record(session, imported, items)
            session.commit()
            return True
        except RACE_ERRORS:
            # NOTE: a race with another request on a key or an order, a deadlock, SQLite busy: the chunk is
            # rolled back as a whole; each action is then recorded alone, exactly as if sent one by one.
            session.rollback()
            import_id = imported.id
    log.warning("import %s: a chunk lost a race; recording its %d actions one by one", import_id, len(items))
    for item in items:
        _record_alone(sessions, import_id, item)
    return True


def process_for(sessions: sessionmaker[Session], budget_s: float, chunk: int = CHUNK) -> bool:
    """Record chunks until no import waits or `budget_s` has passed; True if anything was recorded."""
    deadline = time.monotonic() + budget_s
    busy = False
    while time.monotonic() < deadline and process_next(sessions, chunk):
        busy = True
    return busy


def backlog(session: Session) -> int:
    """Accepted actions not yet recorded."""
    waiting = select(func.coalesce(func.sum(IMPORTS.c.total - IMPORTS.c.processed), 0))
    count = int(session.scalar(waiting.where(IMPORTS.c.state == "accepted")) or 0)
    WAITING.set(count)
    return count


def _claim(session: Session) -> ActionImport | None:
    """The oldest open import of a brand with no older open import, locked (others skip it on PostgreSQL)."""
    older = aliased(ActionImport)
    query = (
        select(ActionImport)
        .where(ActionImport.state == "accepted")
        .where(
            ~exists().where(
                older.brand_id == ActionImport.brand_id, older.state == "accepted", older.id < ActionImport.id
            )
        )
        .order_by(ActionImport.id)
        .limit(1)
    )
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True, of=ActionImport)
    return session.scalar(query)


def _open_items(session: Session, import_id: int, limit: int) -> list[_Item]:
    rows = session.execute(
        select(INBOX.c.id, INBOX.c.position, INBOX.c.body)
        .where(INBOX.c.import_id == import_id, INBOX.c.status.is_(None))
        .order_by(INBOX.c.position)
        .limit(limit)
    ).all()
    return [_Item(*row) for row in rows]


def _record(session: Session, imported: ActionImport, items: list[_Item]) -> None:
    """Record `items` and write their outcomes and the import's progress, in the caller's transaction."""
    outcomes: list[Outcome | None] = [None] * len(items)
    valid: list[int] = []
    actions: list[ActionIn] = []
    for i, item in enumerate(items):
        try:
            actions.append(ActionIn.model_validate_json(item.body))
            valid.append(i)
        except ValidationError as exc:  # NOTE: only if validation rules changed since the action was accepted
            error = InvalidStoredAction(str(exc.errors()[0].get("msg", "invalid")))
            outcomes[i] = Outcome("error", None, error.fields())
    for i, result in zip(valid, record_actions(session, imported.brand_id, actions), strict=True):
        if isinstance(result, ActionResult):
            outcomes[i] = Outcome(result.status, str(result.body["action_id"]), None)
        else:
            assert isinstance(result, ActionError)
            outcomes[i] = Outcome("error", None, result.error.fields())
    done = [o for o in outcomes if o is not None]
    _store(session, [item.id for item in items], done)
    counts = {"created": 0, "replayed": 0, "error": 0}
    for outcome in done:
        counts[outcome.status] += 1
    imported.processed += len(items)
    imported.created += counts["created"]
    imported.replayed += counts["replayed"]
    imported.failed += counts["error"]
    if imported.processed >= imported.total:
        imported.state, imported.finished_at = "done", utcnow()
    session.flush()


def _record_alone(sessions: sessionmaker[Session], import_id: int, item: _Item) -> None:
    def once() -> None:
        with sessions() as session:
            lock_for_writing(session)
            query = select(ActionImport).where(ActionImport.id == import_id)
            if is_postgres(session):
                query = query.with_for_update()  # NOTE: wait for any other worker still on this import
            imported = session.scalar(query)
            still_open = session.scalar(select(INBOX.c.status.is_(None)).where(INBOX.c.id == item.id))
            if imported is None or not still_open:
                return
            _record(session, imported, [item])
            session.commit()

    # NOTE: after the last lost race the task fails; the action stays queued and the next run retries it
    retry_on_race(once, ATTEMPTS)


def _store(session: Session, ids: list[int], outcomes: list[Outcome]) -> None:
    rows = [
        {"item_id": i, "status": o.status, "action_id": o.action_id, "problem": o.problem}
        for i, o in zip(ids, outcomes, strict=True)
    ]
    if is_postgres(session):
        # NOTE: one statement for the chunk; only problems travel as JSON (an action's result is already stored
        # with the action), which keeps this cheap: array-escaping 2,000 result documents cost a third of a chunk.
        session.execute(
            text(
                "UPDATE action_inbox AS a SET status = u.status, action_id = u.action_id, "
                "problem = CAST(u.problem AS json) FROM unnest(CAST(:ids AS bigint[]), CAST(:statuses AS text[]), "
                "CAST(:action_ids AS text[]), CAST(:problems AS text[])) AS u(id, status, action_id, problem) "
                "WHERE a.id = u.id"
            ),
            {
                "ids": ids,
                "statuses": [r["status"] for r in rows],
                "action_ids": [r["action_id"] for r in rows],
                "problems": [None if r["problem"] is None else json_text(r["problem"]) for r in rows],
            },
        )
        return
    session.execute(update(INBOX).where(INBOX.c.id == bindparam("item_id")), rows)
