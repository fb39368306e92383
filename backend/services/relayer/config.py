"""The relayer's limits and confirmation policy, read from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from backend.config import Settings


@dataclass(frozen=True)
class RelayerConfig:
    confirmations: int = 3
    max_in_flight_per_wallet: int = 4
    replace_after_blocks: int = 3
    max_fee_per_tx_wei: int = 0  # 0 = no cap (the settings give the production defaults)
    max_fee_per_gas_wei: int = 0  # 0 = no cap
    max_spend_per_hour_wei: int = 0  # 0 = no cap
    use_finalized_tag: bool = False
    send_error_attempts: int = 5  # unrecognised send errors in a row (one attempt) before the intent is cancelled
    gas_estimate_headroom: float = 1.1  # signed gas limit = eth_estimateGas × this, within the intent's gas limit
    tx_gas_cap: int = 33_554_432  # 2^25: Polygon PoS refuses transactions above it

    @classmethod
    def from_settings(cls, settings: Settings) -> RelayerConfig:
        return cls(
            confirmations=settings.confirmations,
            max_in_flight_per_wallet=settings.max_in_flight_per_wallet,
            replace_after_blocks=settings.replace_after_blocks,
            max_fee_per_tx_wei=settings.max_fee_per_tx_wei,
            max_fee_per_gas_wei=settings.max_fee_per_gas_wei,
            max_spend_per_hour_wei=settings.max_spend_per_hour_wei,
            use_finalized_tag=settings.use_finalized_tag,
            send_error_attempts=settings.send_error_attempts,
            gas_estimate_headroom=settings.gas_estimate_headroom,
            tx_gas_cap=settings.tx_gas_cap,
        )
