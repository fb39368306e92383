"""QR campaigns: signed codes (campaigns), their images and exports (rendering, export), claims exactly once."""
