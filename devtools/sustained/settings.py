"""Which settings a run changed from the product defaults: every `LOYALTY_*` value that is not a connection or
location setting and differs from `backend.config.Settings`' default."""

from __future__ import annotations

from typing import Any

from backend.config import Settings

# NOTE: where things are and how to reach them, not how the product behaves: never a "non-default setting".
CONNECTION_SETTINGS = frozenset(
    {
        "database_url",
        "redis_url",
        "redis_prefix",
        "rpc_urls",
        "deployments_dir",
        "deployer_key",
        "hot_wallet_keys",
        "keystore_path",
        "keystore_password",
        "host",
        "port",
        "admin_email",
        "admin_password",
        "siwe_domain",
    }
)


def non_default_settings(settings: Settings) -> dict[str, Any]:
    """`LOYALTY_NAME` → value for every behavioural setting whose value differs from its default."""
    changed: dict[str, Any] = {}
    for name, field in type(settings).model_fields.items():
        if name in CONNECTION_SETTINGS:
            continue
        value = getattr(settings, name)
        if value != field.get_default(call_default_factory=True):
            changed[f"LOYALTY_{name.upper()}"] = value if isinstance(value, int | float | bool) else str(value)
    return changed


def unknown_variables(env: dict[str, str]) -> list[str]:
    """`LOYALTY_*` variables Settings does not know (a typo silently changes nothing; report it)."""
    known = {f"LOYALTY_{name.upper()}" for name in Settings.model_fields}
    return sorted(k for k in env if k.startswith("LOYALTY_") and k not in known and not k.startswith("LOYALTY_BENCH"))
