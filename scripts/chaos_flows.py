"""The chaos run's shopper-facing flows and their part of the verdict (used by scripts/chaos.py).

- Offers and QR campaigns are set up through the API, as a brand would: one offer per brand, one live QR
  campaign (fixed reward per claim) and one that expires seconds after it is created.
- QR claims: every live code claimed once, a share of them again (concurrently and later, other wallets) and
  forged, malformed and expired codes; each kind of refusal must be its own 4xx problem (`qr-already-claimed`
  409, `qr-forged`/`qr-malformed` 422, `qr-expired` 410).
- Redemptions: shoppers with real keys earn through purchases, sign in with SIWE, sign the EIP-712 redemption
  (once with another key first: `redemption-bad-signature`) and the platform relays it.
- Verdict: for every (token, wallet) the ledger or the mirror knows, balance on chain == Σ credit − Σ reversal −
  Σ debt_offset − Σ confirmed redemptions; each claimed code has exactly one claim and one credit; no
  redemption left pending.
"""

from __future__ import annotations

import base64
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from sqlalchemy import text

from backend.services import siwe

PROBLEM_JSON = "application/problem+json"
OFFER_COST_TOKENS = 10
QR_REWARD = 3 * 10**18  # base units per claim
EXPIRING_AFTER_S = 12  # the expiring campaign's codes are claimed only after this


# --- HTTP under faults ----------------------------------------------------------------------------------------


def request_with_retries(
    http: httpx.Client,
    method: str,
    path: str,
    lock: threading.Lock,
    statuses: Counter[int],
    *,
    attempts: int = 10,
    **kw: Any,
) -> tuple[httpx.Response, bool]:
    """A request retried (same body, so same idempotency key) on lost connections and back-pressure (429/503);
    the final status is tallied. Returns (response, whether it was retried)."""
    retried = False
    for attempt in range(attempts):
        try:
            r = http.request(method, path, **kw)
        except httpx.TransportError:  # an API worker was killed mid-request
            retried = True
            time.sleep(0.25 * (attempt + 1))
            continue
        if r.status_code in (429, 503):  # back-pressure is allowed; retry the same request
            retried = True
            time.sleep(0.4)
            continue
        with lock:
            statuses[r.status_code] += 1
        return r, retried
    raise RuntimeError(f"API unreachable: {method} {path}")


# --- setup ---------------------------------------------------------------------------------------------------


