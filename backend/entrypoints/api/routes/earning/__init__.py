"""Routes: actions, promotions, rewards."""
