"""The promotional event, end to end through the public HTTP API of a running platform (with the SDK).

Three brands (two with their own token, one on the coalition token), a cross-brand promotion (brand A pays a
bonus in the coalition token under a recorded consent), shoppers' purchases, referrals and a refund (bulk and
single requests), a QR campaign (claims, one duplicate and one forged code refused), one gasless redemption
signed with a shopper's own key; then it waits for the batches and the indexer, and checks the result:
mirror reconciled against the chain, every mint explained by an exported manifest (the audit verifier over
JSON-RPC), no action minted twice. Gas per action is compared with one `mint` transaction per action, as the
node estimates it for the same token (those checks: `backend.entrypoints.demo.checks`).
"""

from __future__ import annotations

import random
import secrets
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from backend.entrypoints.demo.checks import EventChecks
from backend.entrypoints.demo.plan import action_plan, new_wallet
from backend.entrypoints.demo.summary import DemoFailed, DemoSummary
from loyalty_client import ApiError, Brand, LoyaltyClient, LoyaltyClientError, Operator, Shopper

__all__ = ["DemoEvent", "DemoFailed", "DemoSummary"]

BULK = 500
SINGLE_ACTIONS = 20
QR_CODES = 12
Progress = Callable[[str, int, int], None]  # (stage, done, total)


