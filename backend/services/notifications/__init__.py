"""Notifications: the platform event log, outbound webhooks and the live feed."""
