"""Private keys for the deployer and the minting hot wallets: env var, encrypted keystore or dev mnemonic.

Keys are held as `LocalAccount` objects and never logged; `repr` of a `Signer` shows only the address.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from backend.config import DEV_MNEMONIC, Environment, Settings
from backend.errors import ConfigurationError

Account.enable_unaudited_hdwallet_features()


@dataclass(frozen=True)
class Signer:
    account: LocalAccount = field(repr=False)

    @property
    def address(self) -> str:
        return str(self.account.address)

    def __repr__(self) -> str:
        return f"Signer({self.address})"


def dev_account(index: int) -> LocalAccount:
    """Account `index` of the well-known dev mnemonic (the same accounts anvil and the embedded chain fund)."""
    return Account.from_mnemonic(DEV_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")


def _from_hex(key: str) -> LocalAccount:
    try:
        return Account.from_key(key.strip())
    except Exception as exc:
        raise ConfigurationError("a configured private key is not a valid 32-byte hex key") from exc


def _from_keystore(path: Path, password: str) -> list[LocalAccount]:
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files:
        raise ConfigurationError(f"no keystore files in {path}")
    accounts = []
    for file in files:
        try:
            key = Account.decrypt(json.loads(file.read_text()), password)
        except (ValueError, OSError) as exc:
            raise ConfigurationError(f"cannot decrypt keystore {file.name}: {exc}") from exc
        accounts.append(Account.from_key(key))
    return accounts


def load_deployer(settings: Settings) -> Signer:
    if settings.deployer_key:
        return Signer(_from_hex(settings.deployer_key))
    if settings.env is Environment.PRODUCTION:
        raise ConfigurationError("LOYALTY_DEPLOYER_KEY is required in production")
    return Signer(dev_account(0))


def load_hot_wallets(settings: Settings) -> list[Signer]:
    """Hot wallets in a stable order: explicit keys, then keystore; dev mnemonic 1..N outside production."""
    accounts: list[LocalAccount] = []
    if settings.hot_wallet_keys:
        accounts += [_from_hex(k) for k in settings.hot_wallet_keys.split(",") if k.strip()]
    if settings.keystore_path:
        accounts += _from_keystore(Path(settings.keystore_path), settings.keystore_password)
    if not accounts:
        if settings.env is Environment.PRODUCTION:
            raise ConfigurationError("production needs LOYALTY_HOT_WALLET_KEYS or LOYALTY_KEYSTORE_PATH")
        accounts = [dev_account(i) for i in range(1, settings.hot_wallet_count + 1)]
    return [Signer(a) for a in accounts]
