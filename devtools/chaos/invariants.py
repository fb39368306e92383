"""The ledger's part of the verdict: chain balances == ledger − redemptions, one claim and credit per QR code."""

from __future__ import annotations

import base64
from collections import Counter, defaultdict
from typing import Any

import httpx
from eth_utils import to_checksum_address
from sqlalchemy import text

from devtools.chaos.tally import QrTally, RedemptionTally


def chain_balances(rpc_url: str, pairs: list[tuple[str, str]], block: int) -> dict[tuple[str, str], int]:
    """balanceOf for every (token, wallet) at `block`, in JSON-RPC batches straight to the node."""
    out: dict[tuple[str, str], int] = {}
    with httpx.Client(timeout=60) as http:
        for start in range(0, len(pairs), 500):
            chunk = pairs[start : start + 500]
            payload = [
                {
                    "jsonrpc": "2.0",
                    "id": n,
                    "method": "eth_call",
                    "params": [{"to": token, "data": "0x70a08231" + wallet[2:].lower().rjust(64, "0")}, hex(block)],
                }
                for n, (token, wallet) in enumerate(chunk)
            ]
            replies = {r["id"]: r for r in http.post(rpc_url, json=payload).json()}
            for n, pair in enumerate(chunk):
                out[pair] = int(replies[n]["result"], 16)
    return out


def check_balances(engine: Any, rpc_url: str, block: int, violations: list[str]) -> dict[str, Any]:
    """chain == Σ credit − Σ reversal − Σ debt_offset − Σ confirmed redemptions, for every (token, wallet)."""
    expected: dict[tuple[str, str], int] = defaultdict(int)
    debt: dict[tuple[str, str], int] = defaultdict(int)
    net: dict[tuple[str, str], int] = defaultdict(int)  # credited net of reversals and offsets
    sign = {"credit": 1, "reversal": -1, "debt_offset": -1}
    kinds: Counter[str] = Counter()
    with engine.connect() as conn:
        for token, wallet, kind, amount, n in conn.execute(
            text(
                "SELECT token_address, wallet, kind, sum(amount), count(*) FROM ledger_entries "
                "GROUP BY token_address, wallet, kind"
            )
        ):
            kinds[kind] += n
            key = (token, wallet)
            expected[key] += sign.get(kind, 0) * int(amount)
            net[key] += sign.get(kind, 0) * int(amount)
            if kind in ("debt", "debt_offset"):
                debt[key] += int(amount) if kind == "debt" else -int(amount)
        redeemed = conn.execute(
            text(
                "SELECT token_address, wallet, sum(amount), count(*) FROM redemptions WHERE status = 'confirmed' "
                "GROUP BY token_address, wallet"
            )
        ).all()
        for token, wallet, amount, _ in redeemed:
            expected[(token, wallet)] -= int(amount)
        minted = conn.execute(
            text(
                "SELECT token_address, wallet, sum(amount) FROM credit_outbox WHERE state = 'minted' "
                "GROUP BY token_address, wallet"
            )
        ).all()
        mirrored = conn.execute(text("SELECT token, wallet FROM idx_balances WHERE balance > 0")).all()
        denormalized = conn.execute(text("SELECT token_address, wallet, credited, debt FROM wallet_balances")).all()
    outbox = {(t, w): int(a) for t, w, a in minted}
    unminted = [k for k in set(net) | set(outbox) if net.get(k, 0) != outbox.get(k, 0)]
    for token, wallet in unminted[:5]:  # every standing credit minted exactly once
        violations.append(f"minted {outbox.get((token, wallet), 0)} != ledger {net.get((token, wallet), 0)} {wallet}")
    for token, wallet in mirrored:  # holders the ledger does not know must hold nothing
        expected.setdefault((to_checksum_address(token), to_checksum_address(wallet)), 0)
    pairs = sorted(expected)
    on_chain = chain_balances(rpc_url, pairs, block)
    bad = [(p, on_chain[p], expected[p]) for p in pairs if on_chain[p] != expected[p]]
    for (token, wallet), chain, want in bad[:10]:
        violations.append(f"balance {token} {wallet}: chain {chain} != ledger − redemptions {want}")
    if len(bad) > 10:
        violations.append(f"... {len(bad)} balance mismatches in all")
    for token, wallet, credited, owed in denormalized:  # the denormalized balances agree with the entries
        key = (token, wallet)
        if int(credited) != net.get(key, 0) or int(owed) != debt.get(key, 0):
            violations.append(
                f"wallet_balances {token} {wallet}: credited {int(credited)} debt {int(owed)}, "
                f"entries say {net.get(key, 0)} / {debt.get(key, 0)}"
            )
            break
    return {
        "balances_checked": len(pairs),
        "ledger_entries": dict(kinds),
        "debt_outstanding_wallets": sum(1 for v in debt.values() if v > 0),
        "redemptions_confirmed": sum(int(n) for *_, n in redeemed),
    }


