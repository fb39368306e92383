"""Gas per credited holder of LoyaltyToken.batchMint vs one mint per transaction, measured on a local anvil; and
gas per action of small brands sharing a transaction through LoyaltyMinter.mintMany (k tokens × 1 line each).

Usage: .venv/bin/python scripts/bench_gas.py
Prints a table, then (last line) one JSON object with the numbers. Gas is deterministic: same code, same result.
Per-holder figures are the whole transaction's gasUsed (21,000 base and calldata included) divided by n.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils import keccak, to_checksum_address
from web3 import Web3

from devtools.anvil import AnvilNode

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "backend" / "artifacts"
BATCH_SIZES = (1, 10, 100, 500)
SHARED_TOKENS = (1, 2, 3, 5, 10, 20)  # tokens in one mintMany run, one line each
GAS_LIMIT = 16_000_000  # under Osaka's per-transaction cap of 2^24
E18 = 10**18


@dataclass
class GasReport:
    fresh: dict[int, int] = field(default_factory=dict)
    existing: dict[int, int] = field(default_factory=dict)
    single_mint_fresh: int = 0
    single_mint_existing: int = 0
    oz_loop_fresh_500: int = 0
    oz_loop_existing_500: int = 0
    # mintMany with k tokens × 1 line: the whole transaction's gasUsed, keyed by k
    shared_fresh_tx: dict[int, int] = field(default_factory=dict)
    shared_existing_tx: dict[int, int] = field(default_factory=dict)

    def shared_per_action(self, k: int, fresh: bool) -> int:
        return round((self.shared_fresh_tx if fresh else self.shared_existing_tx)[k] / k)

    def as_json(self) -> dict[str, Any]:
        k = max(SHARED_TOKENS)
        return {
            "fresh_gas_per_holder": {str(n): g for n, g in self.fresh.items()},
            "existing_gas_per_holder": {str(n): g for n, g in self.existing.items()},
            "single_mint_fresh": self.single_mint_fresh,
            "single_mint_existing": self.single_mint_existing,
            "oz_mint_loop_fresh_500": self.oz_loop_fresh_500,
            "oz_mint_loop_existing_500": self.oz_loop_existing_500,
            "ratio_fresh_500_vs_single_mint": round(self.fresh[500] / self.single_mint_fresh, 4),
            "ratio_existing_500_vs_single_mint": round(self.existing[500] / self.single_mint_existing, 4),
            "shared_fresh_tx": {str(n): g for n, g in self.shared_fresh_tx.items()},
            "shared_existing_tx": {str(n): g for n, g in self.shared_existing_tx.items()},
            f"ratio_shared_fresh_{k}_vs_single_mint": round(
                self.shared_per_action(k, True) / self.single_mint_fresh, 4
            ),
            f"ratio_shared_existing_{k}_vs_single_mint": round(
                self.shared_per_action(k, False) / self.single_mint_existing, 4
            ),
        }

    def table(self) -> str:
        lines = [
            "batchMint gas per credited holder (tx gasUsed / n, anvil, solc 0.8.28 optimizer 200)",
            f"{'n':>6} {'fresh':>10} {'existing':>10}",
        ]
        lines += [f"{n:>6} {self.fresh[n]:>10,} {self.existing[n]:>10,}" for n in self.fresh]
        lines += [
            f"{'mint()':>6} {self.single_mint_fresh:>10,} {self.single_mint_existing:>10,}   one tx per action",
            f"{'OZ500':>6} {self.oz_loop_fresh_500:>10,} {self.oz_loop_existing_500:>10,}   OZ _mint loop, n=500",
        ]
        ratios = self.as_json()
        lines.append(
            f"batch(500) / single mint: fresh {ratios['ratio_fresh_500_vs_single_mint']:.3f}, "
            f"existing {ratios['ratio_existing_500_vs_single_mint']:.3f}"
        )
        lines += [
            "",
            "mintMany, k tokens × 1 line: gas per action (tx gasUsed / k) and vs mint()",
            f"{'k':>6} {'fresh':>10} {'existing':>10}",
        ]
        for k in self.shared_fresh_tx:
            fresh, existing = self.shared_per_action(k, True), self.shared_per_action(k, False)
            lines.append(
                f"{k:>6} {fresh:>10,} {existing:>10,}   "
                f"{fresh / self.single_mint_fresh:.3f} / {existing / self.single_mint_existing:.3f}"
            )
        return "\n".join(lines)


def _artifact(name: str) -> dict[str, Any]:
    path = ARTIFACTS / f"{name}.json"
    return dict(json.loads((path if path.exists() else ARTIFACTS / "test" / f"{name}.json").read_text()))


def _deploy(w3: Web3, name: str, sender: str, *args: Any) -> Any:
    artifact = _artifact(name)
    contract = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = w3.eth.wait_for_transaction_receipt(contract.constructor(*args).transact({"from": sender}))
    return w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])


def _gas(w3: Web3, call: Any, sender: str) -> int:
    receipt = w3.eth.wait_for_transaction_receipt(call.transact({"from": sender, "gas": GAS_LIMIT}))
    if receipt["status"] != 1:
        raise RuntimeError(f"benchmark transaction reverted: {receipt['transactionHash'].hex()}")
    return int(receipt["gasUsed"])


def credits(label: str, n: int) -> list[tuple[str, int]]:
    """n distinct fresh holders with realistic 18-decimal amounts (1..500 tokens), deterministic."""
    out = []
    for i in range(n):
        seed = keccak(text=f"bench:{label}:{i}")
        out.append((to_checksum_address(seed[:20]), (1 + seed[20] * 2 % 500) * E18))
    return out


def encode(entries: list[tuple[str, int]]) -> bytes:
    return b"".join(((int(to, 16) << 96) | amount).to_bytes(32, "big") for to, amount in entries)


def measure(w3: Web3) -> GasReport:
    sender = w3.eth.accounts[0]
    token = _deploy(w3, "LoyaltyToken", sender, "Bench", "BNCH", 18, 0, sender, [sender])
    report = GasReport()
    root = keccak(text="bench manifest")
    for n in BATCH_SIZES:
        entries = encode(credits(f"batch{n}", n))
        fresh = _gas(w3, token.functions.batchMint(keccak(text=f"fresh{n}"), root, entries), sender)
        existing = _gas(w3, token.functions.batchMint(keccak(text=f"again{n}"), root, entries), sender)
        report.fresh[n] = round(fresh / n)
        report.existing[n] = round(existing / n)
    (holder, amount), *_ = credits("single", 1)
    report.single_mint_fresh = _gas(w3, token.functions.mint(holder, amount), sender)
    report.single_mint_existing = _gas(w3, token.functions.mint(holder, amount), sender)
    baseline = _deploy(w3, "OZMintLoopToken", sender)
    entries = encode(credits("oz500", 500))
    report.oz_loop_fresh_500 = round(_gas(w3, baseline.functions.batchMint(entries), sender) / 500)
    report.oz_loop_existing_500 = round(_gas(w3, baseline.functions.batchMint(entries), sender) / 500)
    measure_shared(w3, sender, report)
    return report


def measure_shared(w3: Web3, sender: str, report: GasReport) -> None:
    """k brands' one-line batches in one mintMany, k in SHARED_TOKENS; tokens already hold supply, as live ones do."""
    factory = _deploy(w3, "LoyaltyTokenFactory", sender, sender)
    minter = _deploy(w3, "LoyaltyMinter", sender, sender, [sender])
    _gas(w3, factory.functions.setSharedMinter(minter.address), sender)
    abi = _artifact("LoyaltyToken")["abi"]
    tokens = []
    for i in range(max(SHARED_TOKENS)):
        call = factory.functions.createToken(keccak(text=f"brand{i}"), f"B{i}", f"B{i}", 18, 0, sender, [sender])
        _gas(w3, call, sender)
        token = w3.eth.contract(address=factory.functions.tokenAt(i).call(), abi=abi)
        _gas(w3, token.functions.mint(sender, E18), sender)  # supply zero → non-zero once, not per run
        tokens.append(token)
    run_id = 0
    _gas(w3, minter.functions.mintMany(run_id, root_of(0), [batch(tokens[0], 0, sender)]), sender)  # bitmap word
    for k in SHARED_TOKENS:
        holders = [credits(f"shared{k}:{i}", 1)[0] for i in range(k)]
        for fresh in (True, False):
            run_id += 1
            batches = [batch(tokens[i], run_id, *holders[i]) for i in range(k)]
            gas = _gas(w3, minter.functions.mintMany(run_id, root_of(run_id), batches), sender)
            (report.shared_fresh_tx if fresh else report.shared_existing_tx)[k] = gas


def root_of(run_id: int) -> bytes:
    return keccak(text=f"bench run {run_id}")


def batch(token: Any, run_id: int, holder: str, amount: int = E18) -> tuple[str, bytes, bytes, bytes]:
    return (
        token.address,
        keccak(text=f"{token.address}:{run_id}"),
        keccak(text=f"root {run_id}"),
        encode([(holder, amount)]),
    )


def run() -> GasReport:
    # NOTE: a generous block gas limit so the 500-holder fresh batch (~12M gas) never waits for space.
    with AnvilNode(extra_args=["--gas-limit", "60000000"]) as node:
        return measure(Web3(Web3.HTTPProvider(node.url)))


def main() -> int:
    report = run()
    print(report.table())
    print(json.dumps(report.as_json(), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