class DemoEvent:
    def __init__(
        self,
        api_url: str,
        *,
        actions: int = 2000,
        admin_email: str,
        admin_password: str,
        rpc_url: str | None = None,
        progress: Progress | None = None,
        log: Callable[[str], None] | None = None,
        timeout_s: float = 600.0,
        manifests_dir: Path | None = None,
        seed: int | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.actions = max(50, actions)
        self.rpc_url = rpc_url or f"{self.api_url}/rpc"
        self.api = LoyaltyClient(self.api_url, timeout=120.0)
        self.admin = (admin_email, admin_password)
        self.progress = progress or (lambda stage, done, total: None)
        self.log = log or (lambda message: None)
        self.timeout_s = timeout_s
        self.manifests_dir = manifests_dir or Path(tempfile.mkdtemp(prefix="loyalty-manifests-"))
        self.rng = random.Random(seed)
        self.run = secrets.token_hex(3)
        self.sent_at: dict[str, float] = {}  # action id → wall time the API accepted it
        self.summary = DemoSummary(rpc_url=self.rpc_url, manifests_dir=str(self.manifests_dir))

    # --- the event ----------------------------------------------------------------------------------------------
    def run_event(self) -> DemoSummary:
        try:
            return self._run()
        except LoyaltyClientError as exc:  # an API call failed or an import did not finish: the same failure
            raise DemoFailed(str(exc)) from exc

    def _run(self) -> DemoSummary:
        started = time.monotonic()
        self.operator: Operator = self.api.login(*self.admin)
        health = self.api.health()
        self.summary.factory = str(_find(health, "factory") or "")
        self.started_at = datetime.now(UTC) - timedelta(seconds=1)
        self._brands()
        self._promotions()
        shopper = self.api.shopper()
        self._actions(shopper.address)
        self._qr()
        self._wait_settled("minting")
        if self.summary.redemption == "skipped":
            self._redeem(shopper)
        self._wait_settled("indexing")
        checks = EventChecks(self.api, self.operator, self.rpc_url, self.manifests_dir, self.summary)
        checks.measure(self.sent_at, self.started_at, str(self.brands["a"].info["token_address"]))
        checks.reconcile()
        checks.audit()
        self.summary.duration_s = time.monotonic() - started
        return self.summary

    def _brands(self) -> None:
        self.brands: dict[str, Brand] = {}
        specs = [
            ("aurora", "Aurora Coffee", False),
            ("borealis", "Borealis Books", False),
            ("cobalt", "Cobalt Cinema", True),
        ]
        for i, (slug, name, coalition) in enumerate(specs):
            brand = self.operator.onboard_brand(
                name, f"{slug}-{self.run}", f"loyalty@{slug}.example", use_coalition_token=coalition, key_name="demo"
            )
            self.brands["abc"[i]] = brand
            symbol = brand.info["token_symbol"]
            self.summary.brands.append(f"{name} ({symbol}{', coalition' if coalition else ''})")
            self.progress("brands", i + 1, len(specs))

    def _promotions(self) -> None:
        a, b, c = self.brands["a"], self.brands["b"], self.brands["c"]
        spend = {"kind": "rate", "key": "spend", "currency": "USD", "per": "1", "tokens": "1"}
        referral = {"kind": "referral", "key": "referral", "referrer_amount": "5", "referee_amount": "2"}
        a.create_promotion({"name": "Aurora points", "rules": [spend, referral]})
        # Cross-brand: Aurora pays a coalition-token bonus; the admin records the coalition's consent first.
        self.operator.grant_coalition_consent(a.id)
        bonus = {"kind": "fixed", "key": "coalition-bonus", "action_types": ["purchase"], "amount": "3"}
        a.create_promotion({"name": "Coalition week", "pay_in_coalition": True, "rules": [bonus]})
        b.create_promotion({"name": "Borealis double points", "rules": [{**spend, "tokens": "2"}, referral]})
        c.create_promotion({"name": "Cobalt points", "rules": [spend]})

    def _note(self, result: dict[str, Any], sent_at: float | None = None) -> None:
        self.summary.actions_sent += 1
        if result.get("status") == "error":
            self.summary.action_errors += 1
            return
        action = result.get("action") or result
        if action.get("credits"):
            self.summary.actions_credited += 1
            self.sent_at[str(action["action_id"])] = sent_at or time.time()

    def _import(self, chunk: list[dict[str, Any]], brand: Brand) -> None:
        """Upload `chunk` as a bulk import (`Prefer: respond-async`), wait for the workers, read every result."""
        sent_at = time.time()
        accepted = brand.import_actions(chunk)
        brand.wait_for_import(accepted["id"], self.timeout_s)
        for item in brand.iter_import_results(accepted["id"]):
            self._note(item, sent_at)
        self.summary.imported += len(chunk)

    def _actions(self, redeemer: str) -> None:
        plan = action_plan(self.rng, self.run, self.actions, redeemer)
        singles, bulk = plan[:SINGLE_ACTIONS], plan[SINGLE_ACTIONS:]
        total = len(plan) + 1
        for letter, action in singles:
            self._note(self.brands[letter].record_action(action))
            self.progress("actions", self.summary.actions_sent, total)
        for letter in "abc":
            mine = [a for b, a in bulk if b == letter]
            for start in range(0, len(mine), BULK):
                chunk = mine[start : start + BULK]
                if letter == "c":  # Cobalt uploads its day's file as an import: 202 now, recorded by the workers
                    self._import(chunk, self.brands[letter])
                else:
                    for result in self.brands[letter].record_actions(chunk)["results"]:
                        self._note(result)
                self.progress("actions", self.summary.actions_sent, total)
        # A refund of one of Aurora's purchases (partial): the shopper gives back what it earned on that part.
        order = next(a for b, a in plan if b == "a" and a["type"] == "purchase" and a["wallet"] != redeemer)
        refund = {
            "idempotency_key": f"refund-{order['order_id']}",
            "type": "refund",
            "wallet": order["wallet"],
            "order_id": order["order_id"],
            "amount": "1.00",
            "currency": "USD",
        }
        self._note(self.brands["a"].record_action(refund))
        self.progress("actions", total, total)

    def _qr(self) -> None:
        b = self.brands["b"]
        ends = datetime.now(UTC) + timedelta(days=1)
        campaign = b.create_qr_campaign("Shop-window flyers", QR_CODES, ends, 5 * 10**18)
        codes = b.qr_codes(campaign["id"])["items"]
        for i, code in enumerate(codes[:-1]):
            claim = self.api.claim_qr(code["code"], new_wallet())
            self.summary.qr_claims += 1
            if claim.get("action_id"):
                self.sent_at[str(claim["action_id"])] = time.time()
            self.progress("QR claims", i + 1, len(codes) + 1)
        self.summary.qr_duplicate_refused = _refused(lambda: self.api.claim_qr(codes[0]["code"], new_wallet()))
        last = codes[-1]["code"]
        forged = last[:-4] + ("AAAA" if not last.endswith("AAAA") else "BBBB")
        self.summary.qr_forged_refused = _refused(lambda: self.api.claim_qr(forged, new_wallet()))
        self.progress("QR claims", len(codes) + 1, len(codes) + 1)

    def _wait_settled(self, stage: str) -> None:
        """Until nothing is pending, every batch is terminal and the indexer has reached the last batch."""
        deadline = time.monotonic() + self.timeout_s
        goal = max(1, self.summary.actions_credited)
        while True:
            s = self.operator.dashboard_summary()
            states = s["queue"]["states"]
            open_batches = [b for b in s["batches"] if b["state"] not in ("confirmed", "failed")]
            mined_blocks = [b["block_number"] for b in s["batches"] if b["state"] == "confirmed"]
            indexed = s["chain"]["indexed_block"] or 0
            waiting = states.get("pending", 0) + states.get("batched", 0)
            self.progress(stage, max(0, goal - waiting), goal)
            lag = s["chain"]["indexer_lag_blocks"] or 0
            caught_up = indexed >= max(mined_blocks, default=0) and (stage == "minting" or lag <= 3)
            if not waiting and not open_batches and caught_up:
                return
            if time.monotonic() > deadline:
                raise DemoFailed(f"{stage}: not settled after {self.timeout_s:.0f} s (queue {states})")
            time.sleep(0.5)

    def _redeem(self, shopper: Shopper) -> None:
        """One gasless redemption: the shopper signs in with SIWE and signs the EIP-712 redemption."""
        a = self.brands["a"]
        try:
            offer = a.create_offer("Free flat white", "10", 100)
            shopper.sign_in()
            prepared = shopper.redeem(offer["id"])
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                r = shopper.redemption(prepared["redemption_id"])
                self.progress("redemption", 0, 1)
                if r["status"] in ("confirmed", "failed"):
                    break
                time.sleep(0.5)
            self.summary.redemption = f"{r['status']}: 10 tokens burned gaslessly by {shopper.address}"
            self.progress("redemption", 1, 1)
        except (DemoFailed, ApiError) as exc:
            self.summary.redemption = f"failed: {exc}"


def _refused(claim: Callable[[], Any]) -> bool:
    """Whether a claim was refused with a 4xx (a 2xx or a 5xx is not a refusal)."""
    try:
        claim()
    except ApiError as exc:
        return 400 <= exc.status < 500
    return False


def _find(doc: Any, key: str) -> Any:
    if isinstance(doc, dict):
        if key in doc:
            return doc[key]
        for value in doc.values():
            found = _find(value, key)
            if found is not None:
                return found
    return None
