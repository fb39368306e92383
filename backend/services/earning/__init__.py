"""Earning: actions into the ledger and the credit outbox, promotions, tiers, bulk imports, the rewards view."""
