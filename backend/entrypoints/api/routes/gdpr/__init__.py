"""Routes: GDPR export and erasure."""
