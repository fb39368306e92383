"""Routes: webhook endpoints and deliveries, the live feed."""
