"""The naive baseline of the sustained benchmark: one plain `mint(to, amount)` per action, on the same chain."""

from __future__ import annotations

import hashlib
import statistics

from eth_utils import to_checksum_address

from backend.adapters.chain.contracts import token_contract
from backend.adapters.chain.transactions import simple_fees
from backend.bootstrap import Container

UNIT = 10**18


def plain_mint_gas(container: Container, token: str, sample: int, salt: str) -> tuple[float, float]:
    """Mean gasUsed of `mint` to `sample` new holders, then to the same holders again: (fresh, existing).

    NOTE: signed by the last hot wallet with its chain nonce; run it only once the relayer is stopped.
    """
    w3, minter = container.chain.w3, container.hot_wallets[-1]
    mint = token_contract(container.chain, token).functions.mint
    holders = [to_checksum_address(hashlib.sha256(f"naive:{salt}:{i}".encode()).digest()[:20]) for i in range(sample)]
    means = []
    for _round in ("fresh", "existing"):
        nonce = w3.eth.get_transaction_count(minter.account.address, "pending")
        fees = simple_fees(container.chain)
        hashes = []
        for n, holder in enumerate(holders):
            tx = {
                "to": token,
                "data": mint(holder, UNIT * (n + 1))._encode_transaction_data(),
                "nonce": nonce + n,
                "gas": 200_000,
                "chainId": container.chain.chain_id,
                **fees,
            }
            hashes.append(w3.eth.send_raw_transaction(minter.account.sign_transaction(tx).raw_transaction))
        receipts = [w3.eth.wait_for_transaction_receipt(h, timeout=120, poll_latency=0.2) for h in hashes]
        if not all(r["status"] == 1 for r in receipts):
            raise RuntimeError(f"a plain mint on {token} reverted (is the hot wallet a minter?)")
        means.append(statistics.fmean(int(r["gasUsed"]) for r in receipts))
    return means[0], means[1]
