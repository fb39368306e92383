"""Mint batches on a real chain the way the minting pipeline builds them, and record them in its tables."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak

from backend.adapters.chain.transactions import send_and_wait
from backend.adapters.orm.minting import BatchItem, CreditOutbox, MintBatch
from backend.bootstrap import Container
from backend.domain.manifest import (
    ManifestLine,
    TransferEntry,
    batch_mint_calldata,
    encode_entries,
    line_leaf,
    manifest_tree,
)

Line = tuple[Any, ...]  # (action_id, wallet, amount) or (action_id, wallet, amount, rule_id)


@dataclass
class MintedBatch:
    batch_id: str
    tx_hash: str
    block_number: int
    root: str


def batch_mint(
    container: Container, token: str, tag: str, lines: Sequence[Line], *, record: bool = True
) -> MintedBatch:
    """`batchMint` one batch the way the pipeline builds it, and record it in the pipeline's tables."""
    manifest = [ManifestLine(x[0], x[1], x[2], x[3] if len(x) > 3 else "rule-1") for x in lines]
    sums: dict[str, int] = defaultdict(int)
    for m in manifest:
        sums[m.wallet] += m.amount
    root = manifest_tree(manifest).root
    batch_id = keccak(text=f"batch-{tag}")
    data = batch_mint_calldata(batch_id, root, encode_entries(TransferEntry(w, a) for w, a in sums.items()))
    receipt = send_and_wait(container.chain, container.hot_wallets[0], {"to": token, "data": data})
    minted = MintedBatch(
        "0x" + batch_id.hex(), receipt["transactionHash"].to_0x_hex(), receipt["blockNumber"], "0x" + root.hex()
    )
    if record:
        record_batch(container, token, minted, manifest)
    return minted


def record_batch(container: Container, token: str, minted: MintedBatch, manifest: Sequence[ManifestLine]) -> None:
    chain_id = container.chain.chain_id
    with container.uow() as uow:
        s = uow.session
        s.add(
            MintBatch(
                batch_id=minted.batch_id,
                chain_id=chain_id,
                token_address=token,
                state="confirmed",
                manifest_root=minted.root,
                recipients=len({m.wallet for m in manifest}),
                total=sum(m.amount for m in manifest),
                actions=len(manifest),
                tx_hash=minted.tx_hash,
                block_number=minted.block_number,
            )
        )
        s.flush()
        for i, m in enumerate(manifest):
            credit = CreditOutbox(
                chain_id=chain_id,
                token_address=token,
                wallet=m.wallet,
                amount=m.amount,
                action_id=m.action_id,
                rule_id=m.rule_id,
                state="minted",
                batch_id=minted.batch_id,
            )
            s.add(credit)
            s.flush()
            s.add(
                BatchItem(
                    batch_id=minted.batch_id,
                    credit_outbox_id=credit.id,
                    wallet=m.wallet,
                    amount=m.amount,
                    action_id=m.action_id,
                    rule_id=m.rule_id,
                    leaf_index=i,
                    leaf="0x" + line_leaf(m).hex(),
                    active=True,
                )
            )
        uow.commit()
