"""Typed wrappers over the deployed contracts (factory and loyalty tokens), built from the artifacts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils import keccak, to_checksum_address
from web3.contract import Contract
from web3.logs import DISCARD

from backend.adapters.chain.artifacts import load_artifact
from backend.adapters.chain.client import ChainClient
from backend.adapters.chain.keys import Signer
from backend.adapters.chain.transactions import send_and_wait

COALITION_BRAND_ID = keccak(text="coalition")


def brand_id_bytes(slug: str) -> bytes:
    """On-chain brand id: keccak256 of the brand's slug (stable, no personal data)."""
    return keccak(text=slug)


@dataclass(frozen=True)
class Deployed:
    address: str
    tx_hash: str
    block_number: int


def factory_contract(client: ChainClient, address: str) -> Contract:
    return client.w3.eth.contract(address=to_checksum_address(address), abi=load_artifact("LoyaltyTokenFactory").abi)


def token_contract(client: ChainClient, address: str) -> Contract:
    return client.w3.eth.contract(address=to_checksum_address(address), abi=load_artifact("LoyaltyToken").abi)


def deploy_factory(client: ChainClient, deployer: Signer, min_tip_wei: int = 0) -> Deployed:
    artifact = load_artifact("LoyaltyTokenFactory")
    contract = client.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    tx = contract.constructor(deployer.address).build_transaction({"from": deployer.address, "gas": 0})
    tx.pop("gas")
    for key in ("maxFeePerGas", "maxPriorityFeePerGas", "gasPrice", "nonce"):
        tx.pop(key, None)  # type: ignore[misc]
    receipt = send_and_wait(client, deployer, tx, min_tip_wei)
    return Deployed(str(receipt["contractAddress"]), receipt["transactionHash"].to_0x_hex(), receipt["blockNumber"])


def create_token(
    client: ChainClient,
    factory_address: str,
    creator: Signer,
    brand_id: bytes,
    name: str,
    symbol: str,
    decimals: int,
    cap: int,
    admin: str,
    minters: list[str],
    min_tip_wei: int = 0,
) -> Deployed:
    """Deploy a brand's token through the factory in one transaction and read its address from the event."""
    factory = factory_contract(client, factory_address)
    call = factory.functions.createToken(brand_id, name, symbol, decimals, cap, admin, minters)
    tx: dict[str, Any] = {"to": factory.address, "data": call._encode_transaction_data()}
    receipt = send_and_wait(client, creator, tx, min_tip_wei)
    # NOTE: the receipt also holds the new token's RoleGranted logs; DISCARD skips them without a warning.
    events = factory.events.TokenCreated().process_receipt(receipt, errors=DISCARD)
    if not events:
        raise RuntimeError("createToken mined without a TokenCreated event")
    return Deployed(str(events[0]["args"]["token"]), receipt["transactionHash"].to_0x_hex(), receipt["blockNumber"])
