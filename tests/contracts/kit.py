"""What the contract tests share: artifacts, entry packing, revert decoding, EIP-712 signing, a tiny Merkle tree."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_account import Account
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address
from web3 import Web3
from web3.contract import Contract

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "backend" / "artifacts"
AMOUNT_BITS = 96
COALITION = keccak(text="coalition")


def load_artifact(name: str) -> dict[str, Any]:
    path = ARTIFACTS / f"{name}.json"
    if not path.exists():
        path = ARTIFACTS / "test" / f"{name}.json"
    return dict(json.loads(path.read_text()))


def encode_entries(credits: Sequence[tuple[str, int]]) -> bytes:
    """`batchMint` entries: one word `(uint160(to) << 96) | uint96(amount)` per credit."""
    return b"".join(((int(to, 16) << AMOUNT_BITS) | amount).to_bytes(32, "big") for to, amount in credits)


def deploy(w3: Web3, name: str, sender: str, *args: Any) -> Contract:
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor(*args).transact({"from": sender}))
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])


def transact(w3: Web3, call: Any, sender: str, gas: int | None = None) -> Any:
    """Send a contract call from an unlocked account and return the receipt (asserting success).

    Without `gas` the node estimates first, which is what surfaces a revert's custom error to `expect_revert`.
    """
    params: dict[str, Any] = {"from": sender} if gas is None else {"from": sender, "gas": gas}
    receipt = w3.eth.wait_for_transaction_receipt(call.transact(params))
    assert receipt["status"] == 1
    return receipt


def send_signed(w3: Web3, call: Any, key: str) -> Any:
    """Send a contract call signed with a local key (the account pays its own gas)."""
    account = Account.from_key(key)
    tx = call.build_transaction({"from": account.address, "nonce": w3.eth.get_transaction_count(account.address)})
    signed = account.sign_transaction(tx)
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction))
    assert receipt["status"] == 1
    return receipt


# ---------------------------------------------------------------------- reverts


def _revert_data(exc: BaseException) -> bytes:
    """Revert data from web3's ContractCustomError (anvil) or eth-tester's TransactionFailed."""
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    # NOTE: web3's eth-tester provider flattens the revert bytes into "execution reverted: b'...'" (their repr).
    message = str(exc.args[0]) if exc.args else ""
    prefix = "execution reverted: "
    if message.startswith(prefix + "b"):
        value = ast.literal_eval(message[len(prefix) :])
        if isinstance(value, bytes):
            return value
    raise AssertionError(f"no revert data in {exc!r}")


@dataclass
class Reverted:
    error: str = ""
    args: tuple[Any, ...] = field(default_factory=tuple)


def _error_abi(abi: list[dict[str, Any]], name: str) -> dict[str, Any]:
    for item in abi:
        if item.get("type") == "error" and item["name"] == name:
            return item
    raise KeyError(f"no error {name} in ABI")


@contextmanager
def expect_revert(contract: Contract, error: str, *expected_args: Any) -> Iterator[Reverted]:
    """Assert the block reverts with custom `error` of `contract` (and `expected_args` if given)."""
    item = _error_abi(list(contract.abi), error)
    types = [i["type"] for i in item["inputs"]]
    selector = function_signature_to_4byte_selector(f"{error}({','.join(types)})")
    outcome = Reverted()
    try:
        yield outcome
    except Exception as exc:
        data = _revert_data(exc)
        assert data[:4] == selector, f"expected {error}, got revert data {data.hex()}"
        outcome.error = error
        decoded = abi_decode(types, data[4:])
        outcome.args = tuple(
            to_checksum_address(v) if t == "address" else v for t, v in zip(types, decoded, strict=True)
        )
        if expected_args:
            assert outcome.args == expected_args, f"{error}{outcome.args} != {expected_args}"
        return
    raise AssertionError(f"expected revert {error}, nothing reverted")


# ---------------------------------------------------------------------- EIP-712


def domain(token: Contract, chain_id: int) -> dict[str, Any]:
    return {
        "name": token.functions.name().call(),
        "version": "1",
        "chainId": chain_id,
        "verifyingContract": token.address,
    }


DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def sign_redeem(
    key: str,
    token: Contract,
    chain_id: int,
    holder: str,
    amount: int,
    redemption_id: bytes,
    offer_ref: bytes,
    deadline: int,
) -> bytes:
    message = {
        "types": {
            "EIP712Domain": DOMAIN_TYPE,
            "Redeem": [
                {"name": "holder", "type": "address"},
                {"name": "amount", "type": "uint256"},
                {"name": "redemptionId", "type": "bytes32"},
                {"name": "offerRef", "type": "bytes32"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Redeem",
        "domain": domain(token, chain_id),
        "message": {
            "holder": to_checksum_address(holder),
            "amount": amount,
            "redemptionId": redemption_id,
            "offerRef": offer_ref,
            "deadline": deadline,
        },
    }
    return bytes(Account.sign_typed_data(key, full_message=message).signature)


def sign_permit(
    key: str, token: Contract, chain_id: int, owner: str, spender: str, value: int, nonce: int, deadline: int
) -> tuple[int, bytes, bytes]:
    message = {
        "types": {
            "EIP712Domain": DOMAIN_TYPE,
            "Permit": [
                {"name": "owner", "type": "address"},
                {"name": "spender", "type": "address"},
                {"name": "value", "type": "uint256"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ],
        },
        "primaryType": "Permit",
        "domain": domain(token, chain_id),
        "message": {"owner": owner, "spender": spender, "value": value, "nonce": nonce, "deadline": deadline},
    }
    signed = Account.sign_typed_data(key, full_message=message)
    return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")


# ---------------------------------------------------------------------- Merkle (OpenZeppelin sorted pairs)


def _hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a < b else keccak(b + a)


def merkle_root_and_proofs(leaves: list[bytes]) -> tuple[bytes, list[list[bytes]]]:
    """Root and per-leaf proofs of a simple bottom-up tree (odd node carried up), verifiable by MerkleProof."""
    proofs: list[list[bytes]] = [[] for _ in leaves]
    level = [(leaf, [i]) for i, leaf in enumerate(leaves)]
    while len(level) > 1:
        nxt: list[tuple[bytes, list[int]]] = []
        for j in range(0, len(level), 2):
            if j + 1 == len(level):
                nxt.append(level[j])
                continue
            (left, left_ids), (right, right_ids) = level[j], level[j + 1]
            for i in left_ids:
                proofs[i].append(right)
            for i in right_ids:
                proofs[i].append(left)
            nxt.append((_hash_pair(left, right), left_ids + right_ids))
        level = nxt
    return level[0][0], proofs
