"""Sign-send-wait for one-off administrative transactions (deployments, role grants, brand tokens).

Batched mints do not come through here: they go through the minting pipeline's nonce manager and fee oracle.
"""

from __future__ import annotations

from typing import Any

from hexbytes import HexBytes
from web3.types import TxParams, TxReceipt

from backend.adapters.chain.client import ChainClient
from backend.adapters.chain.keys import Signer
from backend.errors import LoyaltyError

GAS_HEADROOM = 1.25


class TransactionFailed(LoyaltyError):
    code = "transaction-failed"
    title = "Transaction reverted"


def simple_fees(client: ChainClient, min_tip_wei: int = 0) -> dict[str, int]:
    """EIP-1559 fees good for an admin transaction: 2 × latest base fee + tip (never below `min_tip_wei`)."""
    latest = client.w3.eth.get_block("latest")
    base_fee = int(latest.get("baseFeePerGas", 0) or 0)
    try:
        tip = int(client.w3.eth.max_priority_fee)
    except Exception:  # nodes without eth_maxPriorityFeePerGas
        tip = 10**9
    tip = max(tip, min_tip_wei)
    return {"maxFeePerGas": 2 * base_fee + tip, "maxPriorityFeePerGas": tip}


def send_and_wait(
    client: ChainClient,
    signer: Signer,
    tx: TxParams | dict[str, Any],
    min_tip_wei: int = 0,
    timeout_s: float = 120,
) -> TxReceipt:
    w3 = client.w3
    params: dict[str, Any] = dict(tx)
    params["from"] = signer.address
    params.setdefault("chainId", client.chain_id)
    params.setdefault("nonce", w3.eth.get_transaction_count(signer.account.address, "pending"))
    params.update(simple_fees(client, min_tip_wei))
    if "gas" not in params:
        params["gas"] = int(w3.eth.estimate_gas(params) * GAS_HEADROOM)  # type: ignore[arg-type]
    signed = signer.account.sign_transaction(params)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout_s, poll_latency=0.1)
    if receipt["status"] != 1:
        raise TransactionFailed(f"transaction {HexBytes(tx_hash).to_0x_hex()} reverted")
    return receipt
