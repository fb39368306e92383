"""Routes: the operator dashboard page and its data."""
