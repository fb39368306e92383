"""The fault run's parts (`scripts/chaos.py` is its command line): set-up, plan, load, redeemers, faults, verdict.

- `setup`: brands onboarded through the SDK (key, promotion, offer, a live and an expiring QR campaign).
- `plan`: the seeded requests (purchases single and bulk, referrals, refunds, replays, conflicts, bad inputs, QR).
- `load` and `redeemers`: send them under faults and judge every answer; `requests` retries like a real client.
- `faults`: the seeded schedule and the injection of each kind.
- `verdict` (the system: nothing stuck, batches, nonces, reconcile, audit) and `invariants` (the ledger: balances,
  QR claims, redemptions).
"""
