"""What a shopper reads when their credit waits, by the token contract's error that stops it."""

from __future__ import annotations

# credit_outbox.reason, at most 200 characters
REASONS = {
    "EnforcedPause": "minting is paused for this token; credit is minted when it resumes",
    "ERC20ExceededCap": "the token's supply cap is reached; the brand must raise it before this credit is minted",
    "AccessControlUnauthorizedAccount": "the minting wallet lacks the minter role; operators are on it",
}


def error_name(error: str | None) -> str:
    """The custom error's name in a decoded revert reason (`EnforcedPause()` → `EnforcedPause`), or `unknown`."""
    if not error:
        return "unknown"
    return error.split("(", 1)[0].strip()[:60] or "unknown"
