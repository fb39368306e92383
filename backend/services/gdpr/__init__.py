"""GDPR: export and erasure of what is held off-chain about a subject."""
