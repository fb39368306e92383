"""Typed wrappers over the deployed contracts (factory, shared minter, loyalty tokens), built from the artifacts."""

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
MINTER_ROLE = keccak(text="MINTER_ROLE")


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


def minter_contract(client: ChainClient, address: str) -> Contract:
    return client.w3.eth.contract(address=to_checksum_address(address), abi=load_artifact("LoyaltyMinter").abi)


def _deploy(client: ChainClient, deployer: Signer, name: str, *args: Any, min_tip_wei: int = 0) -> Deployed:
    artifact = load_artifact(name)
    contract = client.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    tx = contract.constructor(*args).build_transaction({"from": deployer.address, "gas": 0})
    tx.pop("gas")
    for key in ("maxFeePerGas", "maxPriorityFeePerGas", "gasPrice", "nonce"):
        tx.pop(key, None)  # type: ignore[misc]
    receipt = send_and_wait(client, deployer, tx, min_tip_wei)
    return Deployed(str(receipt["contractAddress"]), receipt["transactionHash"].to_0x_hex(), receipt["blockNumber"])


def deploy_factory(client: ChainClient, deployer: Signer, min_tip_wei: int = 0) -> Deployed:
    return _deploy(client, deployer, "LoyaltyTokenFactory", deployer.address, min_tip_wei=min_tip_wei)


def deploy_minter(client: ChainClient, deployer: Signer, relayers: list[str], min_tip_wei: int = 0) -> Deployed:
    """The shared LoyaltyMinter, administered by the deployer; `relayers` (the hot wallets) may send runs."""
    return _deploy(client, deployer, "LoyaltyMinter", deployer.address, relayers, min_tip_wei=min_tip_wei)


def _call(client: ChainClient, signer: Signer, contract: Contract, call: Any, min_tip_wei: int) -> None:
    send_and_wait(client, signer, {"to": contract.address, "data": call._encode_transaction_data()}, min_tip_wei)


def use_shared_minter(
    client: ChainClient, factory_address: str, admin: Signer, minter_address: str, min_tip_wei: int = 0
) -> None:
    """Make the factory grant `minter_address` MINTER_ROLE on every token it creates from now on."""
    factory = factory_contract(client, factory_address)
    if factory.functions.sharedMinter().call() != to_checksum_address(minter_address):
        _call(client, admin, factory, factory.functions.setSharedMinter(minter_address), min_tip_wei)


def grant_minter_role(
    client: ChainClient, token_address: str, admin: Signer, account: str, min_tip_wei: int = 0
) -> None:
    """Grant MINTER_ROLE on a token created before its factory knew the shared minter (`admin` is its admin)."""
    token = token_contract(client, token_address)
    if not token.functions.hasRole(MINTER_ROLE, to_checksum_address(account)).call():
        _call(client, admin, token, token.functions.grantRole(MINTER_ROLE, account), min_tip_wei)


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
