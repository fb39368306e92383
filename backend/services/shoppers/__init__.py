"""Shoppers: profiles, Sign-In with Ethereum, offers, gasless redemptions, the wallet's JSON-RPC passthrough."""
