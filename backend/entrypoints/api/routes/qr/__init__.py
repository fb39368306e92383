"""Routes: QR campaigns, codes, exports and claims."""
