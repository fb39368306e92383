"""Routes: balances and analytics read from the chain mirror."""
