"""A shopper's side: a `Wallet` (own key) that signs SIWE and EIP-712 messages, and a signed-in `Shopper`.

Nothing here holds gas: the shopper signs, the platform relays the redemption and pays for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from backend.domain.siwe_message import message_text
from loyalty_client.errors import LoyaltyClientError, WaitTimeout
from loyalty_client.transport import Json, Transport


@dataclass
class Wallet:
    """A shopper's key; signs offline (no I/O)."""

    account: LocalAccount = field(default_factory=Account.create)

    @classmethod
    def from_key(cls, private_key: bytes | str) -> Wallet:
        return cls(Account.from_key(private_key))

    @property
    def address(self) -> str:
        """The checksummed address."""
        return str(to_checksum_address(self.account.address))

    def siwe_message(self, nonce: Mapping[str, Any]) -> str:
        """The EIP-4361 sign-in message for a `POST /v1/auth/siwe/nonce` answer (its domain, chain and nonce)."""
        return message_text(str(nonce["domain"]), self.address, int(nonce["chain_id"]), str(nonce["nonce"]))

    def sign_text(self, message: str) -> str:
        """EIP-191 `personal_sign` of `message`, 0x-hex (what SIWE verifies)."""
        return "0x" + bytes(self.account.sign_message(encode_defunct(text=message)).signature).hex()

    def sign_typed(self, typed_data: Mapping[str, Any]) -> str:
        """EIP-712 signature of a full typed-data document (`types`, `domain`, `primaryType`, `message`), 0x-hex."""
        signable = encode_typed_data(full_message=dict(typed_data))
        return "0x" + bytes(self.account.sign_message(signable).signature).hex()


class Shopper:
    """A wallet talking to the platform: signs in with SIWE, then prepares, signs and submits redemptions."""

    def __init__(self, transport: Transport, wallet: Wallet | None = None) -> None:
        self.transport = transport
        self.wallet = wallet or Wallet()
        self.session: Json | None = None  # the `POST /v1/auth/siwe/verify` answer once signed in

    @property
    def address(self) -> str:
        return self.wallet.address

    @property
    def headers(self) -> dict[str, str]:
        """The session's bearer token; `LoyaltyClientError` before `sign_in`."""
        if self.session is None:
            raise LoyaltyClientError("the shopper has not signed in (call sign_in first)")
        return {"Authorization": f"Bearer {self.session['access_token']}"}

    def sign_in(self) -> Json:
        """Fetch a nonce, sign the EIP-4361 message, exchange it for a session (kept on this object)."""
        nonce: Json = self.transport.call("POST", "/v1/auth/siwe/nonce")
        message = self.wallet.siwe_message(nonce)
        body = {"message": message, "signature": self.wallet.sign_text(message)}
        session: Json = self.transport.call("POST", "/v1/auth/siwe/verify", json=body)
        self.session = session
        return session

    def prepare_redemption(self, offer_id: int) -> Json:
        """Start claiming an offer: `redemption_id`, `deadline` and the EIP-712 `typed_data` to sign."""
        prepared: Json = self.transport.call("POST", f"/v1/offers/{offer_id}/redemptions:prepare", headers=self.headers)
        return prepared

    def submit_redemption(self, prepared: Mapping[str, Any]) -> Json:
        """Sign a prepared redemption's typed data and submit it (202: the platform relays it)."""
        body = {"redemption_id": prepared["redemption_id"], "signature": self.wallet.sign_typed(prepared["typed_data"])}
        submitted: Json = self.transport.call("POST", "/v1/redemptions", json=body, headers=self.headers)
        return submitted

    def redeem(self, offer_id: int) -> Json:
        """Prepare, sign and submit a redemption of `offer_id`: the prepared document (its `redemption_id`)."""
        prepared = self.prepare_redemption(offer_id)
        self.submit_redemption(prepared)
        return prepared

    def redemption(self, redemption_id: str) -> Json:
        """One of the shopper's redemptions (`status`: pending → confirmed or failed)."""
        found: Json = self.transport.call("GET", f"/v1/redemptions/{redemption_id}", headers=self.headers)
        return found

    def wait_for_redemption(
        self,
        redemption_id: str,
        timeout_s: float = 120.0,
        poll_s: float = 0.5,
        on_poll: Callable[[Json], None] | None = None,
    ) -> Json:
        """Poll until the redemption is confirmed or failed; `WaitTimeout` after `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = self.redemption(redemption_id)
            if on_poll is not None:
                on_poll(found)
            if found["status"] in ("confirmed", "failed"):
                return found
            if time.monotonic() > deadline:
                raise WaitTimeout(f"redemption {redemption_id} still {found['status']} after {timeout_s:.0f} s")
            time.sleep(poll_s)
