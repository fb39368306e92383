"""Sends the plan from 16 threads and judges every answer (QR claims: each refusal its own 4xx problem)."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from devtools.chaos.plan import QR_KINDS, Item
from devtools.chaos.requests import PROBLEM_JSON, problem_code, request_with_retries
from devtools.chaos.tally import QrTally, Tally

# kind → the problem code a refusal must carry (None: 201 expected)
QR_EXPECTED: dict[str, tuple[int, str] | None] = {
    "qr": None,
    "qr_dup": (409, "qr-already-claimed"),
    "qr_forged": (422, "qr-forged"),
    "qr_malformed": (422, "qr-malformed"),
    "qr_expired": (410, "qr-expired"),
}


def judge_qr(
    kind: str, brand: dict[str, Any], body: dict[str, Any], r: httpx.Response, retried: bool, qr: QrTally
) -> str | None:
    """Record a QR claim's answer; return a violation message or None."""
    code = body["code"].upper()
    problem = problem_code(r)
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


class Load:
    """Sends the plan from 16 threads and judges every answer."""

    def __init__(self, base: str, tally: Tally, qr: QrTally, deadline: float) -> None:
        self.base, self.tally, self.qr, self.deadline = base, tally, qr, deadline
        self.results: dict[str, Any] = {}  # brand:key → the action's id
        self.local = threading.local()

    def client(self) -> httpx.Client:
        if not hasattr(self.local, "c"):
            self.local.c = httpx.Client(base_url=self.base, timeout=60)
        return self.local.c  # type: ignore[no-any-return]

    def post(
        self, path: str, headers: dict[str, str], payload: Any, raw: bytes | None = None
    ) -> tuple[httpx.Response, bool]:
        """POST with retries on lost connections and back-pressure; (response, whether it was retried)."""
        kw: dict[str, Any] = {"json": payload, "headers": headers}
        if raw is not None:
            kw = {"content": raw, "headers": {**headers, "Content-Type": "application/json"}}
        return request_with_retries(self.client(), "POST", path, self.tally.lock, self.tally.statuses, **kw)

    def accept(self, brand: dict[str, Any], body: dict[str, Any], result: dict[str, Any]) -> None:
        with self.tally.lock:
            self.tally.accepted += 1
            self.tally.by_kind[body["type"]] += 1
            self.results[f"{brand['id']}:{body['idempotency_key']}"] = result.get("id")

    def one(self, item: Item) -> None:
        if time.monotonic() > self.deadline:
            with self.tally.lock:
                self.tally.skipped += 1
            return
        kind, brand, body = item
        try:
            if kind in QR_KINDS:
                self.claim(kind, brand, body)
            elif kind == "bad":
                self.bad(brand, body)
            elif kind == "bulk":
                self.bulk(brand, body)
            elif kind == "buy_refund":
                self.action("action", brand, body["purchase"])
                self.action("refund", brand, body["refund"])
            else:
                self.action(kind, brand, body)
        except Exception as exc:
            self.tally.violation(f"{kind} request failed: {type(exc).__name__}: {exc}")

    def claim(self, kind: str, brand: dict[str, Any], body: dict[str, Any]) -> None:
        if kind == "qr_expired":
            time.sleep(max(0.0, brand["qr_expiring_at"] + 1 - time.time()))
        r, retried = self.post("/v1/qr/claims", {}, body)
        problem = judge_qr(kind, brand, body, r, retried, self.qr)
        if problem:
            self.tally.violation(problem)
        elif r.status_code == 201:
            with self.tally.lock:
                self.tally.accepted += 1
                self.tally.by_kind["qr_claim"] += 1

    def bad(self, brand: dict[str, Any], body: dict[str, Any]) -> None:
        payload = {k: v for k, v in body.items() if k != "_i"}
        raw = b"{not json" if body["_i"] % 7 == 0 else None
        r, _ = self.post("/v1/actions", brand["headers"], payload, raw)
        if not 400 <= r.status_code < 500:
            self.tally.violation(f"bad input got {r.status_code}: {json.dumps(payload)[:120]} → {r.text[:160]}")
        elif not r.headers.get("content-type", "").startswith(PROBLEM_JSON):
            self.tally.violation(f"4xx without problem+json: {r.status_code} {r.headers.get('content-type')}")
        else:
            with self.tally.lock:
                self.tally.rejected_ok += 1

    def bulk(self, brand: dict[str, Any], body: dict[str, Any]) -> None:
        r, _ = self.post("/v1/actions:batch", brand["headers"], body)
        if r.status_code != 200:
            self.tally.violation(f"bulk upload rejected {r.status_code}: {r.text[:200]}")
            return
        for item in r.json()["results"]:
            action = body["actions"][item["index"]]
            if item["status"] in ("created", "replayed"):  # replayed: a retried upload after a lost connection
                self.accept(brand, action, item["action"])
            else:
                self.tally.violation(f"bulk item refused: {json.dumps(item.get('problem'))[:200]}")

    def action(self, kind: str, brand: dict[str, Any], body: dict[str, Any]) -> None:
        r, retried = self.post("/v1/actions", brand["headers"], body)
        key = f"{brand['id']}:{body['idempotency_key']}"
        if kind in ("action", "refund"):
            if r.status_code == 201 or (retried and r.status_code == 200):
                self.accept(brand, body, r.json())
            else:
                self.tally.violation(f"valid {body['type']} rejected {r.status_code}: {r.text[:200]}")
        elif kind == "replay":
            if r.status_code >= 300:
                self.tally.violation(f"replay rejected {r.status_code}: {r.text[:200]}")
                return
            with self.tally.lock:
                original = self.results.get(key)
            if original and original != r.json().get("id"):
                self.tally.violation(f"replay of {key} gave another result: {original} vs {r.json().get('id')}")
        elif kind == "conflict":
            if r.status_code != 409:
                self.tally.violation(f"same key, other body: expected 409, got {r.status_code} {r.text[:160]}")
            elif not r.headers.get("content-type", "").startswith(PROBLEM_JSON):
                self.tally.violation("409 without problem+json")

    def run(self, first: list[Item], later: list[Item], pace_s: float) -> float:
        """First phase spread over `pace_s`, then the later phase; returns elapsed seconds."""
        started = time.monotonic()
        step = pace_s / max(1, len(first))

        def paced(indexed: tuple[int, Item]) -> None:
            delay = started + indexed[0] * step - time.monotonic()
            if delay > 0:  # spread the load over the fault window
                time.sleep(delay)
            self.one(indexed[1])

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(paced, enumerate(first)))
            list(pool.map(self.one, later))
        return time.monotonic() - started
