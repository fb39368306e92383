"""Routes: audit exports and manifests."""
