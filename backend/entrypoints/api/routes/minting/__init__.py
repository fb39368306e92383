"""Routes: batches and their manifests."""
