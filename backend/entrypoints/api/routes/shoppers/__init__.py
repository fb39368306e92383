"""Routes: shopper profiles, SIWE sign-in, offers, redemptions."""
