"""Settings refuse unsafe production configurations."""

from __future__ import annotations

import pytest

from backend.adapters.orm.base import Uint256
from backend.config import Settings
from backend.errors import ConfigurationError


def test_production_refuses_default_secrets() -> None:
    with pytest.raises(ConfigurationError, match="LOYALTY_JWT_SECRET"):
        Settings(env="production", rpc_urls="https://polygon.example")  # type: ignore[arg-type]


def test_production_refuses_embedded_chain() -> None:
    strong = "x" * 32
    with pytest.raises(ConfigurationError, match="real node"):
        Settings(env="production", jwt_secret=strong, qr_secret=strong, admin_password=strong)  # type: ignore[arg-type]


def test_production_accepts_strong_secrets_and_rpc() -> None:
    strong = "x" * 32
    s = Settings(
        env="production",  # type: ignore[arg-type]
        jwt_secret=strong,
        qr_secret=strong,
        admin_password=strong,
        rpc_urls="https://a.example, https://b.example",
    )
    assert s.rpc_url_list == ["https://a.example", "https://b.example"]
    assert not s.uses_embedded_chain


def test_empty_rpc_urls_rejected() -> None:
    with pytest.raises(ValueError, match="LOYALTY_RPC_URLS"):
        Settings(rpc_urls=" , ")


def test_uint256_rejects_out_of_range() -> None:
    from sqlalchemy.dialects import postgresql, sqlite

    col = Uint256()
    assert col.process_bind_param(2**256 - 1, sqlite.dialect()) == str(2**256 - 1)
    assert col.process_bind_param(5, postgresql.dialect()) == 5
    for bad in (-1, 2**256):
        with pytest.raises(ValueError, match="uint256"):
            col.process_bind_param(bad, sqlite.dialect())
