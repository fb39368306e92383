"""Foundation: brands, API keys, operator accounts and logins, request limits, the platform contracts."""