def setup_brand(http: httpx.Client, brand: dict[str, Any], qr_codes: int) -> None:
    """Publish an offer and create a live and an expiring QR campaign for `brand` (mutated in place)."""
    headers = brand["headers"]
    offer = http.post(
        f"/v1/brands/{brand['id']}/offers",
        json={"title": "Chaos coffee", "cost": str(OFFER_COST_TOKENS), "stock": 1_000_000},
        headers=headers,
    )
    offer.raise_for_status()
    brand["offer_id"] = offer.json()["id"]
    now = datetime.now(UTC)
    brand["qr_live"] = _campaign_codes(http, headers, "live", qr_codes, now + timedelta(hours=2))
    expiring_at = now + timedelta(seconds=EXPIRING_AFTER_S)
    brand["qr_expiring"] = _campaign_codes(http, headers, "expiring", max(5, qr_codes // 20), expiring_at)
    brand["qr_expiring_at"] = expiring_at.timestamp()


def _campaign_codes(http: httpx.Client, headers: dict[str, str], name: str, codes: int, ends_at: datetime) -> list[str]:
    body = {"name": name, "codes": codes, "ends_at": ends_at.isoformat(), "reward_amount": str(QR_REWARD)}
    created = http.post("/v1/qr/campaigns", json=body, headers=headers)
    created.raise_for_status()
    campaign_id = created.json()["id"]
    out: list[str] = []
    while len(out) < codes:
        page = http.get(
            f"/v1/qr/campaigns/{campaign_id}/codes", params={"offset": len(out), "limit": 1000}, headers=headers
        )
        page.raise_for_status()
        out += [item["code"] for item in page.json()["items"]]
    return out


def forge(code: str, rng: random.Random) -> str:
    """A code whose signature cannot verify: a tag byte flipped, or the serial changed without re-signing."""
    blob = bytearray(base64.b32decode(code + "=" * (-len(code) % 8)))
    index = rng.randrange(13, len(blob)) if rng.random() < 0.5 else rng.randrange(5, 9)
    blob[index] ^= 1 << rng.randrange(8)
    return base64.b32encode(bytes(blob)).decode().rstrip("=")


# --- QR plan and expectations --------------------------------------------------------------------------------

QR_KINDS = ("qr", "qr_race", "qr_dup", "qr_forged", "qr_malformed", "qr_expired")
# kind → the problem code a refusal must carry (None: 201 expected)
QR_EXPECTED: dict[str, tuple[int, str] | None] = {
    "qr": None,
    "qr_dup": (409, "qr-already-claimed"),
    "qr_forged": (422, "qr-forged"),
    "qr_malformed": (422, "qr-malformed"),
    "qr_expired": (410, "qr-expired"),
}


def qr_plan(
    brands: list[dict[str, Any]], wallets: Sequence[str], rng: random.Random
) -> tuple[list[tuple[str, dict[str, Any], dict[str, Any]]], list[tuple[str, dict[str, Any], dict[str, Any]]]]:
    """(first-phase items, later-phase items) of QR claims."""
    first: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    later: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for brand in brands:
        for code in brand["qr_live"]:
            roll = rng.random()
            if roll < 0.1:  # two scanners at the same moment: exactly one of them wins
                first.append(("qr_race", brand, {"code": code, "wallet": rng.choice(wallets)}))
                first.append(("qr_race", brand, {"code": code, "wallet": rng.choice(wallets)}))
                continue
            first.append(("qr", brand, {"code": code, "wallet": rng.choice(wallets)}))
            if roll < 0.25:  # re-scanned later, by the same or another wallet
                later.append(("qr_dup", brand, {"code": code.lower(), "wallet": rng.choice(wallets)}))
            if rng.random() < 0.05:
                first.append(("qr_forged", brand, {"code": forge(code, rng), "wallet": rng.choice(wallets)}))
            if rng.random() < 0.02:
                first.append(("qr_malformed", brand, {"code": code[:-3] + "!!1", "wallet": rng.choice(wallets)}))
        for code in brand["qr_expiring"]:
            later.append(("qr_expired", brand, {"code": code, "wallet": rng.choice(wallets)}))
    return first, later


@dataclass
class QrTally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    created: Counter[str] = field(default_factory=Counter)  # code → 201 responses
    attempted: set[str] = field(default_factory=set)  # live codes claimed at least once
    refused: Counter[str] = field(default_factory=Counter)  # problem code → count


def judge_qr(
    kind: str, brand: dict[str, Any], body: dict[str, Any], r: httpx.Response, retried: bool, qr: QrTally
) -> str | None:
    """Record a QR claim's answer; return a violation message or None."""
    code = body["code"].upper()
    problem = _problem_code(r)
    with qr.lock:
        if kind in ("qr", "qr_race", "qr_dup"):
            qr.attempted.add(code)
        if r.status_code == 201:
            qr.created[code] += 1
        elif problem:
            qr.refused[problem] += 1
    if kind == "qr_race":  # either may win
        ok = r.status_code == 201 or (r.status_code == 409 and problem == "qr-already-claimed")
        return None if ok else f"racing QR claim got {r.status_code} {problem}"
    expected = QR_EXPECTED[kind]
    if expected is None:
        if r.status_code == 201 or (retried and r.status_code == 409 and problem == "qr-already-claimed"):
            return None  # after a lost connection the first attempt may have won already
        return f"valid QR claim refused: {r.status_code} {r.text[:160]}"
    status, want = expected
    if r.status_code != status or problem != want:
        return f"{kind}: expected {status} {want}, got {r.status_code} {problem} {r.text[:120]}"
    return None


def _problem_code(r: httpx.Response) -> str | None:
    if not r.headers.get("content-type", "").startswith(PROBLEM_JSON):
        return None
    try:
        return str(r.json().get("code"))
    except ValueError:
        return None


# --- redemptions ---------------------------------------------------------------------------------------------


def siwe_message(address: str, nonce: dict[str, Any]) -> str:
    return siwe.message_text(nonce["domain"], address, nonce["chain_id"], nonce["nonce"])


def _sign_text(account: LocalAccount, message: str) -> str:
    return "0x" + bytes(account.sign_message(encode_defunct(text=message)).signature).hex()


def _sign_typed(account: LocalAccount, data: dict[str, Any]) -> str:
    return "0x" + bytes(account.sign_message(encode_typed_data(full_message=data)).signature).hex()


@dataclass
class Shopper:
    account: LocalAccount
    brand: dict[str, Any]
    redemptions: int = 0

    @property
    def address(self) -> str:
        return to_checksum_address(self.account.address)


def make_shoppers(brands: list[dict[str, Any]], count: int, rng: random.Random) -> list[Shopper]:
    return [Shopper(Account.from_key(rng.randbytes(32)), brands[i % len(brands)]) for i in range(count)]


def shopper_purchases(shoppers: list[Shopper], run: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """One 25 EUR purchase per shopper (25 tokens: enough for two redemptions of 10)."""
    return [
        (
            "action",
            s.brand,
            {
                "idempotency_key": f"c{run}-s{i}",
                "type": "purchase",
                "wallet": s.address,
                "order_id": f"c{run}-so{i}",
                "amount": "25.00",
                "currency": "EUR",
            },
        )
        for i, s in enumerate(shoppers)
    ]


@dataclass
class RedemptionTally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    submitted: list[str] = field(default_factory=list)  # redemption ids accepted (202)
    bad_signature_refused: int = 0
    statuses: Counter[int] = field(default_factory=Counter)


class Redeemers:
    """Shoppers redeem twice each once their tokens are minted, while the faults run."""

    def __init__(
        self,
        base: str,
        shoppers: list[Shopper],
        deadline: float,
        violation: Callable[[str], None],
        tally: RedemptionTally,
        per_shopper: int = 2,
    ) -> None:
        self.base, self.shoppers, self.deadline = base, shoppers, deadline
        self.violation, self.tally, self.per_shopper = violation, tally, per_shopper
        self.stranger = Account.from_key(b"\x42" * 32)

    def run(self, threads: int = 4) -> None:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(self.serve, self.shoppers))

    def _call(self, http: httpx.Client, method: str, path: str, **kw: Any) -> tuple[httpx.Response, bool]:
        return request_with_retries(http, method, path, self.tally.lock, self.tally.statuses, attempts=8, **kw)

    def serve(self, shopper: Shopper) -> None:
        try:
            with httpx.Client(base_url=self.base, timeout=30) as http:
                while shopper.redemptions < self.per_shopper and time.monotonic() < self.deadline:
                    if not self._spendable(http, shopper):
                        time.sleep(1.0)
                        continue
                    self._redeem(http, shopper)
        except Exception as exc:
            self.violation(f"redeemer {shopper.address}: {type(exc).__name__}: {exc}")

    def _spendable(self, http: httpx.Client, shopper: Shopper) -> bool:
        params = {"wallet": shopper.address, "brand_id": shopper.brand["id"]}
        r, _ = self._call(http, "GET", "/v1/offers/available", params=params)
        if r.status_code != 200:
            self.violation(f"offers/available got {r.status_code}: {r.text[:160]}")
            return False
        offers = [o for o in r.json().get("offers", []) if o["offer"]["id"] == shopper.brand["offer_id"]]
        return bool(offers and offers[0].get("claimable"))

    def _session(self, http: httpx.Client, shopper: Shopper) -> dict[str, str] | None:
        nonce, _ = self._call(http, "POST", "/v1/auth/siwe/nonce")
        if nonce.status_code != 200:
            self.violation(f"SIWE nonce got {nonce.status_code}: {nonce.text[:160]}")
            return None
        message = siwe_message(shopper.address, nonce.json())
        body = {"message": message, "signature": _sign_text(shopper.account, message)}
        signed, retried = self._call(http, "POST", "/v1/auth/siwe/verify", json=body)
        if signed.status_code == 200:
            return {"Authorization": f"Bearer {signed.json()['access_token']}"}
        if not retried:  # after a lost connection the nonce may be spent already: sign in again
            self.violation(f"SIWE verify got {signed.status_code}: {signed.text[:160]}")
        return None

    def _redeem(self, http: httpx.Client, shopper: Shopper) -> None:
        headers = self._session(http, shopper)
        if headers is None:
            return
        offer_id = shopper.brand["offer_id"]
        prepared, _ = self._call(http, "POST", f"/v1/offers/{offer_id}/redemptions:prepare", headers=headers)
        if prepared.status_code == 409:  # not claimable right now (pending redemptions hold the balance)
            time.sleep(1.0)
            return
        if prepared.status_code != 201:
            self.violation(f"redemption prepare got {prepared.status_code}: {prepared.text[:160]}")
            return
        p = prepared.json()
        if shopper.redemptions == 0:  # someone else's signature: refused, nothing relayed
            forged = {"redemption_id": p["redemption_id"], "signature": _sign_typed(self.stranger, p["typed_data"])}
            bad, _ = self._call(http, "POST", "/v1/redemptions", json=forged, headers=headers)
            if bad.status_code != 422 or _problem_code(bad) != "redemption-bad-signature":
                self.violation(f"forged redemption signature got {bad.status_code}: {bad.text[:160]}")
            else:
                with self.tally.lock:
                    self.tally.bad_signature_refused += 1
        body = {"redemption_id": p["redemption_id"], "signature": _sign_typed(shopper.account, p["typed_data"])}
        submitted, retried = self._call(http, "POST", "/v1/redemptions", json=body, headers=headers)
        replayed = retried and submitted.status_code == 409 and _problem_code(submitted) == "redemption-replayed"
        if submitted.status_code == 202 or replayed:
            shopper.redemptions += 1
            with self.tally.lock:
                self.tally.submitted.append(p["redemption_id"])
        elif submitted.status_code == 409 and _problem_code(submitted) in ("offer-not-claimable", "out-of-stock"):
            time.sleep(1.0)  # the balance moved between prepare and submit
        else:
            self.violation(f"redemption submit got {submitted.status_code}: {submitted.text[:160]}")


# --- verdict -------------------------------------------------------------------------------------------------


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
