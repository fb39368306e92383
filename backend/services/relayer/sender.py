"""Signing and broadcasting: a transaction is signed into a `relay_attempts` row that is committed first, then
its raw bytes are sent (and re-sent after a crash, a drop or a reorg) exactly as stored."""

from __future__ import annotations

import logging
from typing import Any

from eth_typing import HexStr
from eth_utils import to_checksum_address

from backend.adapters.chain.client import ChainClient
from backend.adapters.chain.keys import Signer
from backend.adapters.orm.relayer import RelayAttempt, RelayIntent
from backend.services.relayer import metrics
from backend.services.relayer.errors import Broadcast, classify_broadcast_error, unknown_error
from backend.services.relayer.fee_oracle import FeeQuote

log = logging.getLogger("loyalty.relayer")


def fees_of(attempt: RelayAttempt) -> FeeQuote:
    return FeeQuote(attempt.max_fee_per_gas, attempt.max_priority_fee_per_gas)


class Sender:
    def __init__(self, chain: ChainClient, chain_id: int) -> None:
        self.chain = chain
        self.chain_id = chain_id
        self._label = str(chain_id)

    def sign(
        self,
        signer: Signer,
        intent: RelayIntent,
        *,
        nonce: int,
        fees: FeeQuote,
        kind: str,
        to: str | None = None,
        data: str | None = None,
        value: int | None = None,
        gas_limit: int | None = None,
    ) -> RelayAttempt:
        """Sign the intent's call (or an override, for cancellations) at `nonce`; nothing leaves the process."""
        tx: dict[str, Any] = {
            "chainId": self.chain_id,
            "nonce": nonce,
            "to": to_checksum_address(to or intent.to_address),
            "value": intent.value_wei if value is None else value,
            "data": intent.data if data is None else data,
            "gas": gas_limit or intent.gas_limit,
            **fees.tx_fields(),
        }
        if not fees.legacy:
            tx["type"] = 2
        signed = signer.account.sign_transaction(tx)
        return RelayAttempt(
            intent_id=intent.id,
            kind=kind,
            wallet=signer.address,
            nonce=nonce,
            tx_hash=signed.hash.to_0x_hex(),
            raw_tx=signed.raw_transaction.to_0x_hex(),
            max_fee_per_gas=fees.max_fee_per_gas,
            max_priority_fee_per_gas=fees.max_priority_fee_per_gas,
            gas_limit=tx["gas"],
            status="signed",
            broadcasts=0,
        )

    def broadcast(
        self, attempt: RelayAttempt, intent: RelayIntent, head: int | None, restart_clock: bool = False
    ) -> Broadcast:
        """Send the stored raw bytes; record the outcome on the attempt (the caller commits).

        `restart_clock` (a rebroadcast after a drop or reorg) restarts the blocks counted before a replacement.
        """
        try:
            self.chain.w3.eth.send_raw_transaction(HexStr(attempt.raw_tx))
            outcome = Broadcast.SENT
            error = None
        except Exception as exc:
            outcome = classify_broadcast_error(exc)
            message = str(exc)[:250]
            error = (
                unknown_error(attempt.error, message) if outcome is Broadcast.UNKNOWN else f"{outcome.value}: {message}"
            )
            metrics.BROADCAST_ERRORS.labels(self._label, outcome.value).inc()
        attempt.broadcasts = (attempt.broadcasts or 0) + 1
        attempt.error = error
        if outcome.accepted or outcome is Broadcast.NONCE_TOO_LOW:
            # NOTE: "nonce too low" often answers a retried send of this very tx (web3 retries
            # eth_sendRawTransaction after a timeout); the tracker decides from receipts whose tx used the nonce.
            attempt.status = "sent"
            if attempt.sent_at_block is None or restart_clock:
                attempt.sent_at_block = head
        else:
            attempt.status = "rejected"
            if attempt.sent_at_block is None:
                attempt.sent_at_block = head  # when it was tried (paces re-quotes of refused prices)
        log.info(
            "relay broadcast intent=%s:%s wallet=%s nonce=%s tx=%s kind=%s outcome=%s%s",
            intent.purpose,
            intent.ref,
            attempt.wallet,
            attempt.nonce,
            attempt.tx_hash,
            attempt.kind,
            outcome.value,
            f" error={error}" if error else "",
        )
        return outcome
