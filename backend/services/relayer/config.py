"""The relayer's limits and confirmation policy, read from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from backend.config import Settings


@dataclass(frozen=True)
class RelayerConfig:
    confirmations: int = 3
    max_in_flight_per_wallet: int = 8  # sent, not mined
    redemption_reserved_lanes: int = 1  # of those, kept for redemptions
    max_unfinal_per_wallet: int = 64  # mined, not final
    replace_after_blocks: int = 3
    max_fee_per_tx_wei: int = 0  # 0 = no cap
    max_spend_per_hour_wei: int = 0  # 0 = no cap
    use_finalized_tag: bool = True
    tx_gas_cap: int = 33_554_432  # 2^25: Polygon PoS refuses transactions above it

    @classmethod
    def from_settings(cls, settings: Settings) -> RelayerConfig:
        return cls(
            confirmations=settings.confirmations,
            max_in_flight_per_wallet=settings.max_in_flight_per_wallet,
            redemption_reserved_lanes=min(settings.redemption_reserved_lanes, settings.max_in_flight_per_wallet - 1),
            max_unfinal_per_wallet=settings.max_unfinal_per_wallet,
            replace_after_blocks=settings.replace_after_blocks,
            max_fee_per_tx_wei=settings.max_fee_per_tx_wei,
            max_spend_per_hour_wei=settings.max_spend_per_hour_wei,
            use_finalized_tag=settings.use_finalized_tag,
            tx_gas_cap=settings.tx_gas_cap,
        )