def check_qr(engine: Any, qr: QrTally, violations: list[str]) -> dict[str, Any]:
    """Each attempted live code: one claim row, one credited action, at most one 201 answer; expired: no claim."""
    twice = [c for c, n in qr.created.items() if n > 1]
    if twice:
        violations.append(f"{len(twice)} QR codes answered 201 more than once, e.g. {twice[:3]}")
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT q.campaign_id, q.serial, q.action_id, "
                "(SELECT count(*) FROM ledger_entries e WHERE e.action_id = q.action_id AND e.kind = 'credit') "
                "FROM qr_claims q"
            )
        ).all()
        expiring_claims = conn.execute(
            text(
                "SELECT count(*) FROM qr_claims q JOIN qr_campaigns c ON c.id = q.campaign_id WHERE c.name = 'expiring'"
            )
        ).scalar()
    by_code: Counter[tuple[int, int]] = Counter((int(c), int(s)) for c, s, _, _ in rows)
    credits = {(int(c), int(s)): int(n) for c, s, _, n in rows}
    attempted = {_code_key(code) for code in qr.attempted}
    unclaimed = [k for k in attempted if by_code[k] != 1]
    if unclaimed:
        violations.append(f"{len(unclaimed)} claimed QR codes without exactly one claim row, e.g. {unclaimed[:3]}")
    miscredited = [k for k in attempted if credits.get(k) != 1]
    if miscredited:
        violations.append(f"{len(miscredited)} QR codes not credited exactly once, e.g. {miscredited[:3]}")
    if expiring_claims:
        violations.append(f"{expiring_claims} claims on expired codes")
    return {
        "qr_codes_claimed": len(attempted),
        "qr_refusals": dict(qr.refused),
        "qr_duplicates_refused": qr.refused.get("qr-already-claimed", 0),
    }


def _code_key(code: str) -> tuple[int, int]:
    blob = base64.b32decode(code + "=" * (-len(code) % 8))
    return int.from_bytes(blob[1:5], "big"), int.from_bytes(blob[5:9], "big")


def check_redemptions(engine: Any, tally: RedemptionTally, violations: list[str]) -> dict[str, Any]:
    with engine.connect() as conn:
        states = dict(
            conn.execute(
                text("SELECT status, count(*) FROM redemptions WHERE status <> 'prepared' GROUP BY status")
            ).all()
        )
        known = {r for (r,) in conn.execute(text("SELECT id FROM redemptions WHERE status <> 'prepared'"))}
    if states.get("pending"):
        violations.append(f"{states['pending']} redemptions still pending after the drain")
    lost = [r for r in tally.submitted if r not in known]
    if lost:
        violations.append(f"{len(lost)} accepted redemptions not recorded as submitted, e.g. {lost[:3]}")
    return {
        "redemptions_submitted": len(tally.submitted),
        "redemptions_by_status": {str(k): int(v) for k, v in states.items()},
        "redemption_bad_signatures_refused": tally.bad_signature_refused,
    }
