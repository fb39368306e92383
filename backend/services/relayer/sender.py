"""Signing and broadcasting: a transaction is signed into a `relay_attempts` row that is committed first, then
its raw bytes are sent (and re-sent after a crash, a drop or a reorg) exactly as stored."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

from eth_typing import HexStr
from eth_utils import to_checksum_address
from web3.exceptions import ContractLogicError

from backend.adapters.chain.batch import RpcBatch
from backend.adapters.chain.client import ChainClient
from backend.adapters.chain.keys import Signer
from backend.adapters.orm.relayer import RelayAttempt, RelayIntent
from backend.errors import ChainUnavailable
from backend.services.relayer import metrics
from backend.services.relayer.errors import Broadcast, classify_broadcast_error, unknown_error
from backend.services.relayer.fee_oracle import FeeQuote
from backend.services.relayer.revert_decoder import RevertDecoder, revert_data_in_message

log = logging.getLogger("loyalty.relayer")


def fees_of(attempt: RelayAttempt) -> FeeQuote:
    return FeeQuote(attempt.max_fee_per_gas, attempt.max_priority_fee_per_gas)


class Sender:
    def __init__(
        self,
        chain: ChainClient,
        chain_id: int,
        *,
        headroom: float = 1.1,
        decoder: RevertDecoder | None = None,
        tx_gas_cap: int = 2**25,
    ) -> None:
        self.chain = chain
        self.chain_id = chain_id
        self.headroom = headroom
        self.decoder = decoder or RevertDecoder()
        self.tx_gas_cap = tx_gas_cap
        self.batch = RpcBatch(chain)
        self._label = str(chain_id)

    def gas_limit(self, signer: Signer, intent: RelayIntent) -> int | str:
        """The gas limit to sign the intent with, or the decoded revert reason when the call would revert."""
        return self.gas_limits([(signer, intent)])[0]

    def gas_limits(self, calls: Sequence[tuple[Signer, RelayIntent]]) -> list[int | str]:
        """eth_estimateGas (from the hot wallet, at `pending`) × headroom, within each intent's gas limit; a str
        is the revert reason (fail the intent without spending gas). One JSON-RPC batch when the node speaks HTTP.

        NOTE: the intent's gas limit (the cost model's, which sized the batch) stays the upper bound; only when
        the estimate itself is above it (the model under-priced) does the estimate win, or the tx runs out of gas.
        A node that cannot estimate (no revert) leaves the intent's own limit."""
        if not calls:
            return []
        params = [
            {
                "from": signer.address,
                "to": to_checksum_address(intent.to_address),
                "data": intent.data,
                "value": hex(int(intent.value_wei)),
            }
            for signer, intent in calls
        ]
        raw: list[Any] | None = None
        if self.batch.supported:
            try:
                raw = self.batch.call([("eth_estimateGas", [p, "pending"]) for p in params])
            except ChainUnavailable as exc:
                log.debug("batched eth_estimateGas unavailable, one call at a time: %s", exc)
        out: list[int | str] = []
        for i, (_signer, intent) in enumerate(calls):
            if raw is not None:
                result: Any = raw[i]
            else:
                try:
                    call = {**params[i], "value": int(intent.value_wei)}
                    result = int(self.chain.w3.eth.estimate_gas(call, "pending"))  # type: ignore[arg-type]
                except Exception as exc:
                    result = exc
            if isinstance(result, Exception):
                reason = self._revert_reason(result)
                if reason is None:
                    log.debug("eth_estimateGas failed for intent=%s:%s: %s", intent.purpose, intent.ref, result)
                out.append(reason if reason is not None else int(intent.gas_limit))
                continue
            out.append(self._with_headroom(int(result, 16) if isinstance(result, str) else int(result), intent))
        return out

    def _with_headroom(self, estimate: int, intent: RelayIntent) -> int:
        limit = math.ceil(estimate * self.headroom)
        if estimate > intent.gas_limit:
            log.warning(
                "relay gas estimate %s above the intent's limit %s (intent=%s:%s): signing with the estimate",
                estimate,
                intent.gas_limit,
                intent.purpose,
                intent.ref,
            )
            return min(limit, self.tx_gas_cap)
        return min(limit, int(intent.gas_limit))

    def _revert_reason(self, exc: BaseException) -> str | None:
        """The decoded reason when the estimate failed because the call reverts; None for any other failure."""
        data: Any = getattr(exc, "data", None)
        if isinstance(data, dict):
            data = data.get("data")
        message = str(getattr(exc, "message", "") or exc)
        if not (isinstance(exc, ContractLogicError) or "revert" in message.lower()):
            return None
        data = data or revert_data_in_message(message)
        if isinstance(data, str | bytes) and data and data not in ("0x", b""):
            return self.decoder.decode(data)
        return f"reverted: {message[:300]}"

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
