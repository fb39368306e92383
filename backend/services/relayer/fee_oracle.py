"""EIP-1559 fee quotes from the chain itself (fee history + the node's tip suggestion), never library defaults.

NOTE: web3.py and ethers fall back to 1–1.5 gwei tips, which Polygon PoS rejects as underpriced (its minimum
priority fee is 25 gwei), so every tip here is floored at `min_tip_wei` (LOYALTY_MIN_PRIORITY_FEE_GWEI).
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from web3.types import RPCEndpoint

from backend.adapters.chain.client import ChainClient

log = logging.getLogger("loyalty.relayer.fees")
GWEI = 10**9
# Ethereum's base fee rises at most 1/8 per block (EIP-1559 BaseFeeChangeDenominator = 8).
# NOTE: Polygon PoS uses a denominator of 64 since the Delhi fork (≤ ~1.56 % per block), so k blocks of 12.5 %
# over-provision there (3 blocks ≈ 42 % ≈ 23 Polygon blocks); that is deliberate: maxFee is only a ceiling
# (the tx pays base fee + tip), and the headroom keeps a tx minable through a burst without a replacement.
MAX_RISE_NUM, MAX_RISE_DEN = 9, 8


def gwei(wei: int) -> str:
    """Human gwei for logs and reasons, without floats."""
    return f"{(Decimal(wei) / GWEI).quantize(Decimal('0.01')).normalize():f}"


def bump(value: int) -> int:
    """A replacement price: old × 1.125 rounded up, and at least +10 % + 1 wei (geth/bor need both fields ≥ 110 %)."""
    return max(-(-value * MAX_RISE_NUM // MAX_RISE_DEN), value * 11 // 10 + 1)


@dataclass(frozen=True)
class FeeQuote:
    """`max_priority_fee_per_gas` None means a legacy transaction whose gasPrice is `max_fee_per_gas`."""

    max_fee_per_gas: int
    max_priority_fee_per_gas: int | None
    base_fee: int | None = None
    block_gas_limit: int | None = None  # of the latest block, read live (never hard-coded)

    @property
    def legacy(self) -> bool:
        return self.max_priority_fee_per_gas is None

    def tx_fields(self) -> dict[str, int]:
        if self.max_priority_fee_per_gas is None:
            return {"gasPrice": self.max_fee_per_gas}
        return {"maxFeePerGas": self.max_fee_per_gas, "maxPriorityFeePerGas": self.max_priority_fee_per_gas}

    def replacement(self, fresh: FeeQuote) -> FeeQuote:
        """Fees for a replacement of a tx priced at `self`: each field max(bumped old, fresh quote)."""
        if self.max_priority_fee_per_gas is None or fresh.max_priority_fee_per_gas is None:
            return FeeQuote(max(bump(self.max_fee_per_gas), fresh.max_fee_per_gas), None, fresh.base_fee)
        tip = max(bump(self.max_priority_fee_per_gas), fresh.max_priority_fee_per_gas)
        max_fee = max(bump(self.max_fee_per_gas), fresh.max_fee_per_gas, tip)
        return FeeQuote(max_fee, tip, fresh.base_fee)

    def describe(self) -> str:
        if self.max_priority_fee_per_gas is None:
            return f"gasPrice {gwei(self.max_fee_per_gas)} gwei"
        return f"maxFee {gwei(self.max_fee_per_gas)} gwei, tip {gwei(self.max_priority_fee_per_gas)} gwei"


class FeeOracle:
    def __init__(
        self,
        chain: ChainClient,
        *,
        min_tip_wei: int = 0,
        history_blocks: int = 10,
        percentile: float = 50.0,
        headroom_blocks: int = 3,
    ) -> None:
        self.chain = chain
        self.min_tip_wei = min_tip_wei
        self.history_blocks = history_blocks
        self.percentile = percentile
        self.headroom_blocks = headroom_blocks

    def quote(self) -> FeeQuote:
        latest: Any = self.chain.w3.eth.get_block("latest")
        base_fee = latest.get("baseFeePerGas")
        gas_limit = int(latest["gasLimit"])
        if base_fee is None:  # no EIP-1559 on this chain: legacy gasPrice, still floored at the minimum tip
            return FeeQuote(max(int(self.chain.w3.eth.gas_price), self.min_tip_wei), None, None, gas_limit)
        base_fee = int(base_fee)
        tip = self.tip()
        projected = base_fee * MAX_RISE_NUM**self.headroom_blocks
        projected = -(-projected // MAX_RISE_DEN**self.headroom_blocks)  # rounded up
        return FeeQuote(projected + tip, tip, base_fee, gas_limit)

    def required(self) -> FeeQuote:
        """The least a pending transaction must pay to be minable now: the next block's highest possible base fee
        (one block of the maximum rise) + the current tip. Below it, a fee replacement is worth paying for."""
        latest: Any = self.chain.w3.eth.get_block("latest")
        base_fee = latest.get("baseFeePerGas")
        if base_fee is None:
            return FeeQuote(max(int(self.chain.w3.eth.gas_price), self.min_tip_wei), None)
        tip = self.tip()
        return FeeQuote(-(-int(base_fee) * MAX_RISE_NUM // MAX_RISE_DEN) + tip, tip, int(base_fee))

    def tip(self) -> int:
        """max(percentile reward of recent non-empty blocks, the node's suggestion, the chain minimum)."""
        candidates = [self.min_tip_wei]
        try:
            history: Any = self.chain.w3.eth.fee_history(self.history_blocks, "latest", [self.percentile])
            rewards = [
                int(reward[0])
                for reward, used in zip(history.get("reward") or [], history.get("gasUsedRatio") or [], strict=False)
                if reward and used > 0  # empty blocks report 0 and would drag the median down
            ]
            if rewards:
                candidates.append(int(statistics.median(rewards)))
        except Exception as exc:  # some nodes (and eth-tester) lack eth_feeHistory
            log.debug("eth_feeHistory unavailable: %s", exc)
        try:
            suggested = self.chain.w3.manager.request_blocking(RPCEndpoint("eth_maxPriorityFeePerGas"), [])
            candidates.append(int(suggested, 16) if isinstance(suggested, str) else int(suggested))
        except Exception as exc:
            log.debug("eth_maxPriorityFeePerGas unavailable: %s", exc)
        return max(candidates)


def cap_reason(
    quote: FeeQuote,
    gas_limit: int,
    *,
    max_fee_per_tx_wei: int,
    max_spend_per_hour_wei: int,
    spent_last_hour_wei: int,
    in_flight_wei: int,
    max_fee_per_gas_wei: int = 0,
) -> str | None:
    """Why a transaction at `quote` must wait (spend caps; 0 = no cap), or None when it may go."""
    worst_case = quote.max_fee_per_gas * gas_limit
    if max_fee_per_gas_wei and quote.max_fee_per_gas > max_fee_per_gas_wei:
        return (
            f"fees above cap: maxFeePerGas {gwei(quote.max_fee_per_gas)} gwei > cap {gwei(max_fee_per_gas_wei)}"
            " gwei (LOYALTY_MAX_FEE_PER_GAS_WEI)"
        )
    if max_fee_per_tx_wei and worst_case > max_fee_per_tx_wei:
        return (
            f"fees above cap: quote {gwei(quote.max_fee_per_gas)} gwei > cap {gwei(max_fee_per_tx_wei // gas_limit)}"
            f" gwei (LOYALTY_MAX_FEE_PER_TX_WEI {max_fee_per_tx_wei} for {gas_limit} gas)"
        )
    if max_spend_per_hour_wei and spent_last_hour_wei + in_flight_wei + worst_case > max_spend_per_hour_wei:
        return (
            f"fees above cap: hourly spend {gwei(spent_last_hour_wei + in_flight_wei + worst_case)} gwei"
            f" (paid {gwei(spent_last_hour_wei)}, in flight {gwei(in_flight_wei)}, this {gwei(worst_case)})"
            f" > cap {gwei(max_spend_per_hour_wei)} gwei (LOYALTY_MAX_SPEND_PER_HOUR_WEI)"
        )
    return None
